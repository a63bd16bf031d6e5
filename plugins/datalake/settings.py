"""Names that tie the code to its deployment: connection ids, Variables and their defaults."""

AWS_CONN_ID = "aws_default"
TMDB_CONN_ID = "tmdb_default"

BUCKET_VARIABLE = "datalake_bucket"
DEFAULT_BUCKET = "datalake"

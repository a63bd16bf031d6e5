"""Names that tie the code to its deployment: DAG ids, connection ids, Variables and their defaults, and
environment variables."""

from __future__ import annotations

RAW_DAG_ID = "datalake_raw_ingest"
"""The raw zone's DAG: its manifest is named after it, and the report reads that manifest."""

REPORT_DAG_ID = "anime_top10_report"
"""The refined zone's report DAG, scheduled on the raw DAG's manifests."""

AWS_CONN_ID = "aws_default"
TMDB_CONN_ID = "tmdb_default"

BUCKET_VARIABLE = "datalake_bucket"
DEFAULT_BUCKET = "datalake"

RATE_LIMIT_REDIS_URL_ENV = "DATALAKE_RATE_LIMIT_REDIS_URL"
"""Where a cluster keeps its one TMDB budget when the connection's extra names no Redis."""

RATE_LIMIT_DIR_ENV = "DATALAKE_RATE_LIMIT_DIR"
"""The folder of the host-local TMDB budget's state files; unset, the system temp folder, which every task
process of a deployed worker shares."""

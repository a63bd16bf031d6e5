"""``LocalFilesystemToS3Operator``, with the dataset's contract checked first and the landing verified after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.transfers.local_to_s3 import LocalFilesystemToS3Operator
from airflow.sdk.exceptions import AirflowFailException
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from datalake.csv_contract import CsvContractError, check_csv
from datalake.datasets import DATASETS
from datalake.landing import landing_mismatch
from datalake.layout import utc_timestamp
from datalake.storage import LakeWriteError, StoredObject, describe_s3_failure


class CheckedLocalFilesystemToS3Operator(LocalFilesystemToS3Operator):
    """Lands one dataset's CSV unchanged, only if it meets its contract, and proves it landed whole.

    The SHA-256 and row count travel as object metadata and, returned, into XCom for the manifest.
    A file that breaks its contract fails the task at once (retrying cannot fix it) and nothing is
    written; an object that does not match the file after upload is deleted before failing.
    """

    def __init__(self, *, dataset: str, **kwargs: Any):
        super().__init__(replace=True, **kwargs)
        self.dataset = next(candidate for candidate in DATASETS if candidate.name == dataset)

    def execute(self, context: Any) -> dict[str, Any]:
        path = Path(self.filename)
        try:
            facts = check_csv(path, self.dataset)
        except CsvContractError as error:
            raise AirflowFailException(f"Nothing landed: {error}") from None
        self.log.info("%s meets the %s contract: %d rows, sha256 %s", path, self.dataset.name, facts.rows, facts.sha256)
        metadata = {"sha256": facts.sha256, "rows": str(facts.rows)}
        extra_args = {"Metadata": metadata, "ContentType": "text/csv; charset=utf-8", "ChecksumAlgorithm": "SHA256"}
        hook = S3Hook(aws_conn_id=self.aws_conn_id, verify=self.verify, extra_args=extra_args)
        bucket, key = hook.get_s3_bucket_key(self.dest_bucket, self.dest_key, "dest_bucket", "dest_key")
        client = hook.get_conn()
        try:
            hook.load_file(path, key, bucket, replace=True, encrypt=self.encrypt, acl_policy=self.acl_policy)
            head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except (BotoCoreError, ClientError, S3UploadFailedError) as error:
            raise LakeWriteError(describe_s3_failure(error, client, bucket, key)) from None
        if problem := landing_mismatch(head, path, facts):
            client.delete_object(Bucket=bucket, Key=key)
            raise LakeWriteError(f"s3://{bucket}/{key} did not land whole ({problem}); it was deleted.")
        self.log.info("Verified s3://%s/%s: %d bytes", bucket, key, facts.bytes)
        return StoredObject(
            key, facts.bytes, facts.sha256, str(path), facts.rows, utc_timestamp(path.stat().st_mtime)
        ).as_dict()

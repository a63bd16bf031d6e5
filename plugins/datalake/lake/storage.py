"""Writing to the lake through any boto3 S3 client (Airflow's S3Hook or the Lambda's)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from datalake.errors import LakeWriteError


@dataclass(frozen=True)
class StoredObject:
    """One object of a run, as the manifest records it."""

    key: str
    bytes: int
    sha256: str
    source: str
    """Where the bytes came from: a file path, or a request URL without credential."""
    records: int
    """CSV data rows, or JSON records (results of a page; 1 for a detail body)."""
    fetched_at: str
    """ISO-8601 UTC: when the source answered (a file: its modification time)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_s3_failure(error: Exception, client: Any, bucket: str, key: str) -> str:
    """A message for a failed S3 call that a user can act on."""
    where = f"s3://{bucket}/{key} at {client.meta.endpoint_url}"
    if isinstance(error, EndpointConnectionError):
        return f"Could not write {where}: the S3 endpoint is unreachable."
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
    else:  # boto3's S3UploadFailedError has the code only in its text: "An error occurred (Code) when ..."
        found = re.search(r"\((\w+)\) when calling", str(error))
        code = found.group(1) if found else None
    if code == "NoSuchBucket":
        return f"Could not write {where}: bucket '{bucket}' does not exist."
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return (
            f"Could not write {where}: access was refused ({code}); check the AWS connection's credentials."
        )
    return f"Could not write {where}: {code or type(error).__name__}."


class S3ObjectStore:
    """One bucket of the lake. A PUT is atomic: an object is visible whole or not at all."""

    def __init__(self, client: Any, bucket: str):
        self.client = client
        self.bucket = bucket

    def put(
        self,
        key: str,
        body: bytes,
        *,
        source: str,
        records: int,
        fetched_at: str,
        content_type: str = "application/json",
    ) -> StoredObject:
        stored = StoredObject(key, len(body), hashlib.sha256(body).hexdigest(), source, records, fetched_at)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={"sha256": stored.sha256, "records": str(records)},
            )
        except (BotoCoreError, ClientError) as error:
            raise LakeWriteError(describe_s3_failure(error, self.client, self.bucket, key)) from None
        return stored

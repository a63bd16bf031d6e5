"""Writing to the lake through any boto3 S3 client (Airflow's S3Hook or the Lambda's), every write proven.

Each PUT carries the MD5 of its bytes as ``Content-MD5``, so a store that checks it refuses a body corrupted
on the way (``BadDigest``); and the ETag of its answer is compared with that MD5, so a store that keeps
whatever reaches it is caught too. A write that is not proven is deleted and sent again, a few times, then
fails as ``CorruptWrite``: transient, so the task's retries try again. Reading back goes through
``read_object``, which names the object whose bytes fail botocore's checksum instead of a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, FlexibleChecksumError

from datalake.errors import CorruptRead, CorruptWrite, LakeWriteError

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3
"""How many times one write is sent before its corruption fails the task (whose retries then start)."""
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32}(?:-\d+)?)"?')


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


def stored_mismatch(
    response: Mapping[str, Any], etag: str, size: int, head: Callable[[], Mapping[str, Any]]
) -> str | None:
    """What differs between the object a write's ``response`` describes and the bytes sent, or None.

    An MD5 ETag (``etag`` is the one the bytes sent must have) proves the content, as it does unless the
    object is encrypted with KMS or a customer key. Otherwise ``head()`` is asked, and the size compared;
    the store's own check of ``Content-MD5`` proved the content then.
    """
    found = _MD5_ETAG.fullmatch(response.get("ETag", ""))
    encrypted = (
        str(response.get("ServerSideEncryption", "")).startswith("aws:kms")
        or "SSECustomerAlgorithm" in response
    )
    if found and not encrypted:
        return (
            None if found.group(1) == etag else f"ETag {found.group(1)}, expected {etag} for the bytes sent"
        )
    found_size = head().get("ContentLength")
    return None if found_size == size else f"size {found_size} bytes, expected {size}"


def error_code(error: Exception) -> str | None:
    """The S3 error code of a failed call, if it has one."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    # boto3's S3UploadFailedError has the code only in its text: "An error occurred (Code) when ..."
    found = re.search(r"\((\w+)\) when calling", str(error))
    return found.group(1) if found else None


def describe_s3_failure(error: Exception, client: Any, bucket: str, key: str) -> str:
    """A message for a failed S3 call that a user can act on."""
    where = f"s3://{bucket}/{key} at {client.meta.endpoint_url}"
    if isinstance(error, EndpointConnectionError):
        return f"Could not write {where}: the S3 endpoint is unreachable."
    code = error_code(error)
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
        md5 = hashlib.md5(body, usedforsecurity=False)
        problem = ""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                response = self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    ContentMD5=base64.b64encode(md5.digest()).decode(),
                    Metadata={"sha256": stored.sha256, "records": str(records)},
                )
                problem = stored_mismatch(response, md5.hexdigest(), len(body), lambda: self._head(key))
                if problem:
                    self.client.delete_object(Bucket=self.bucket, Key=key)
            except (BotoCoreError, ClientError) as error:
                if error_code(error) != "BadDigest":
                    raise LakeWriteError(describe_s3_failure(error, self.client, self.bucket, key)) from None
                problem = "the store refused the body as corrupted on the way (BadDigest)"
            if not problem:
                return stored
            log.warning(
                "Write %d of %d of s3://%s/%s not proven: %s.",
                attempt,
                WRITE_ATTEMPTS,
                self.bucket,
                key,
                problem,
            )
        raise CorruptWrite(
            f"s3://{self.bucket}/{key} at {self.client.meta.endpoint_url} did not land whole in "
            f"{WRITE_ATTEMPTS} attempts (last: {problem}); none of them was kept."
        )

    def _head(self, key: str) -> Mapping[str, Any]:
        return self.client.head_object(Bucket=self.bucket, Key=key)


def read_object(client: Any, bucket: str, key: str) -> bytes | None:
    """An object's bytes, or None if there is no such key; bytes that fail botocore's checksum of the object
    (the one the store gave it when it was written) raise ``CorruptRead`` naming the object."""
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except FlexibleChecksumError as error:
        raise CorruptRead(
            f"s3://{bucket}/{key} failed its checksum as it was read ({error}): the object or its transfer "
            "is corrupt"
        ) from None
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404"):
            return None
        raise

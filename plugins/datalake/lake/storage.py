"""Writing to the lake through any boto3 S3 client (Airflow's S3Hook or the Lambda's), every write proven.

Each PUT carries the MD5 of its bytes as ``Content-MD5``, so a store that checks it refuses a body corrupted
on the way (``BadDigest``); and the ETag of its answer is compared with that MD5, so a store that keeps
whatever reaches it is caught too. A write that is not proven is deleted and sent again, a few times, then
fails as ``CorruptWrite``: transient, so the task's retries try again. Reading back goes through
``read_object``, which names the object whose bytes fail botocore's checksum instead of a traceback.

Every S3 client the project builds takes ``s3_client_config``: botocore's ``standard`` retries, a bounded
number of attempts and timeouts, so a transient fault heals inside one call and an unreachable S3 fails in
a bounded time. Every failure goes through ``s3_failure``: what another try cannot heal (a refused
credential, no such bucket, another region) becomes ``LakeAccessError``, which fails the task at once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from datalake.errors import (
    CorruptRead,
    CorruptWrite,
    LakeAccessError,
    LakeReadError,
    LakeUnreachable,
    LakeWriteError,
)

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3
"""How many times one write is sent before its corruption fails the task (whose retries then start)."""
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32}(?:-\d+)?)"?')

S3_RETRIES = {"mode": "standard", "total_max_attempts": 5}
"""botocore's ``standard`` mode retries throttling (``SlowDown``), 5xx (``InternalError``), timeouts and
connections refused or reset, with jittered exponential backoff (at most 1, 2, 4, 8 s after a throttle;
50 ms doubling after anything else). Not ``adaptive``: its client-side rate limiter learns per client, and
each task builds its own client and makes a few dozen requests, so it would learn nothing before the
task ends. Five attempts: a burst of throttling a few seconds long heals inside one call."""
S3_CONNECT_TIMEOUT = 5
"""Seconds to open a connection: a loopback or in-region S3 answers in milliseconds."""
S3_READ_TIMEOUT = 30
"""Seconds any socket operation may wait for S3 (an answer, or room to send a part's next bytes)."""
S3_CLIENT_CONFIG = Config(
    retries=S3_RETRIES, connect_timeout=S3_CONNECT_TIMEOUT, read_timeout=S3_READ_TIMEOUT
)
EXPECT_CONTINUE_SECONDS = 1
"""How long botocore waits for ``100 Continue`` before it sends a PUT's body anyway."""
READ_ATTEMPTS = 3
"""How many times a read whose body is cut off is sent again before it fails (then the task retries)."""
_PERMANENT_CODES = {  # what another try is refused the same way (botocore retries none of them), and why
    "AccessDenied": "access was refused ({code}); check the AWS connection's credentials and what they "
    "may do on bucket '{bucket}'",
    "InvalidAccessKeyId": "access was refused ({code}); check the AWS connection's credentials: this "
    "endpoint knows no such access key id (the connection's login)",
    "SignatureDoesNotMatch": "access was refused ({code}); check the AWS connection's credentials: the "
    "secret key (the connection's password) does not match the access key id",
    "NoSuchBucket": "bucket '{bucket}' does not exist ({code}); check the bucket's name, the Variable "
    "'datalake_bucket'",
    "PermanentRedirect": "the bucket is in another region{region} ({code}); check the AWS connection's "
    "region_name",
}
_PERMANENT_CODES["403"] = _PERMANENT_CODES["AccessDenied"]  # the answer to a HEAD has no body, so no code
for _code in ("301", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
    _PERMANENT_CODES[_code] = _PERMANENT_CODES["PermanentRedirect"]


def s3_client_config(explicit: Config | None = None) -> Config:
    """``S3_CLIENT_CONFIG`` with ``explicit`` over it: what a user set (an Airflow connection's
    ``config_kwargs``, boto3's environment) wins, the retries key by key (their ``max_attempts`` replaces
    ours, their mode stays theirs)."""
    if explicit is None:
        return S3_CLIENT_CONFIG.merge(Config())
    merged = S3_CLIENT_CONFIG.merge(explicit)
    if explicit.retries:
        theirs = dict(explicit.retries)
        attempts_set = {"max_attempts", "total_max_attempts"} & theirs.keys()
        ours = {
            name: value for name, value in S3_RETRIES.items() if not (attempts_set and "attempts" in name)
        }
        merged = merged.merge(Config(retries={**ours, **theirs}))
    return merged


def attempts_of(config: Config) -> int:
    """How many times one call is sent under ``config`` (botocore's own reading of its retries)."""
    retries = config.retries or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    return int(retries["max_attempts"]) + 1 if "max_attempts" in retries else 3


def seconds_to_give_up(config: Config) -> float:
    """The longest one S3 call takes to fail at an endpoint that never answers: each attempt waits its
    connect timeout, then (a write with a body) botocore's 1 s for ``100 Continue``, then its read timeout;
    the waits between attempts are standard mode's for a non-throttling error (50 ms doubling)."""
    attempts = attempts_of(config)
    waits = sum(min(0.05 * 2**number, 20) for number in range(attempts - 1))
    per_attempt = float(config.connect_timeout) + EXPECT_CONTINUE_SECONDS + float(config.read_timeout)
    return attempts * per_attempt + waits


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


def _cause(error: BaseException) -> BaseException:
    """The botocore error under boto3's wrapping (``S3UploadFailedError`` keeps it as its cause)."""
    while not isinstance(error, (BotoCoreError, ClientError)) and (error.__cause__ or error.__context__):
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return error


def _unreachable(error: BaseException, client: Any) -> str | None:
    """Why S3 did not answer, or None if it did."""
    config = client.meta.config
    if isinstance(error, ReadTimeoutError):
        return f"no answer within the read timeout of {config.read_timeout} s"
    if isinstance(error, ConnectTimeoutError):
        return f"no connection within the connect timeout of {config.connect_timeout} s"
    if isinstance(error, (ConnectionClosedError, ResponseStreamingError)):
        return "the connection was closed or reset before the answer was whole"
    if isinstance(error, EndpointConnectionError):
        underlying = str(error.kwargs.get("error", ""))
        if "resolve" in underlying or "Name or service not known" in underlying:
            return "its host name does not resolve"
        if "refused" in underlying.lower():
            return "connection refused"
        return underlying or "no connection"
    return None


def s3_failure(
    error: Exception, client: Any, bucket: str, key: str, action: str = "write"
) -> LakeWriteError | LakeReadError:
    """The lake's error for a failed S3 call to ``action`` (write, read, delete) ``s3://bucket/key``: one a
    user can act on, naming the endpoint and the S3 error code, never a credential. ``LakeAccessError``
    (permanent) for what another try is refused the same way; ``LakeUnreachable`` for an S3 that did not
    answer within botocore's attempts; else a ``LakeWriteError`` (``LakeReadError`` for a read), which the
    task's retries try again."""
    cause = _cause(error)
    where = f"Could not {action} s3://{bucket}/{key} at {client.meta.endpoint_url}"
    attempts = attempts_of(client.meta.config)
    if reason := _unreachable(cause, client):
        return LakeUnreachable(
            f"{where}: the S3 endpoint is unreachable ({reason}) after {attempts} attempts."
        )
    code = error_code(cause) or error_code(error)
    if code in _PERMANENT_CODES:
        region = _bucket_region(cause)
        advice = _PERMANENT_CODES[code].format(
            code=code, bucket=bucket, region=f" ({region})" if region else ""
        )
        return LakeAccessError(f"{where}: {advice}; another try is refused the same way.")
    failed = LakeReadError if action == "read" else LakeWriteError
    return failed(f"{where}: {code or type(cause).__name__} after {attempts} attempts.")


def _bucket_region(error: BaseException) -> str | None:
    """The bucket's region, as S3 tells it when it refuses a request sent to another."""
    if not isinstance(error, ClientError):
        return None
    headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return headers.get("x-amz-bucket-region") or error.response.get("Error", {}).get("Region")


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
                    raise s3_failure(error, self.client, self.bucket, key) from None
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
    (the one the store gave it when it was written) raise ``CorruptRead`` naming the object.

    A body cut off on its way back is past botocore's retries (they end with the answer's headers), so it
    is asked for again here, ``READ_ATTEMPTS`` times, then fails as ``LakeReadError``; any other failure is
    ``s3_failure``'s."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except FlexibleChecksumError as error:
            raise CorruptRead(
                f"s3://{bucket}/{key} failed its checksum as it was read ({error}): the object or its "
                "transfer is corrupt"
            ) from None
        except (ResponseStreamingError, IncompleteReadError) as error:
            problem = error
            log.warning(
                "Read %d of %d of s3://%s/%s cut off: %s.", attempt, READ_ATTEMPTS, bucket, key, error
            )
        except (BotoCoreError, ClientError) as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return None
            raise s3_failure(error, client, bucket, key, "read") from None
    raise LakeReadError(
        f"s3://{bucket}/{key} at {client.meta.endpoint_url} was cut off on its way back on {READ_ATTEMPTS} "
        f"attempts (last: {problem})."
    )

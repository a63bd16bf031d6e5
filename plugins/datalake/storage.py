"""Writing raw bodies to the lake through any boto3 S3 client (Airflow's S3Hook or the Lambda's)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class StoredObject:
    key: str
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class S3ObjectStore:
    """One bucket of the lake. A PUT is atomic: an object is visible whole or not at all."""

    def __init__(self, client: Any, bucket: str):
        self.client = client
        self.bucket = bucket

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> StoredObject:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return StoredObject(key=key, bytes=len(body), sha256=hashlib.sha256(body).hexdigest())

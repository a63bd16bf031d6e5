"""Writing to the lake: atomic PUTs, and S3 failures explained without credentials."""

from __future__ import annotations

import hashlib

import pytest

from datalake.errors import LakeWriteError
from datalake.lake.storage import S3ObjectStore
from local_stack.services import LocalS3, free_port, rclone_s3
from tests.conftest import TEST_BUCKET

ENTRY = {"source": "test", "records": 1, "fetched_at": "2026-11-30T00:00:00.000+00:00"}


def test_put_returns_what_the_manifest_records(local_s3, lake_root):
    stored = S3ObjectStore(local_s3.client(), TEST_BUCKET).put("t/a.json", b'{"a": 1}', **ENTRY)
    assert (stored.key, stored.bytes, stored.sha256) == (
        "t/a.json",
        8,
        hashlib.sha256(b'{"a": 1}').hexdigest(),
    )
    assert (lake_root / TEST_BUCKET / "t" / "a.json").read_bytes() == b'{"a": 1}'


def test_sha256_travels_as_object_metadata(local_s3):
    client = local_s3.client()
    stored = S3ObjectStore(client, TEST_BUCKET).put("t/b.json", b"{}", **ENTRY)
    metadata = {
        k.lower(): v for k, v in client.head_object(Bucket=TEST_BUCKET, Key="t/b.json")["Metadata"].items()
    }
    assert metadata["sha256"] == stored.sha256


def test_a_missing_bucket_is_named_with_its_endpoint(local_s3):
    with pytest.raises(LakeWriteError) as error:
        S3ObjectStore(local_s3.client(), "no-such-bucket").put("k.json", b"{}", **ENTRY)
    message = str(error.value)
    assert "bucket 'no-such-bucket' does not exist" in message and local_s3.endpoint_url in message
    assert local_s3.secret_key not in message


def test_an_unreachable_endpoint_is_named():
    down = LocalS3(f"http://127.0.0.1:{free_port()}", "key", "secret-value-xyz")
    client = down.client()
    client.meta.config.retries["max_attempts"] = 1
    with pytest.raises(
        LakeWriteError, match=f"s3://datalake/k.json at {down.endpoint_url}: the S3 endpoint is unreachable"
    ):
        S3ObjectStore(client, "datalake").put("k.json", b"{}", **ENTRY)


def test_a_restarted_storage_server_is_written_again(tmp_path):
    port = free_port()
    with rclone_s3(tmp_path / "lake", "bkt", tmp_path / "rclone.log", port=port) as s3:
        store = S3ObjectStore(s3.client(), "bkt")
        store.put("before.json", b"{}", **ENTRY)
    with pytest.raises(LakeWriteError, match="unreachable"):
        store.put("during.json", b"{}", **ENTRY)
    with rclone_s3(tmp_path / "lake", "bkt", tmp_path / "rclone.log", port=port) as restarted:
        store.client = restarted.client()
        store.put("after.json", b"{}", **ENTRY)
    assert sorted(p.name for p in (tmp_path / "lake" / "bkt").iterdir()) == ["after.json", "before.json"]

"""The manifest as the completion marker, against a real S3 server: retracted before a run overwrites its
partition, and read only with the objects it records."""

from __future__ import annotations

import re
from datetime import date

import pytest

from datalake import layout, settings
from datalake.csvs.files import SERIES
from datalake.errors import PartitionChanged, PartitionIncomplete
from datalake.lake import manifest
from datalake.lake.storage import S3ObjectStore
from tests.conftest import TEST_BUCKET

DAG_ID = settings.RAW_DAG_ID


def complete_partition(store: S3ObjectStore, day: date) -> dict:
    """One object and the manifest that records it."""
    stored = store.put(layout.csv_key(SERIES, day), b"id\ntt1\n", source="test", records=1, fetched_at="t")
    document = manifest.build_manifest(
        dag_id=DAG_ID,
        run_id="run-1",
        logical_date=None,
        day=day,
        params={},
        ranking=[],
        objects=[stored.as_dict()],
    )
    manifest.store_manifest(store, document)
    return document


@pytest.fixture
def store(local_s3) -> S3ObjectStore:
    return S3ObjectStore(local_s3.client(), TEST_BUCKET)


def test_retracting_deletes_the_manifest_and_leaves_the_partition_incomplete(store):
    day = date(2026, 2, 1)
    complete_partition(store, day)
    assert manifest.retract_manifest(store, day, DAG_ID) is True
    listing = store.client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=layout.manifest_key(day, DAG_ID))
    assert "Contents" not in listing
    with pytest.raises(PartitionIncomplete, match=f"the raw partition {day} is not complete"):
        manifest.read_manifest(store.client, TEST_BUCKET, day, DAG_ID)
    assert store.client.get_object(Bucket=TEST_BUCKET, Key=layout.csv_key(SERIES, day))["Body"].read()


def test_retracting_a_partition_without_manifest_is_a_no_op(store):
    assert manifest.retract_manifest(store, date(2026, 2, 2), DAG_ID) is False


def test_an_object_is_read_only_as_the_manifest_records_it(store):
    day = date(2026, 2, 3)
    document = complete_partition(store, day)
    key = layout.csv_key(SERIES, day)
    assert manifest.read_listed(store.client, TEST_BUCKET, document, key) == b"id\ntt1\n"
    store.client.put_object(Bucket=TEST_BUCKET, Key=key, Body=b"id\ntt22\n")
    changed = f"s3://{TEST_BUCKET}/{key} is 8 bytes with sha256"
    with pytest.raises(PartitionChanged, match=re.escape(changed)):
        manifest.read_listed(store.client, TEST_BUCKET, document, key)


def test_an_object_of_the_same_size_but_other_bytes_is_refused(store):
    day = date(2026, 2, 4)
    document = complete_partition(store, day)
    key = layout.csv_key(SERIES, day)
    store.client.put_object(Bucket=TEST_BUCKET, Key=key, Body=b"id\ntt9\n")
    with pytest.raises(PartitionChanged, match="records 7 bytes with sha256"):
        manifest.read_listed(store.client, TEST_BUCKET, document, key)


def test_an_object_the_manifest_does_not_list_is_refused(store):
    day = date(2026, 2, 5)
    document = complete_partition(store, day)
    key = layout.details_key(day, 1)
    store.put(key, b"{}", source="test", records=1, fetched_at="t")
    unlisted = f"{key} is not listed in the manifest of run run-1"
    with pytest.raises(PartitionIncomplete, match=re.escape(unlisted)):
        manifest.read_listed(store.client, TEST_BUCKET, document, key)

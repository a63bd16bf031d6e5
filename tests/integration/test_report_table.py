"""The comparison table read from its partition on the real S3 server: what it refuses, what a rerun
replaces."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import date

import polars as pl
import pytest

from datalake import layout, settings
from datalake.csvs.files import SERIES
from datalake.errors import PartitionChanged, PartitionIncomplete
from datalake.lake.storage import S3ObjectStore
from datalake.report import comparison
from datalake.report import files as report_files
from tests.conftest import TEST_BUCKET
from tests.report_samples import BODIES, MANIFEST, SERIES_CSV


def put_partition(client, bucket: str, day: date, manifest: dict, bodies: list[dict]) -> None:
    """``series.csv`` and the ``bodies`` in the lake, and a manifest recording them and every other detail of
    BODIES as they would have landed."""
    store = S3ObjectStore(client, bucket)
    at = "2026-11-27T09:00:00.000+00:00"
    objects = [store.put(layout.csv_key(SERIES, day), SERIES_CSV, source="t", records=5, fetched_at=at)]
    for body in bodies:
        key = layout.details_key(day, body["id"])
        objects.append(store.put(key, json.dumps(body).encode(), source="t", records=1, fetched_at=at))
    listed = {stored.key: stored.as_dict() for stored in objects}
    for body in BODIES[len(bodies) :]:
        encoded = json.dumps(body).encode()
        listed[layout.details_key(day, body["id"])] = {
            "key": layout.details_key(day, body["id"]),
            "bytes": len(encoded),
            "sha256": hashlib.sha256(encoded).hexdigest(),
            "fetched_at": at,
        }
    manifest_key = layout.manifest_key(day, settings.RAW_DAG_ID)
    document = {**manifest, "objects": list(listed.values())}
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(document).encode())


def test_the_report_reads_its_partition_from_s3_and_a_rerun_replaces_the_four_files(local_s3):
    client, day = local_s3.client(), date(2026, 1, 2)
    put_partition(client, TEST_BUCKET, day, {**MANIFEST, "partition": day.isoformat()}, BODIES)
    store = S3ObjectStore(client, TEST_BUCKET)
    raw = comparison.read_partition(client, TEST_BUCKET, day)
    assert [body["id"] for body in raw.details] == [10, 20, 30, 40] and raw.series_csv == SERIES_CSV
    first = report_files.write_report(store, comparison.comparison_report(raw))
    again = comparison.read_partition(client, TEST_BUCKET, day)
    second = report_files.write_report(store, comparison.comparison_report(again))
    keys = [layout.report_key(day, extension) for extension in ("parquet", "csv", "md", "html")]
    assert [stored.key for stored in first] == [stored.key for stored in second] == keys
    listed = client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=layout.report_prefix(day))["Contents"]
    assert sorted(obj["Key"] for obj in listed) == sorted(keys)
    parquet = client.get_object(Bucket=TEST_BUCKET, Key=keys[0])
    assert parquet["ContentType"] == "application/vnd.apache.parquet"
    assert pl.read_parquet(io.BytesIO(parquet["Body"].read())).height == 4


def test_a_partition_without_manifest_is_named_as_incomplete(local_s3):
    day = date(2026, 1, 3)
    with pytest.raises(
        PartitionIncomplete,
        match=re.escape(
            f"s3://{TEST_BUCKET}/{layout.manifest_key(day, settings.RAW_DAG_ID)} does not exist: "
            "the raw partition 2026-01-03 is not complete"
        ),
    ):
        comparison.read_partition(local_s3.client(), TEST_BUCKET, day)


def test_a_detail_the_manifest_lists_but_the_lake_lacks_is_named(local_s3):
    client, day = local_s3.client(), date(2026, 1, 4)
    put_partition(client, TEST_BUCKET, day, {**MANIFEST, "partition": day.isoformat()}, BODIES[:1])
    with pytest.raises(PartitionIncomplete, match=re.escape(layout.details_key(day, 20))):
        comparison.read_partition(client, TEST_BUCKET, day)


def test_an_object_overwritten_after_its_manifest_is_refused_naming_it(local_s3):
    """A failed re-run may have overwritten objects: the old manifest must not vouch for them."""
    client, day = local_s3.client(), date(2026, 1, 5)
    put_partition(client, TEST_BUCKET, day, {**MANIFEST, "partition": day.isoformat()}, BODIES)
    key = layout.details_key(day, 30)
    client.put_object(Bucket=TEST_BUCKET, Key=key, Body=json.dumps({**BODIES[2], "vote_count": 1}).encode())
    with pytest.raises(PartitionChanged, match=re.escape(f"s3://{TEST_BUCKET}/{key} is ")) as refused:
        comparison.read_partition(client, TEST_BUCKET, day)
    assert "but the manifest of run manual__2026-11-27T00:00:00+00:00 records" in str(refused.value)
    assert f"run {settings.RAW_DAG_ID} for {day} again" in str(refused.value)

"""The ranking over time read from the real S3 server: each complete partition's manifest and report,
the history written whole."""

from __future__ import annotations

import io
from datetime import date

import polars as pl

from datalake import layout, settings
from datalake.lake import manifest
from datalake.lake.storage import S3ObjectStore
from datalake.report import history
from tests.history_samples import CHECKS, DAYS, TABLES

HISTORY_BUCKET = "datalake-history-test"


def put_partition(store: S3ObjectStore, day: date, reported: pl.DataFrame | None, found: list[dict]) -> None:
    document = manifest.build_manifest(
        dag_id=settings.RAW_DAG_ID,
        run_id=f"run-{day}",
        logical_date=None,
        day=day,
        params={},
        ranking=[],
        objects=[],
    )
    manifest.store_manifest(store, {**document, "checks": found})
    if reported is not None:
        buffer = io.BytesIO()
        reported.write_parquet(buffer)
        key = layout.report_key(day, "parquet")
        store.client.put_object(Bucket=store.bucket, Key=key, Body=buffer.getvalue())


def test_the_history_is_read_from_each_complete_partitions_manifest_and_report_and_written_whole(local_s3):
    """In a bucket of its own: the history takes every complete partition of the lake."""
    client = local_s3.client()
    client.create_bucket(Bucket=HISTORY_BUCKET)
    store = S3ObjectStore(client, HISTORY_BUCKET)
    for day, reported in TABLES.items():
        put_partition(store, day, reported, CHECKS[day])
    put_partition(store, DAYS[2], None, [])
    store.client.put_object(
        Bucket=HISTORY_BUCKET,
        Key=layout.report_key(date(2026, 4, 4), "parquet"),
        Body=b"not a partition: no manifest",
    )

    built = history.read_history(store.client, HISTORY_BUCKET)
    assert built.days == DAYS[:2] and built.unreported == (DAYS[2],)
    assert built.checks == CHECKS
    assert built.table.equals(history.history_rows(TABLES))

    stored = history.write_history(store, built)
    assert [entry.key for entry in stored] == [layout.history_key("parquet"), layout.history_key("html")]
    assert [entry.key for entry in stored] == [
        "Refined/Reports/AnimeTop10/history.parquet",
        "Refined/Reports/AnimeTop10/history.html",
    ]
    parquet = store.client.get_object(Bucket=HISTORY_BUCKET, Key=layout.history_key("parquet"))["Body"].read()
    assert pl.read_parquet(io.BytesIO(parquet)).equals(built.table)
    page = store.client.get_object(Bucket=HISTORY_BUCKET, Key=layout.history_key("html"))
    assert page["ContentType"] == "text/html; charset=utf-8"

"""Every write the project makes is proven, as the CSV landing's is: a body corrupted on its way to the store,
or a store that keeps other bytes than it was sent, is caught and written again, never landed; a read whose
bytes fail their checksum names the object and the partition. The faults are injected for real, by a proxy
on loopback in front of the real S3 server (``sandbox.s3_faults``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from datalake import layout, settings
from datalake.errors import CorruptRead, CorruptWrite
from datalake.lake import manifest
from datalake.lake.storage import S3ObjectStore, read_object
from datalake.report import comparison, history
from datalake.report import files as report_files
from sandbox.s3_faults import FaultProxy, S3Fault, fault_proxy
from tests.conftest import REPO, TEST_BUCKET

ENTRY = {"source": "test", "records": 1, "fetched_at": "2026-12-04T00:00:00.000+00:00"}
BODY = json.dumps({"id": 209867, "name": "Frieren", "overview": "x" * 200}).encode()
NOT_THE_CSVS = (
    S3Fault("flip", "PutObject", key=f"{layout.TMDB_ROOT}/*"),
    S3Fault("flip", "PutObject", key=f"{layout.MANIFEST_ROOT}/*"),
    S3Fault("flip", "PutObject", key=f"{layout.REPORT_ROOT}/*"),
)
"""A byte flipped on each object's first write, for every writer but the CSV landing (whose Content-MD5 is
proven by tests/dags/test_csv_landing.py)."""


@pytest.fixture
def proxy(local_s3) -> Iterator[FaultProxy]:
    with fault_proxy(local_s3.endpoint_url) as running:
        yield running


def store_through(proxy: FaultProxy, local_s3) -> S3ObjectStore:
    return S3ObjectStore(dataclasses.replace(local_s3, endpoint_url=proxy.endpoint_url).client(), TEST_BUCKET)


def on_disk(lake_root: Path, key: str) -> bytes:
    return (lake_root / TEST_BUCKET / key).read_bytes()


def test_a_body_corrupted_on_its_way_to_the_store_is_refused_by_its_md5_and_sent_again(
    proxy, local_s3, lake_root, caplog
):
    proxy.set_rules(S3Fault("flip", "PutObject"))
    stored = store_through(proxy, local_s3).put("t/flip.json", BODY, **ENTRY)
    assert on_disk(lake_root, "t/flip.json") == BODY
    assert stored.sha256 == hashlib.sha256(BODY).hexdigest()
    assert [seen.fault for seen in proxy.seen] == ["flip", None]
    assert "Write 1 of 3 of s3://datalake-test/t/flip.json not proven" in caplog.text
    assert "(BadDigest)" in caplog.text


def test_a_store_that_keeps_other_bytes_is_caught_by_the_etag_and_written_again(proxy, local_s3, lake_root):
    proxy.set_rules(S3Fault("etag", "PutObject"))
    store_through(proxy, local_s3).put("t/etag.json", BODY, **ENTRY)
    assert on_disk(lake_root, "t/etag.json") == BODY
    assert [(seen.operation, seen.fault) for seen in proxy.seen] == [
        ("PutObject", "etag"),
        ("DeleteObject", None),
        ("PutObject", None),
    ]


@pytest.mark.parametrize("fault", ["flip", "etag"])
def test_a_write_corrupted_every_time_fails_as_transient_naming_the_object_and_lands_nothing(
    fault, proxy, local_s3, lake_root
):
    key = f"t/always-{fault}.json"
    proxy.set_rules(S3Fault(fault, "PutObject", first=None))
    with pytest.raises(CorruptWrite) as failed:
        store_through(proxy, local_s3).put(key, BODY, **ENTRY)
    assert str(failed.value).startswith(
        f"s3://{TEST_BUCKET}/{key} at {proxy.endpoint_url} did not land whole in 3 attempts (last: "
    )
    assert local_s3.secret_key not in str(failed.value)
    assert not (lake_root / TEST_BUCKET / key).exists()
    assert [seen.operation for seen in proxy.seen].count("PutObject") == 3


def test_bytes_corrupted_on_the_way_back_fail_their_checksum_naming_the_object(proxy, local_s3):
    S3ObjectStore(local_s3.client(), TEST_BUCKET).put("t/read.json", BODY, **ENTRY)
    client = store_through(proxy, local_s3).client
    proxy.set_rules(S3Fault("flip", "GetObject"))
    failing = r"^s3://datalake-test/t/read\.json failed its checksum as it was read"
    with pytest.raises(CorruptRead, match=failing):
        read_object(client, TEST_BUCKET, "t/read.json")
    assert read_object(client, TEST_BUCKET, "t/read.json") == BODY, "the next read heals it"


@pytest.fixture(scope="module")
def raw_dag_through(local_s3, tmdb) -> Iterator[tuple[Any, FaultProxy]]:
    """The raw DAG on a fresh metadata DB, its S3 connection going through the fault proxy."""
    from airflow.utils import db

    db.initdb()
    with fault_proxy(local_s3.endpoint_url) as running, pytest.MonkeyPatch.context() as patch:
        proxied = dataclasses.replace(local_s3, endpoint_url=running.endpoint_url)
        patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", proxied.airflow_connection())
        patch.setenv("AIRFLOW_CONN_TMDB_DEFAULT", tmdb.airflow_connection())
        patch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", TEST_BUCKET)
        patch.delenv("AIRFLOW_VAR_LAMBDA_FUNCTION_NAME", raising=False)
        yield DagBag(dag_folder=str(REPO / "dags")).dags[settings.RAW_DAG_ID], running


def test_a_run_whose_every_first_write_is_corrupted_lands_a_partition_whose_manifest_proves_each_byte(
    raw_dag_through, local_s3, lake_root
):
    dag, proxy = raw_dag_through
    day = date(2026, 12, 1)
    proxy.set_rules(*NOT_THE_CSVS)
    dag_run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))
    assert dag_run.state == "success"

    document = manifest.read_manifest(local_s3.client(), TEST_BUCKET, day, settings.RAW_DAG_ID)
    tmdb_keys = [entry["key"] for entry in document["objects"] if entry["key"].startswith(layout.TMDB_ROOT)]
    assert len(tmdb_keys) >= 11, "the discover page and the details of the top 10"
    for entry in document["objects"]:
        assert hashlib.sha256(on_disk(lake_root, entry["key"])).hexdigest() == entry["sha256"], entry["key"]
    flipped = {seen.key for seen in proxy.seen if seen.fault == "flip"}
    assert flipped == {*tmdb_keys, layout.manifest_key(day, settings.RAW_DAG_ID)}

    # The report's writers, over the same proxy: each of its files and the history lands as rendered.
    store = store_through(proxy, local_s3)
    built = comparison.comparison_report(comparison.read_partition(store.client, TEST_BUCKET, day))
    written = report_files.write_report(store, built)
    written += history.write_history(store, history.read_history(store.client, TEST_BUCKET))
    assert {entry.key for entry in written} <= {seen.key for seen in proxy.seen if seen.fault == "flip"}
    for entry in written:
        assert hashlib.sha256(on_disk(lake_root, entry.key)).hexdigest() == entry.sha256, entry.key

    # A reader meeting bytes that fail their checksum names the object and the partition.
    details = layout.details_key(day, document["ranking"][0]["id"])
    proxy.set_rules(S3Fault("flip", "GetObject", key=details))
    with pytest.raises(CorruptRead) as failed:
        comparison.read_partition(store.client, TEST_BUCKET, day)
    assert str(failed.value).startswith(f"s3://{TEST_BUCKET}/{details} failed its checksum as it was read")
    assert f"the raw partition {day} cannot be read" in str(failed.value)

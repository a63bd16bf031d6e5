"""Whole runs of the raw DAG (``dag.test()``, in this process) on the real S3 server and the TMDB sandbox.

What these prove is about the partition as a whole: when its manifest may be trusted, and what a run
that must not start leaves behind (nothing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowFailException

from datalake import layout, run_params, settings
from datalake.airflow.operators import LambdaParityOperator
from datalake.csvs.files import MOVIES
from datalake.errors import PartitionIncomplete
from datalake.report import comparison
from tests.conftest import REPO, TEST_BUCKET

DAG_ID = settings.RAW_DAG_ID


@pytest.fixture(scope="module")
def dag(local_s3, tmdb) -> Iterator[Any]:
    """The raw DAG on a fresh metadata DB, its connections and Variables pointing at the test services."""
    from airflow.utils import db

    db.initdb()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", local_s3.airflow_connection())
        patch.setenv("AIRFLOW_CONN_TMDB_DEFAULT", tmdb.airflow_connection())
        patch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", TEST_BUCKET)
        patch.delenv("AIRFLOW_VAR_LAMBDA_FUNCTION_NAME", raising=False)
        yield DagBag(dag_folder=str(REPO / "dags")).dags[DAG_ID]


def run(dag, day: date, conf: dict | None = None) -> tuple[str, dict[str, str]]:
    """One run for ``day``: its state and each task's."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    dag_run = dag.test(logical_date=midnight, run_conf=conf or {})
    return dag_run.state, {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def partitioned_run(dag, day: date, logical_date: datetime, monkeypatch) -> Any:
    """``dag.test()`` of a run whose partition key is ``day``, as the scheduler, a backfill or a trigger
    creates it: ``dag.test`` takes no partition key, so the run it creates is given one before it starts.
    The report DAG is unpaused then (``dag.test`` has just stored it), so that the manifest's event queues it.
    """
    from airflow.models import dagrun
    from airflow.models.dag import DagModel
    from sqlalchemy import update

    create = dagrun.get_or_create_dagrun

    def with_partition_key(**arguments):
        created = create(**arguments)
        created.partition_key = layout.partition_key(day)
        session = arguments["session"]
        report = update(DagModel).where(DagModel.dag_id == settings.REPORT_DAG_ID)
        session.execute(report.values(is_paused=False))
        session.commit()
        return created

    monkeypatch.setattr(dagrun, "get_or_create_dagrun", with_partition_key)
    return dag.test(logical_date=logical_date)


def partition_objects(client, day: date) -> dict[str, bytes]:
    """Every object of the day's partition, in any root."""
    keys = [obj["Key"] for obj in client.list_objects_v2(Bucket=TEST_BUCKET).get("Contents", [])]
    return {
        key: client.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read()
        for key in keys
        if f"/{layout.partition_path(day)}/" in key
    }


def parity_check(day: date) -> str:
    """The parity task of a run for ``day``, as the DAG configures it (it reads the lake before invoking)."""
    operator = LambdaParityOperator(
        task_id="invoke_lambda_parity", function_name="tmdb_ingest", bucket=TEST_BUCKET
    )
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    dag_run = SimpleNamespace(dag_id=DAG_ID, partition_key=None, logical_date=midnight, run_after=midnight)
    return operator.execute({"params": run_params.RUN_DEFAULTS, "dag_run": dag_run})


def test_a_failed_rerun_retracts_the_manifest_so_readers_refuse_the_partition(
    dag, local_s3, tmp_path, monkeypatch
):
    day = date(2026, 11, 27)
    client = local_s3.client()
    manifest_key, page_key = layout.manifest_key(day, DAG_ID), layout.discover_key(day, 1)
    assert run(dag, day)[0] == "success"
    complete = partition_objects(client, day)
    old_manifest = complete[manifest_key]
    assert comparison.read_partition(client, TEST_BUCKET, day).manifest["run_id"]

    with_bom = tmp_path / "movies.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + (REPO / "include" / "data" / MOVIES.filename).read_bytes())
    monkeypatch.setenv(f"AIRFLOW_VAR_{MOVIES.variable.upper()}", str(with_bom))
    state, tasks = run(dag, day, {"min_vote_count": 1000})
    assert state == "failed"
    assert tasks["open_partition"] == "success" and tasks["land_movies_csv"] == "failed"
    assert tasks["write_manifest"] == "upstream_failed"
    after = partition_objects(client, day)
    assert after[page_key] != complete[page_key], "the re-run overwrote TMDB objects"
    assert manifest_key not in after, "the old manifest would vouch for objects it does not describe"
    with pytest.raises(PartitionIncomplete, match=f"the raw partition {day} is not complete"):
        comparison.read_partition(client, TEST_BUCKET, day)
    with pytest.raises(AirflowFailException, match=f"the raw partition {day} is not complete"):
        parity_check(day)

    # Had the old manifest stayed (as before open_partition), no reader would use it: its digest for the page
    # no longer matches the page.
    recorded = {entry["key"]: entry for entry in json.loads(old_manifest)["objects"]}
    assert recorded[page_key]["sha256"] != hashlib.sha256(after[page_key]).hexdigest()
    client.put_object(Bucket=TEST_BUCKET, Key=manifest_key, Body=old_manifest)
    changed = f"s3://{TEST_BUCKET}/{page_key} is {len(after[page_key])} bytes"
    with pytest.raises(AirflowFailException, match=changed):
        parity_check(day)

    monkeypatch.delenv(f"AIRFLOW_VAR_{MOVIES.variable.upper()}")
    assert run(dag, day)[0] == "success", "a later complete run replaces the partition"
    assert json.loads(partition_objects(client, day)[manifest_key])["params"]["min_vote_count"] == 200
    assert comparison.read_partition(client, TEST_BUCKET, day).manifest["ranking"]


def test_unknown_parameters_fail_the_first_task_at_once_and_land_nothing(dag, local_s3, capfd):
    day = date(2026, 11, 28)
    state, tasks = run(dag, day, {"topn": 5, "bogus": "x"})
    assert state == "failed"
    assert tasks.pop("open_partition") == "failed"
    assert set(tasks.values()) == {"upstream_failed"}
    assert "Unknown parameter(s) 'topn' (did you mean 'top_n'?), 'bogus'" in capfd.readouterr().out
    assert partition_objects(local_s3.client(), day) == {}


def test_each_mapped_details_task_is_labelled_with_its_series_id(dag, local_s3):
    day = date(2026, 11, 26)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    dag_run = dag.test(logical_date=midnight)
    objects = partition_objects(local_s3.client(), day)
    ranking = json.loads(objects[layout.manifest_key(day, DAG_ID)])["ranking"]
    labels = sorted(
        ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == "fetch_series_details"
    )
    assert ranking and labels == sorted(str(series["id"]) for series in ranking)


def test_a_partitioned_run_lands_under_its_key_and_its_events_carry_it_and_queue_the_report(
    dag, local_s3, monkeypatch
):
    from airflow.models.asset import AssetEvent, AssetModel, AssetPartitionDagRun
    from airflow.settings import Session
    from sqlalchemy import select

    day, logical = date(2026, 11, 24), datetime(2026, 10, 1, tzinfo=UTC)
    dag_run = partitioned_run(dag, day, logical, monkeypatch)
    assert (dag_run.state, dag_run.partition_key) == ("success", "2026-11-24")
    client = local_s3.client()
    assert layout.manifest_key(day, DAG_ID) in partition_objects(client, day)
    assert partition_objects(client, logical.date()) == {}, "the key, not the logical date, is the day"

    with Session() as session:
        events = session.execute(
            select(AssetModel.name, AssetEvent.partition_key, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == dag_run.run_id)
        ).all()
        queued = session.scalars(
            select(AssetPartitionDagRun.partition_key).where(
                AssetPartitionDagRun.target_dag_id == settings.REPORT_DAG_ID
            )
        ).all()
    assert {name for name, _, _ in events} == {
        "datalake_raw_csv_movies",
        "datalake_raw_csv_series",
        "datalake_raw_tmdb",
        "datalake_raw_manifests",
    }
    assert {partition_key for _, partition_key, _ in events} == {"2026-11-24"}
    assert {extra["bucket"] for _, _, extra in events} == {TEST_BUCKET}
    landed = {entry["key"]: entry for _, _, extra in events for entry in extra["objects"]}
    assert set(landed) == set(partition_objects(client, day))
    manifest = partition_objects(client, day)[layout.manifest_key(day, DAG_ID)]
    entry = landed[layout.manifest_key(day, DAG_ID)]
    assert (entry["bytes"], entry["sha256"]) == (len(manifest), hashlib.sha256(manifest).hexdigest())
    assert "2026-11-24" in queued, "the report is queued for the partition the manifest's event names"

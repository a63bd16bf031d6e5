"""Day-over-day checks in whole runs of the raw DAG (``dag.test()``): against an earlier partition whose data
differ, recorded in the manifest and its asset event; with ``strict_checks`` the partition stays incomplete.

The earlier partition is a real run whose manifest is then changed as a day with other data would have
left it: twice the rows of ``series.csv``, and another series in place of the tenth.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from datalake import layout, manifest
from datalake.csv_files import SERIES
from tests.conftest import TEST_BUCKET
from tests.dags import test_dag_runs
from tests.dags.test_dag_runs import DAG_ID, run

dag = test_dag_runs.dag
"""The raw DAG on the test services, as the whole-run tests set it up."""

GONE = {"id": 999_999, "name": "Gone Tomorrow", "vote_average": 9.9, "vote_count": 5000}


def doctor_earlier_partition(client, day: date) -> dict:
    """The day's manifest as if its data had differed: its ``series.csv`` twice as long, its tenth series
    another; returns the series it displaced (which will "enter" the next day)."""
    key = layout.manifest_key(day, DAG_ID)
    document = json.loads(client.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read())
    series_key = layout.csv_key(SERIES, day)
    for entry in document["objects"]:
        if entry["key"] == series_key:
            entry["records"] *= 2
    displaced = document["ranking"][-1]
    document["ranking"][-1] = {**GONE, "rank": displaced["rank"]}
    client.put_object(Bucket=TEST_BUCKET, Key=key, Body=json.dumps(document).encode())
    return displaced


def manifest_event_checks(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        (extra,) = session.query(AssetEvent.extra).filter(
            AssetEvent.source_run_id == run_id, AssetEvent.source_task_id == "write_manifest"
        ).one()
    return extra["checks"]


def test_a_series_leaving_the_top_10_and_a_row_count_drop_warn_in_the_manifest_and_its_event(dag, local_s3):
    client = local_s3.client()
    earlier, day = date(2026, 6, 10), date(2026, 6, 11)
    assert run(dag, earlier)[0] == "success"
    displaced = doctor_earlier_partition(client, earlier)

    midnight_run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))
    assert midnight_run.state == "success", "without strict_checks, warnings do not fail the run"
    recorded = manifest.read_manifest(client, TEST_BUCKET, day, DAG_ID)["checks"]
    warned = {check["name"]: check for check in recorded if check["level"] != "pass"}
    assert set(warned) == {"series.csv rows", "TMDB top N left", "TMDB top N entered"}
    assert warned["TMDB top N left"]["observed"] == "1: 999999 Gone Tomorrow"
    assert warned["TMDB top N entered"]["observed"] == f"1: {displaced['id']} {displaced['name']}"
    assert warned["series.csv rows"]["observed"].endswith("rows (-50.0%)")
    assert {check["compared_with"] for check in recorded} == {earlier.isoformat()}
    assert manifest_event_checks(midnight_run.run_id) == recorded


def test_strict_checks_fail_the_run_naming_each_check_and_leave_the_partition_incomplete(
    dag, local_s3, capfd
):
    client = local_s3.client()
    earlier, day = date(2026, 7, 1), date(2026, 7, 2)
    assert run(dag, earlier)[0] == "success"
    doctor_earlier_partition(client, earlier)

    state, tasks = run(dag, day, {"strict_checks": True})
    assert state == "failed"
    assert tasks["write_manifest"] == "failed" and tasks["invoke_lambda_parity"] == "upstream_failed"
    output = capfd.readouterr().out
    assert "strict_checks: 3 of 9 day-over-day checks did not pass" in output
    for name in ("series.csv rows: warn", "TMDB top N left: warn", "TMDB top N entered: warn"):
        assert name in output
    with pytest.raises(manifest.PartitionIncomplete):
        manifest.read_manifest(client, TEST_BUCKET, day, DAG_ID)
    after = manifest.previous_manifest(client, TEST_BUCKET, date(2026, 7, 3), DAG_ID)
    assert after["partition"] == "2026-07-01", "the failed day is not a complete partition"

    # Named, not left out: in one process, dag.test() resolves the conf into the task's own Param objects,
    # so a later run without the key would inherit it (a separate task process never does).
    assert run(dag, day, {"strict_checks": False})[0] == "success", (
        "the same data without strict_checks completes the partition"
    )

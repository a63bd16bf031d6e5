"""Data checks in whole runs of the raw DAG (``dag.test()``): against earlier partitions whose data differ,
recorded in the manifest and its asset event; with ``strict_checks`` the partition stays incomplete.

In the first two, the earlier partition is a real run whose manifest is then changed as a day with other
data would have left it: twice the rows of ``series.csv``, and another series in place of the tenth. The
third runs three days on their own lake, each against a sandbox serving another catalog, then the report
of each day, which rebuilds the history of all three. The last gives a real run a history of eight
partitions on its own lake (one real run, seven made from it as days of a jittering extract) so that the
checks use the z-score: a 6% cut of ``series.csv`` warns, and the next, ordinary, day raises nothing.

Every run lands fresh copies of the CSVs (``fresh_csvs``): the freshness check takes a CSV's age from its
modification time, which for ``include/data`` is the checkout's.
"""

from __future__ import annotations

import io
import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from airflow.dag_processing.dagbag import DagBag

from datalake import layout, settings
from datalake.csvs.files import CSV_FILES, SERIES
from datalake.errors import PartitionIncomplete
from datalake.lake import manifest
from datalake.tmdb.ranking import DiscoverQuery
from local_stack.services import CATALOG, tmdb_sandbox
from tests.catalog import expected_top
from tests.conftest import REPO, TEST_BUCKET
from tests.integration import test_dag_runs
from tests.integration.test_dag_runs import DAG_ID, run

dag = test_dag_runs.dag
"""The raw DAG on the test services, as the whole-run tests set it up."""


@pytest.fixture(autouse=True)
def fresh_csvs(tmp_path, monkeypatch) -> None:
    """The runs land copies of the sample CSVs made now: fresh, whatever the checkout's age."""
    for csv_file in CSV_FILES:
        copy = tmp_path / "fresh" / csv_file.filename
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes((REPO / "include" / "data" / csv_file.filename).read_bytes())
        monkeypatch.setenv(f"AIRFLOW_VAR_{csv_file.variable.upper()}", str(copy))


GONE = {"id": 999_999, "name": "Gone Tomorrow", "vote_average": 9.9, "vote_count": 5000}


def doctor_earlier_partition(client, day: date) -> dict:
    """The day's manifest as if its data had differed: its ``series.csv`` twice as long (with as many nulls
    in proportion), its tenth series another; returns the series it displaced (which will "enter" the next
    day)."""
    key = layout.manifest_key(day, DAG_ID)
    document = json.loads(client.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read())
    series_key = layout.csv_key(SERIES, day)
    for entry in document["objects"]:
        if entry["key"] == series_key:
            entry["records"] *= 2
            if "profile" in entry:  # its nulls in proportion: the same null rates
                counts = entry["profile"]["null_counts"]
                entry["profile"]["null_counts"] = {column: 2 * count for column, count in counts.items()}
    displaced = document["ranking"][-1]
    document["ranking"][-1] = {**GONE, "rank": displaced["rank"]}
    client.put_object(Bucket=TEST_BUCKET, Key=key, Body=json.dumps(document).encode())
    return displaced


def manifest_event_checks(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        (extra,) = (
            session.query(AssetEvent.extra)
            .filter(AssetEvent.source_run_id == run_id, AssetEvent.source_task_id == "write_manifest")
            .one()
        )
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
    assert {check["compared_with"] for check in recorded} - {None} == {earlier.isoformat()}
    rows = next(check for check in recorded if check["name"] == "series.csv rows")
    assert rows["method"] == "percent band" and rows["partitions"] == [earlier.isoformat()]
    assert rows["expected"].startswith("history of 1 partition, fewer than 7: percent band")
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
    assert re.search(r"strict_checks: 3 of \d+ data checks did not pass", output)
    for name in ("series.csv rows: warn", "TMDB top N left: warn", "TMDB top N entered: warn"):
        assert name in output
    with pytest.raises(PartitionIncomplete):
        manifest.read_manifest(client, TEST_BUCKET, day, DAG_ID)
    (after,) = manifest.recent_manifests(client, TEST_BUCKET, date(2026, 7, 3), DAG_ID, 1)
    assert after["partition"] == "2026-07-01", "the failed day is not a complete partition"

    # Named, not left out: in one process, dag.test() resolves the conf into the task's own Param objects,
    # so a later run without the key would inherit it (a separate task process never does).
    assert run(dag, day, {"strict_checks": False})[0] == "success", (
        "the same data without strict_checks completes the partition"
    )


HISTORY_BUCKET = "datalake-day-over-day"
"""A lake of its own: the history takes every complete partition of its bucket."""


def varied_catalog(path: Path, change) -> Path:
    """The sandbox's catalog with ``change`` applied to its list of series, written to ``path``."""
    catalog = json.loads(CATALOG.read_text())
    catalog["series"] = change(catalog["series"])
    path.write_text(json.dumps(catalog))
    return path


def test_three_days_of_different_data_give_their_checks_and_one_history(dag, local_s3, tmp_path, monkeypatch):
    """Day 2: the best series is gone from TMDB and series.csv is cut to half; day 3: the file is whole
    again and the second best has a vote fewer. The report of each day rebuilds the history of all three."""
    client = local_s3.client()
    client.create_bucket(Bucket=HISTORY_BUCKET)
    monkeypatch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", HISTORY_BUCKET)
    days = [date(2026, 8, 1), date(2026, 8, 2), date(2026, 8, 3)]
    top = expected_top(DiscoverQuery())
    best, second = top[0], top[1]
    catalogs = [
        CATALOG,
        varied_catalog(tmp_path / "day2.json", lambda all_series: [s for s in all_series if s["id"] != best]),
        varied_catalog(
            tmp_path / "day3.json",
            lambda all_series: [
                {**s, "vote_count": s["vote_count"] - 1} if s["id"] == second else s for s in all_series
            ],
        ),
    ]
    lines = (REPO / "include" / "data" / SERIES.filename).read_bytes().splitlines(keepends=True)
    whole_series = tmp_path / "fresh" / SERIES.filename
    half_series = tmp_path / SERIES.filename
    half_series.write_bytes(b"".join(lines[: 1 + (len(lines) - 1) // 2]))
    report_dag = DagBag(dag_folder=str(REPO / "dags")).dags[settings.REPORT_DAG_ID]

    recorded = {}
    for number, (day, catalog) in enumerate(zip(days, catalogs, strict=True), start=1):
        with tmdb_sandbox(tmp_path / f"tmdb-{number}.log", catalog=catalog) as server:
            monkeypatch.setenv("AIRFLOW_CONN_TMDB_DEFAULT", server.airflow_connection())
            if number == 2:
                monkeypatch.setenv(f"AIRFLOW_VAR_{SERIES.variable.upper()}", str(half_series))
            else:
                monkeypatch.setenv(f"AIRFLOW_VAR_{SERIES.variable.upper()}", str(whole_series))
            assert run(dag, day, {"strict_checks": False})[0] == "success"
        recorded[day] = manifest.read_manifest(client, HISTORY_BUCKET, day, DAG_ID)["checks"]
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        report_run = report_dag.test(logical_date=midnight, run_conf={"partition": day.isoformat()})
        assert report_run.state == "success"

    def levels(day: date) -> dict[str, str]:
        return {check["name"]: check["level"] for check in recorded[day] if check["level"] != "pass"}

    assert [check["name"] for check in recorded[days[0]]] == [
        "previous partition",
        "TMDB ranking ids unique",
        "movies.csv freshness",
        "series.csv freshness",
        "TMDB freshness",
    ]
    assert recorded[days[0]][0]["observed"] == "first partition"
    moved = {"TMDB top N entered": "warn", "TMDB top N left": "warn", "TMDB rank moves": "warn"}
    assert levels(days[1]) == {"series.csv rows": "warn", "series.csv bytes": "warn", **moved}
    left = next(check for check in recorded[days[1]] if check["name"] == "TMDB top N left")
    assert left["observed"].startswith(f"1: {best} ") and left["compared_with"] == "2026-08-01"
    assert levels(days[2]) == {
        "series.csv rows": "warn",
        "series.csv bytes": "warn",
        **moved,
        "TMDB vote_count down": "fail",
    }, "the best series is back, the file whole again, and the second has a vote fewer"
    fewer = next(check for check in recorded[days[2]] if check["name"] == "TMDB vote_count down")
    assert fewer["observed"].startswith(f"1: {second} ") and fewer["compared_with"] == "2026-08-02"

    rows = pl.read_parquet(
        io.BytesIO(client.get_object(Bucket=HISTORY_BUCKET, Key=layout.history_key("parquet"))["Body"].read())
    )
    assert rows.group_by("date").len().sort("date").rows() == [(day, 10) for day in days]
    assert best in rows.filter(pl.col("date") == days[0])["tmdb_id"].to_list()
    assert best not in rows.filter(pl.col("date") == days[1])["tmdb_id"].to_list()
    page = client.get_object(Bucket=HISTORY_BUCKET, Key=layout.history_key("html"))["Body"].read().decode()
    assert re.findall(r'<img id="([\w-]+)"', page) == [
        "chart-bump",
        "chart-vote-average",
        "chart-movies",
        "chart-series",
    ]
    assert '<td class="check-warn">158 rows</td>' in page, "the half file's day in the metric history"
    assert all(f'id="checks-{day.isoformat()}"' in page for day in days)
    partition_page = client.get_object(Bucket=HISTORY_BUCKET, Key=layout.report_key(days[2], "html"))
    assert "TMDB vote_count down" in partition_page["Body"].read().decode()


Z_BUCKET = "datalake-z-score"
"""A lake of its own: the checks take the last complete partitions of their bucket."""


def made_partition(document: dict, day: date, series_rows: int) -> dict:
    """``document`` as if a run had landed it on ``day`` with ``series_rows`` rows in ``series.csv`` (its
    size and null counts in proportion): a day of an extract that jitters by a few rows."""
    source = layout.partition_path(date.fromisoformat(document["partition"]))
    made = json.loads(json.dumps(document).replace(source, layout.partition_path(day)))
    made.update(partition=day.isoformat(), run_id=f"made__{day}", logical_date=None)
    made.pop("checks", None)
    entry = next(entry for entry in made["objects"] if entry["key"] == layout.csv_key(SERIES, day))
    ratio = series_rows / entry["records"]
    entry.update(records=series_rows, bytes=round(entry["bytes"] * ratio))
    if "profile" in entry:
        counts = entry["profile"]["null_counts"]
        entry["profile"]["null_counts"] = {column: round(count * ratio) for column, count in counts.items()}
    return made


def test_with_eight_partitions_of_history_the_checks_use_the_z_score_and_an_ordinary_day_raises_nothing(
    dag, local_s3, tmp_path, monkeypatch
):
    """Day 1 is a real run; days 2 to 8 are made from it, series.csv jittering by up to 3 rows; day 9 lands
    a series.csv cut by 6% (19 of its 316 rows), which the fixed ±10% band would let through; day 10 lands
    the whole file again: an ordinary day."""
    client = local_s3.client()
    client.create_bucket(Bucket=Z_BUCKET)
    monkeypatch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", Z_BUCKET)
    days = [date(2026, 9, 1) + timedelta(days=offset) for offset in range(10)]
    assert run(dag, days[0])[0] == "success"
    first = manifest.read_manifest(client, Z_BUCKET, days[0], DAG_ID)
    rows = next(
        entry["records"] for entry in first["objects"] if entry["key"] == layout.csv_key(SERIES, days[0])
    )
    draw = random.Random(25)
    for day in days[1:8]:
        made = made_partition(first, day, rows + draw.randint(-3, 3))
        client.put_object(
            Bucket=Z_BUCKET, Key=layout.manifest_key(day, DAG_ID), Body=json.dumps(made).encode()
        )

    fresh_series = tmp_path / "fresh" / SERIES.filename
    whole = fresh_series.read_bytes()
    lines = whole.splitlines(keepends=True)
    cut = tmp_path / "cut" / SERIES.filename
    cut.parent.mkdir()
    cut.write_bytes(b"".join(lines[: len(lines) - 19]))
    monkeypatch.setenv(f"AIRFLOW_VAR_{SERIES.variable.upper()}", str(cut))
    assert run(dag, days[8])[0] == "success"
    recorded = {
        check["name"]: check for check in manifest.read_manifest(client, Z_BUCKET, days[8], DAG_ID)["checks"]
    }
    series_rows = recorded["series.csv rows"]
    assert series_rows["level"] == "warn" and series_rows["method"] == "z-score"
    assert series_rows["partitions"] == [day.isoformat() for day in days[:8]]
    assert series_rows["band"]["low"] < rows < series_rows["band"]["high"]
    assert series_rows["band"]["high"] - series_rows["band"]["low"] < 0.1 * rows, "narrower than ±10%"
    assert series_rows["observed"].startswith(f"{rows - 19} rows (z -")
    assert series_rows["expected"].endswith(")") and "z-score over 8 partitions" in series_rows["expected"]
    not_passed = {name for name, check in recorded.items() if check["level"] != "pass"}
    assert all(name.startswith("series.csv") for name in not_passed), not_passed
    for name in ("movies.csv rows", "TMDB discover total", "TMDB details"):
        assert recorded[name]["method"] == "z-score" and recorded[name]["level"] == "pass", name
    for name in ("TMDB schema type changes", "TMDB ranking ids unique", "series.csv freshness"):
        assert (
            recorded[name]["method"] in ("schema", "uniqueness", "freshness")
            and recorded[name]["level"] == "pass"
        )
    freshness = manifest.read_manifest(client, Z_BUCKET, days[8], DAG_ID)["freshness"]
    assert set(freshness) == {"movies.csv", "series.csv", "TMDB"}
    assert all(source["age_days"] < 1 for source in freshness.values())

    monkeypatch.setenv(f"AIRFLOW_VAR_{SERIES.variable.upper()}", str(fresh_series))
    assert run(dag, days[9])[0] == "success"
    ordinary = manifest.read_manifest(client, Z_BUCKET, days[9], DAG_ID)["checks"]
    assert [check["name"] for check in ordinary if check["level"] != "pass"] == [], "an ordinary day"
    assert {check["method"] for check in ordinary if check["name"] == "series.csv rows"} == {"z-score"}
    assert next(check for check in ordinary if check["name"] == "series.csv rows")["partitions"] == [
        day.isoformat() for day in days[:9]
    ]

"""The report DAG parses cleanly and fast, runs once per partition of the raw zone's manifests, and
reports on that partition."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import Asset
from airflow.sdk.exceptions import ParamValidationError

from datalake import settings
from datalake.airflow import assets, report_tasks
from datalake.errors import InvalidParameter

REPO = Path(__file__).resolve().parents[2]
DAG_ID = settings.REPORT_DAG_ID
DAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def dag():
    dagbag = DagBag(dag_folder=str(REPO / "dags"))
    assert dagbag.import_errors == {}
    return dagbag.dags[DAG_ID]


def test_scheduled_once_per_partition_of_the_raw_manifests_without_catchup(dag):
    from airflow.sdk import IdentityMapper, PartitionedAssetTimetable

    assert isinstance(dag.timetable, PartitionedAssetTimetable)
    assert dag.timetable.asset_condition == Asset(
        name="datalake_raw_manifests", uri="x-datalake://Raw/_manifests"
    )
    assert dag.timetable.asset_condition == assets.RAW_MANIFESTS
    assert isinstance(dag.timetable.default_partition_mapper, IdentityMapper)
    assert dag.timetable.partition_mapper_config == {}
    assert dag.catchup is False


def test_one_task_writes_the_report_and_announces_the_refined_zone(dag):
    assert dag.task_ids == ["build_report"]
    build = dag.get_task("build_report")
    assert not build.is_mapped
    assert build.outlets == [
        Asset(name="datalake_refined_anime_top10", uri="x-datalake://Refined/Reports/AnimeTop10")
    ]


def test_the_partition_param_is_empty_or_a_date(dag):
    param = dag.params.get_param(report_tasks.PARTITION_PARAM)
    assert dag.params[report_tasks.PARTITION_PARAM] == "" and param.description
    assert param.resolve("2026-11-27") == "2026-11-27"
    for bad in ("2026/11/27", "yesterday"):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


def test_parsing_loads_neither_the_report_nor_its_libraries():
    """The DAG processor parses the file often: polars, matplotlib and the report load only in the task."""
    heavy = ("polars", "matplotlib", "datalake.report.comparison", "datalake.tmdb.client")
    code = (
        f"import runpy, sys; runpy.run_path({str(REPO / 'dags' / (DAG_ID + '.py'))!r});"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def report_day(partition_key: str | None, partition: str = "") -> date:
    """The day a report run works on: one scheduled by a raw partition has its key; a manual one may not."""
    dag_run = SimpleNamespace(
        partition_key=partition_key, logical_date=None, run_after=datetime(2026, 11, 30, 8, tzinfo=UTC)
    )
    return report_tasks.report_day({report_tasks.PARTITION_PARAM: partition}, dag_run)


def test_a_run_scheduled_by_a_raw_partition_reports_on_its_partition_key():
    assert report_day("2026-11-27") == DAY
    assert report_day("2026-11-27", "2026-11-01") == DAY, "the key is the partition the run belongs to"


def test_a_manual_run_without_partition_key_reports_on_its_param_else_its_own_date():
    assert report_day(None, "2026-11-01") == date(2026, 11, 1)
    assert report_day(None) == date(2026, 11, 30)


def test_a_partition_key_that_is_no_day_is_refused_naming_it():
    with pytest.raises(InvalidParameter, match="Partition key 'latest' is not a day of the lake"):
        report_day("latest")

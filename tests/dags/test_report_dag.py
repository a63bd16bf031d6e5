"""The report DAG parses cleanly and fast, is scheduled on the raw zone's manifests, and maps over
partitions."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import AssetAlias
from airflow.sdk.exceptions import ParamValidationError

from datalake import airflow_tasks, layout, report_tasks, settings

REPO = Path(__file__).resolve().parents[2]
DAG_ID = settings.REPORT_DAG_ID
DAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def dag():
    dagbag = DagBag(dag_folder=str(REPO / "dags"))
    assert dagbag.import_errors == {}
    return dagbag.dags[DAG_ID]


def test_scheduled_on_the_raw_manifests_alias_without_catchup(dag):
    assert dag.schedule == [AssetAlias(airflow_tasks.asset_alias(layout.MANIFEST_ROOT))]
    assert dag.schedule[0].name == "datalake:Raw/_manifests"
    assert dag.catchup is False


def test_the_report_is_mapped_over_the_partitions_and_announces_the_refined_zone(dag):
    assert set(dag.task_ids) == {"partitions", "build_report"}
    build = dag.get_task("build_report")
    assert build.is_mapped and build.upstream_task_ids == {"partitions"}
    assert build.map_index_template == "{{ task.op_kwargs['partition'] }}"
    assert build.outlets == [AssetAlias("datalake:Refined/Reports/AnimeTop10")]


def test_the_partition_param_is_empty_or_a_date(dag):
    param = dag.params.get_param(report_tasks.PARTITION_PARAM)
    assert dag.params[report_tasks.PARTITION_PARAM] == "" and param.description
    assert param.resolve("2026-11-27") == "2026-11-27"
    for bad in ("2026/11/27", "yesterday"):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


def test_parsing_loads_neither_the_report_nor_its_libraries():
    """The DAG processor parses the file often: polars, matplotlib and the report load only in the task."""
    heavy = ("polars", "matplotlib", "datalake.report", "datalake.tmdb")
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


def event(extra: dict, aliases: list[str]):
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult

    return AssetEventDagRunReferenceResult(
        asset={"name": "s3://datalake/Raw/_manifests", "uri": "s3://datalake/Raw/_manifests", "extra": {}},
        extra=extra,
        source_task_id="write_manifest",
        source_dag_id=settings.RAW_DAG_ID,
        source_run_id="scheduled__x",
        source_map_index=-1,
        source_aliases=[{"name": name} for name in aliases],
        timestamp=datetime(2026, 11, 27, 1, tzinfo=UTC),
    )


def partitions(events: list, partition: str = "") -> list[str]:
    """The partitions task's answer for a run triggered by ``events`` (none: a manual run)."""
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    dag_run = SimpleNamespace(logical_date=None, run_after=datetime(2026, 11, 30, 8, tzinfo=UTC))
    return report_tasks.partitions(
        {report_tasks.PARTITION_PARAM: partition}, dag_run, TriggeringAssetEventsAccessor.build(events)
    )


def test_an_asset_triggered_run_reports_on_every_partition_its_manifest_events_name():
    events = [
        event({"key": "k", "partition": day}, [report_tasks.RAW_MANIFESTS])
        for day in ("2026-11-28", "2026-11-27", "2026-11-28")
    ]
    assert partitions(events) == ["2026-11-27", "2026-11-28"]


def test_a_manual_run_reports_on_its_param_else_its_own_date():
    assert partitions([], "2026-11-01") == ["2026-11-01"]
    assert partitions([]) == ["2026-11-30"]


def test_an_event_without_partition_is_refused_as_a_bad_input():
    """A ValueError: the retry rules fail the task at once (``tests/dags/test_retry_rules.py``)."""
    with pytest.raises(ValueError, match="names no partition"):
        partitions([event({"key": "k"}, [report_tasks.RAW_MANIFESTS])])


def test_partitions_to_report_prefers_the_param_then_the_events_then_the_run_date():
    events = [{"partition": "2026-11-27"}]
    assert report_tasks.partitions_to_report("2026-11-01", events, DAY) == [date(2026, 11, 1)]
    assert report_tasks.partitions_to_report("", events, date(2026, 12, 1)) == [DAY]
    assert report_tasks.partitions_to_report("", [], DAY) == [DAY]

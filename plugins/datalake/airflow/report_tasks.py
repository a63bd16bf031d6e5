"""Airflow glue of the anime top-N report: which partition a run reports on, and the lake to do it in.

The report itself (polars, matplotlib) is imported inside the task functions so that parsing the DAG
stays fast; what the DAG file needs at import time here is names only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from datalake import layout
from datalake.airflow import tasks as airflow_tasks
from datalake.lake import lineage

if TYPE_CHECKING:
    from airflow.sdk.types import DagRunProtocol, OutletEventAccessorsProtocol

PARTITION_PARAM = "partition"


def report_day(params: Mapping[str, Any], dag_run: DagRunProtocol) -> date:
    """The raw partition a run reports on: its partition key (the raw partition whose manifest scheduled
    it), else the ``partition`` param of a manual run, else the run's own date (``airflow dags test``).
    """
    if dag_run.partition_key is None and params[PARTITION_PARAM]:
        return date.fromisoformat(params[PARTITION_PARAM])
    return airflow_tasks.run_day(dag_run)


def write_partition_report(
    params: Mapping[str, Any], dag_run: DagRunProtocol, outlet_events: OutletEventAccessorsProtocol
) -> list[dict[str, Any]]:
    """Read the run's raw partition, write the four report files, then rebuild the history across
    partitions; announce them; returns what was written."""
    from datalake.airflow import assets
    from datalake.report import comparison, history
    from datalake.report import files as report_files

    day = report_day(params, dag_run)
    store = airflow_tasks.lake_store()
    raw = comparison.read_partition(store.client, store.bucket, day)
    built = comparison.comparison_report(raw)
    print(built.match_summary)
    stored = [entry.as_dict() for entry in report_files.write_report(store, built)]
    ranking_history = history.read_history(store.client, store.bucket)
    stored += [entry.as_dict() for entry in history.write_history(store, ranking_history)]
    read = [layout.manifest_key(day, raw.manifest["dag_id"]), *raw.read_keys, *ranking_history.read_keys]
    lineage.record(
        inputs=[lineage.s3_object(store.bucket, key) for key in dict.fromkeys(read)],
        outputs=[lineage.s3_object(store.bucket, entry["key"]) for entry in stored],
    )
    airflow_tasks.announce(outlet_events, assets.REFINED_REPORTS, day, stored)
    return stored

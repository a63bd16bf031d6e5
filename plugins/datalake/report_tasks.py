"""Airflow glue of the anime top-10 report: which partitions a run reports on, and the lake to do it in.

The report itself (polars, matplotlib) is imported inside the task functions so that parsing the DAG
stays fast; what the DAG file needs at import time here is names only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from datalake import airflow_tasks, layout

if TYPE_CHECKING:
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor
    from airflow.sdk.types import DagRunProtocol, OutletEventAccessorsProtocol

PARTITION_PARAM = "partition"

RAW_MANIFESTS = airflow_tasks.asset_alias(layout.MANIFEST_ROOT)
"""The alias the raw DAG's manifest events come through: the report is scheduled on it."""

REPORTS = airflow_tasks.asset_alias(layout.REPORT_ROOT)
"""The alias the report's own objects are announced through, for whatever reads the refined zone."""


def partitions_to_report(
    requested: str, event_extras: Iterable[Mapping[str, Any]], run_day: date
) -> list[date]:
    """The dates a run reports on: the ``partition`` param if given, else every partition the
    triggering manifest events name (several raw runs may have landed since the last report),
    else the run's own date (a manual run or ``airflow dags test``).
    """
    if requested:
        return [date.fromisoformat(requested)]
    extras = list(event_extras)
    if not extras:
        return [run_day]
    unnamed = [extra for extra in extras if "partition" not in extra]
    if unnamed:
        raise ValueError(
            f"An asset event of {layout.MANIFEST_ROOT} names no partition in its extra: {unnamed[0]}"
        )
    return sorted({date.fromisoformat(extra["partition"]) for extra in extras})


def partitions(
    params: Mapping[str, Any], dag_run: DagRunProtocol, triggering_asset_events: TriggeringAssetEventsAccessor
) -> list[str]:
    """The partitions of this run, as ISO dates to map the report task over."""
    from airflow.sdk import AssetAlias

    events = triggering_asset_events.get(AssetAlias(RAW_MANIFESTS), [])
    with airflow_tasks.failing_fast_on_permanent_errors():
        days = partitions_to_report(
            params[PARTITION_PARAM], [event.extra for event in events], airflow_tasks.run_day(dag_run)
        )
    return [day.isoformat() for day in days]


def write_partition_report(
    partition: str, outlet_events: OutletEventAccessorsProtocol
) -> list[dict[str, Any]]:
    """Read the raw partition, write the four report files, then rebuild the history across partitions;
    announce them; returns what was written."""
    from datalake import history, report

    store = airflow_tasks.lake_store()
    with airflow_tasks.failing_fast_on_permanent_errors():
        built = report.comparison_report(
            report.read_partition(store.client, store.bucket, date.fromisoformat(partition))
        )
    print(built.match_summary)
    stored = [entry.as_dict() for entry in report.write_report(store, built)]
    stored += [
        entry.as_dict()
        for entry in history.write_history(store, history.read_history(store.client, store.bucket))
    ]
    for entry in stored:
        airflow_tasks.emit_asset_event(outlet_events, layout.REPORT_ROOT, {**entry, "partition": partition})
    return stored

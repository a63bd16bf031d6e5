"""Reading the OpenLineage events a local run left under ``<local>/openlineage/``, whatever started the run
(``airflow dags test`` or a scheduler): one JSON file per event, as the provider's file transport writes."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

Dataset = tuple[str, str]
"""(namespace, name)"""


def event_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def read_events(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in event_files(folder)]


def task_lineage(events: list[dict], dag_id: str) -> dict[str, list[tuple[set[Dataset], set[Dataset]]]]:
    """For each task of ``dag_id`` (by task id), the (inputs, outputs) of each of its successful runs
    (one per map index), as its COMPLETE events state them."""
    found: dict[str, list[tuple[set[Dataset], set[Dataset]]]] = defaultdict(list)
    for event in events:
        job = event["job"]["name"]
        if event["eventType"] != "COMPLETE" or not job.startswith(f"{dag_id}."):
            continue
        found[job.removeprefix(f"{dag_id}.")].append(
            (
                {(item["namespace"], item["name"]) for item in event.get("inputs", [])},
                {(item["namespace"], item["name"]) for item in event.get("outputs", [])},
            )
        )
    return dict(found)


def files_holding(folder: Path, secret: str) -> list[str]:
    """The event files whose text contains ``secret`` anywhere."""
    return [path.name for path in event_files(folder) if secret in path.read_text()]


def completed_input_facets(events: list[dict], dag_id: str, task_id: str) -> list[dict[Dataset, dict]]:
    """For each successful run of ``dag_id.task_id``, its COMPLETE event's ``inputFacets`` per input."""
    return [
        {(item["namespace"], item["name"]): item.get("inputFacets", {}) for item in event.get("inputs", [])}
        for event in events
        if event["eventType"] == "COMPLETE" and event["job"]["name"] == f"{dag_id}.{task_id}"
    ]

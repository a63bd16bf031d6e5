"""The run manifest: the record that proves a partition complete.

Written last, only when every other task succeeded; a re-run replaces it. Entries are sorted by
key, so re-running a date yields the same entries for objects whose bytes did not change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from datalake import layout
from datalake.storage import S3ObjectStore, StoredObject


def build_manifest(
    *,
    dag_id: str,
    run_id: str,
    logical_date: str | None,
    day: date,
    params: Mapping[str, Any],
    ranking: list[Mapping[str, Any]],
    objects: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "logical_date": logical_date,
        "partition": day.isoformat(),
        "params": dict(params),
        "ranking": [dict(series, rank=position) for position, series in enumerate(ranking, start=1)],
        "objects": sorted((dict(entry) for entry in objects), key=lambda entry: entry["key"]),
    }


def write_manifest(store: S3ObjectStore, manifest: Mapping[str, Any], prefix: str = "") -> StoredObject:
    day = date.fromisoformat(manifest["partition"])
    body = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True).encode()
    return store.put(
        layout.manifest_key(day, manifest["dag_id"], prefix), body,
        source=f"{manifest['dag_id']} run {manifest['run_id']}", records=len(manifest["objects"]),
        fetched_at=layout.utc_timestamp(),
    )

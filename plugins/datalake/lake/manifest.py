"""The run manifest: the record that proves a partition complete.

Written last, only when every other task succeeded. A run that may overwrite a partition first
retracts its manifest (``retract_manifest``), so a run that fails half-way leaves the partition
incomplete rather than a manifest that no longer describes its objects. Entries are sorted by key,
so re-running a date yields the same entries for objects whose bytes did not change.

``airflow_tasks.close_partition`` adds the run's data ``checks`` (``datalake.lake.checks``) against the
last complete partitions, which ``recent_manifests`` finds by listing the manifests, and each source's
``freshness``.

Readers take a partition only through ``read_manifest`` and ``read_listed``: no manifest, or an
object whose size or SHA-256 differs from its entry, is refused naming the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from datalake import layout
from datalake.errors import CorruptRead, PartitionChanged, PartitionIncomplete
from datalake.lake.storage import S3ObjectStore, StoredObject, read_object, s3_failure


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


def store_manifest(store: S3ObjectStore, manifest: Mapping[str, Any], prefix: str = "") -> StoredObject:
    day = date.fromisoformat(manifest["partition"])
    body = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True).encode()
    return store.put(
        layout.manifest_key(day, manifest["dag_id"], prefix),
        body,
        source=f"{manifest['dag_id']} run {manifest['run_id']}",
        records=len(manifest["objects"]),
        fetched_at=layout.utc_timestamp(),
    )


def retract_manifest(store: S3ObjectStore, day: date, dag_id: str) -> bool:
    """Delete the partition's manifest before a run overwrites any of its objects; True if there was one.

    Until the run's own manifest lands, the partition reads as incomplete, never as the old run's.
    """
    key = layout.manifest_key(day, dag_id)
    try:
        try:
            store.client.head_object(Bucket=store.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise
        store.client.delete_object(Bucket=store.bucket, Key=key)
    except (BotoCoreError, ClientError) as error:
        raise s3_failure(error, store.client, store.bucket, key, "delete") from None
    return True


def _get(client: Any, bucket: str, key: str, day: str, dag_id: str) -> bytes | None:
    """The object's bytes (None: no such key); bytes that fail their checksum name the partition too."""
    try:
        return read_object(client, bucket, key)
    except CorruptRead as error:
        raise CorruptRead(
            f"{error}; the raw partition {day} cannot be read (if this persists, run {dag_id} for it again)."
        ) from None


def read_manifest(client: Any, bucket: str, day: date, dag_id: str) -> dict[str, Any]:
    """The partition's manifest; none means the partition is not complete (never run, failed, or running)."""
    key = layout.manifest_key(day, dag_id)
    body = _get(client, bucket, key, day.isoformat(), dag_id)
    if body is None:
        raise PartitionIncomplete(
            f"s3://{bucket}/{key} does not exist: the raw partition {day} is not complete; "
            f"run {dag_id} for it first."
        )
    try:
        return json.loads(body)
    except ValueError:
        raise PartitionChanged(
            f"s3://{bucket}/{key} is not valid JSON: the manifest of the raw partition {day} was changed "
            f"after its run; run {dag_id} for it again."
        ) from None


def complete_partitions(client: Any, bucket: str, dag_id: str) -> list[date]:
    """Every partition with a manifest (complete), oldest first, listed under the manifest root."""
    prefix = f"{layout.MANIFEST_ROOT}/"
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [entry["Key"] for page in pages for entry in page.get("Contents", [])]
    except (BotoCoreError, ClientError) as error:
        raise s3_failure(error, client, bucket, prefix, "list") from None
    return sorted(day for key in keys if (day := layout.manifest_day(key, dag_id)) is not None)


def recent_manifests(client: Any, bucket: str, day: date, dag_id: str, count: int) -> list[dict[str, Any]]:
    """The manifests of the last ``count`` complete partitions before ``day``, oldest first: the history
    the data checks learn from (each a small JSON; one listing, then one GET each)."""
    earlier = [complete for complete in complete_partitions(client, bucket, dag_id) if complete < day]
    return [read_manifest(client, bucket, complete, dag_id) for complete in earlier[-count:]]


def read_listed(client: Any, bucket: str, manifest: Mapping[str, Any], key: str) -> bytes:
    """One object of the partition, only if the manifest lists it and its bytes are the ones it records."""
    entry = next((entry for entry in manifest["objects"] if entry["key"] == key), None)
    rerun = f"run {manifest['dag_id']} for {manifest['partition']} again."
    if entry is None:
        raise PartitionIncomplete(
            f"s3://{bucket}/{key} is not listed in the manifest of run {manifest['run_id']}."
        )
    body = _get(client, bucket, key, manifest["partition"], manifest["dag_id"])
    if body is None:
        raise PartitionIncomplete(
            f"s3://{bucket}/{key} does not exist: the manifest lists it; the raw partition was changed after "
            f"its run; {rerun}"
        )
    digest = hashlib.sha256(body).hexdigest()
    if (len(body), digest) != (int(entry["bytes"]), entry["sha256"]):
        raise PartitionChanged(
            f"s3://{bucket}/{key} is {len(body)} bytes with sha256 {digest}, but the manifest of run "
            f"{manifest['run_id']} records {entry['bytes']} bytes with sha256 {entry['sha256']}: the object "
            f"was overwritten after that run; {rerun}"
        )
    return body

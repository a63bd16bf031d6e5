"""Airflow glue: connections, Variables and the run's facts in, the pure package's calls out.

The DAG file stays a declaration of the graph; every task body is a function here, taking by name what
it uses of the run (``dag_run``, ``params``, ``outlet_events``, as Airflow injects them into a task).
Airflow itself is imported inside the functions, so that parsing the DAG stays fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datalake import layout, settings
from datalake.csvs.files import CsvFile
from datalake.errors import InvalidConnection
from datalake.lake import lineage
from datalake.lake.storage import S3ObjectStore, s3_client_config
from datalake.run_params import check_history, check_known, query_from

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk import Asset
    from airflow.sdk.types import DagRunProtocol, OutletEventAccessorsProtocol

    from datalake.tmdb.client import TmdbClient

log = logging.getLogger(__name__)

INCLUDE_DATA = Path(__file__).resolve().parents[3] / "include" / "data"

BUCKET_TEMPLATE = f"{{{{ var.value.get('{settings.BUCKET_VARIABLE}', '{settings.DEFAULT_BUCKET}') }}}}"
"""The lake's bucket in an operator's templated field: what ``lake_bucket`` reads in a task."""


def lake_bucket() -> str:
    """The lake's bucket: the Variable ``datalake_bucket``, else the default."""
    from airflow.sdk import Variable

    return Variable.get(settings.BUCKET_VARIABLE, default=settings.DEFAULT_BUCKET)


def run_day(dag_run: DagRunProtocol) -> date:
    """The day a DAG run writes under: its partition key's; without one, its logical date or run-after."""
    return layout.day_of_run(dag_run.logical_date, dag_run.run_after, dag_run.partition_key)


def announce(
    outlet_events: OutletEventAccessorsProtocol,
    asset: Asset,
    day: date,
    objects: list[dict[str, Any]],
    **facts: Any,
) -> None:
    """The task's one event of ``asset`` (one of ``datalake.airflow.assets``): the bucket and what landed in
    its extra (each object's key, bytes, sha256, source, rows or records) with any other ``facts`` (the
    manifest's checks), the lake day as its partition key.

    The day is set even when the run has no partition key of its own (``airflow dags test``, a trigger that
    named none), so that every manifest event schedules the report for its partition.
    """
    event = outlet_events[asset]
    event.extra = {"bucket": lake_bucket(), "objects": objects, **facts}
    event.add_partitions(layout.partition_key(day))


def csv_source_template(csv_file: CsvFile) -> str:
    """The file to land: the Variable named after the file, else the sample in include/data."""
    return f"{{{{ var.value.get('{csv_file.variable}', '{INCLUDE_DATA / csv_file.filename}') }}}}"


def tmdb_client() -> TmdbClient:
    """A client for the TMDB connection: host is the base URL, password the credential.

    The extra ``{"requests_per_second": N}`` sets the rate limit shared by the run's tasks (default 35),
    kept on this host unless the extra's ``rate_limit_redis_url`` (else the environment's
    ``DATALAKE_RATE_LIMIT_REDIS_URL``) names a Redis that every worker of a cluster shares.
    """
    from airflow.sdk import BaseHook

    from datalake.tmdb.client import TmdbClient
    from datalake.tmdb.rate_limit import DEFAULT_PER_SECOND

    connection = BaseHook.get_connection(settings.TMDB_CONN_ID)
    base_url = connection.host or ""
    if "://" not in base_url:
        raise InvalidConnection(
            f"Connection '{settings.TMDB_CONN_ID}': host must be the TMDB base URL, "
            f"e.g. https://api.themoviedb.org/3; got {base_url!r}."
        )
    if not connection.password:
        raise InvalidConnection(
            f"Connection '{settings.TMDB_CONN_ID}' has no password: "
            "set it to a TMDB v4 read-access token or v3 API key."
        )
    rate = float(connection.extra_dejson.get("requests_per_second", DEFAULT_PER_SECOND))
    redis_url = connection.extra_dejson.get("rate_limit_redis_url") or os.environ.get(
        settings.RATE_LIMIT_REDIS_URL_ENV
    )
    return TmdbClient(connection.password, base_url, requests_per_second=rate, rate_limit_redis_url=redis_url)


def lake_hook(aws_conn_id: str | None = settings.AWS_CONN_ID, **kwargs: Any) -> S3Hook:
    """An S3Hook (``kwargs`` are S3Hook's) whose client retries and times out as
    ``storage.s3_client_config`` says, under what the connection's extra ``config_kwargs`` sets: a hook's own
    ``config`` would replace the connection's whole, so the connection's is read first and merged over."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    explicit = S3Hook(aws_conn_id=aws_conn_id, verify=kwargs.get("verify")).config
    return S3Hook(aws_conn_id=aws_conn_id, config=s3_client_config(explicit), **kwargs)


def lake_store() -> S3ObjectStore:
    """The lake's bucket through the AWS connection (which may point at a local S3 server)."""
    return S3ObjectStore(lake_hook().get_conn(), lake_bucket())


def open_partition(params: Mapping[str, Any], dag_run: DagRunProtocol) -> None:
    """The run's first task: refuse unknown or bad parameters before anything lands, then retract the
    partition's manifest, so that a run failing half-way never leaves the old one beside its new objects.

    Airflow merges conf keys that are no param into the params without a word, so they are refused here.
    """
    from datalake.lake import manifest

    check_known(params)
    query_from(params)
    check_history(params)
    day = run_day(dag_run)
    store = lake_store()
    if manifest.retract_manifest(store, day, dag_run.dag_id):
        log.info(
            "Retracted s3://%s/%s: the partition %s is incomplete until this run's manifest lands.",
            store.bucket,
            layout.manifest_key(day, dag_run.dag_id),
            day,
        )


def discover_and_announce(
    params: Mapping[str, Any], dag_run: DagRunProtocol, outlet_events: OutletEventAccessorsProtocol
) -> dict[str, Any]:
    """Land the discover pages; return the ranking (to map over) and the pages (for the manifest), the first
    page's entry with TMDB's ``total_results``, a volume the data checks follow."""
    from datalake.airflow import assets
    from datalake.tmdb import ingest as tmdb_ingest

    query = query_from(params)
    discovery = tmdb_ingest.discover_top_series(tmdb_client(), lake_store(), query, run_day(dag_run))
    objects = [stored.as_dict() for stored in discovery.objects]
    objects[0]["total_results"] = discovery.total_results
    lineage.record_landed(lake_bucket(), objects)
    announce(outlet_events, assets.RAW_TMDB, run_day(dag_run), objects)
    return {"ranking": discovery.ranking, "objects": objects}


def land_and_announce_details(
    series_id: int, language: str, dag_run: DagRunProtocol, outlet_events: OutletEventAccessorsProtocol
) -> dict[str, Any]:
    """Land ``/tv/{series_id}`` in ``language`` under the run's partition and announce it; return its
    entry, with the body's ``schema`` for the schema-drift check."""
    from datalake.airflow import assets
    from datalake.tmdb import ingest as tmdb_ingest

    stored = tmdb_ingest.land_series_details(
        tmdb_client(), lake_store(), series_id, language, run_day(dag_run)
    ).as_dict()
    lineage.record_landed(lake_bucket(), [stored])
    announce(outlet_events, assets.RAW_TMDB, run_day(dag_run), [stored])
    return stored


def close_partition(
    ranking: list[dict[str, Any]],
    landed: list[dict[str, Any] | None],
    params: Mapping[str, Any],
    dag_run: DagRunProtocol,
    outlet_events: OutletEventAccessorsProtocol,
) -> dict[str, Any]:
    """Check the run against the last ``history_partitions`` complete partitions, then write and announce
    its manifest of every object ``landed`` (with the checks and each source's freshness), marking the
    partition complete; return the manifest for the parity check. ``None`` entries (a task that landed
    nothing) are left out.

    With ``strict_checks``, a check that warns or fails fails the task before the manifest is stored: the
    partition stays incomplete.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from datalake.airflow import assets
    from datalake.lake import checks, manifest

    store = lake_store()
    day = run_day(dag_run)
    document = manifest.build_manifest(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        logical_date=dag_run.logical_date.isoformat() if dag_run.logical_date else None,
        day=day,
        params=params,
        ranking=ranking,
        objects=[entry for entry in landed if entry],
    )
    history = manifest.recent_manifests(
        store.client, store.bucket, day, dag_run.dag_id, int(params["history_partitions"])
    )
    document["freshness"] = checks.freshness(document, history, datetime.now(UTC))
    found = checks.data_checks(
        document, history, checks.Thresholds.from_params(params), document["freshness"]
    )
    for check in found:
        (log.info if check.level == checks.PASS else log.warning)("Check %s", check)
    if params["strict_checks"] and (failure := checks.strict_failure(found)):
        raise AirflowFailException(failure)
    document["checks"] = [check.as_dict() for check in found]
    stored = manifest.store_manifest(store, document)
    lineage.record(
        inputs=[lineage.s3_object(store.bucket, entry["key"]) for entry in document["objects"]],
        outputs=[lineage.s3_object(store.bucket, stored.key)],
    )
    announce(outlet_events, assets.RAW_MANIFESTS, day, [stored.as_dict()], checks=document["checks"])
    return document

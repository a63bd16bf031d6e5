"""AWS Lambda entry point for the TMDB half of the raw zone: a thin layer over the ``datalake`` package.

The DAG's tasks call the same ``datalake.tmdb.ingest`` functions, so both write the same objects
under the same keys; this module only turns an event and the environment into those calls.

Environment: ``DATALAKE_BUCKET`` (required), ``TMDB_BASE_URL`` (default: the real TMDB), and the
credential as ``TMDB_API_TOKEN`` or, better, the ARN of a Secrets Manager secret in ``TMDB_SECRET_ARN``
(its SecretString is the credential itself or JSON with a ``TMDB_API_TOKEN`` key). AWS endpoints come
from boto3's own settings (e.g. ``AWS_ENDPOINT_URL_S3``), so the code knows no local stand-in.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import boto3
from botocore.config import Config

from datalake import run_params
from datalake.lake.storage import S3ObjectStore, StoredObject, s3_client_config
from datalake.tmdb import ingest as tmdb_ingest
from datalake.tmdb.client import DEFAULT_BASE_URL, TmdbClient
from datalake.tmdb.ranking import DiscoverQuery

EVENT_KEYS = ("date", "prefix", *run_params.SCHEMAS)
DETAIL_WORKERS = 4
"""Details fetched at once: a few overlap TMDB's latency; the client's rate limit still caps the pace."""
SECRET_JSON_KEY = "TMDB_API_TOKEN"
S3_SETTINGS = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
)
"""The environment that decides where and as whom the S3 client writes: its cache key."""

logging.getLogger("datalake").setLevel(logging.INFO)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Discover, rank, fetch the top-N details; return the ranked ids and every object written."""
    day, prefix, query = parse_event(event)
    bucket = _required_env("DATALAKE_BUCKET", "the lake's bucket name")
    base_url = os.environ.get("TMDB_BASE_URL") or DEFAULT_BASE_URL
    session = boto3.session.Session()
    credential = tmdb_credential(session)
    store = S3ObjectStore(s3_client(), bucket)

    discovery = tmdb_ingest.discover_top_series(TmdbClient(credential, base_url), store, query, day, prefix)
    clients = threading.local()

    def fetch(series_id: int) -> StoredObject:
        # requests.Session is not documented as thread-safe: one client per worker thread.
        if not hasattr(clients, "tmdb"):
            clients.tmdb = TmdbClient(credential, base_url)
        return tmdb_ingest.land_series_details(clients.tmdb, store, series_id, query.language, day, prefix)

    with ThreadPoolExecutor(max_workers=DETAIL_WORKERS) as pool:
        details = list(pool.map(fetch, discovery.ids))
    return {"ids": discovery.ids, "objects": [stored.as_dict() for stored in discovery.objects + details]}


def s3_client() -> Any:
    """The S3 client for the environment's current settings, reused while they stay the same.

    Building one costs 0.1-0.5 s (botocore loads its models per session), more than the whole TMDB
    stage's overhead at top_n 10; a warm container reuses it, and any change of endpoint, region or
    credentials in the environment builds a fresh one, so no stale setting survives.
    """
    return _s3_client_for(tuple(os.environ.get(name) for name in S3_SETTINGS))


@functools.lru_cache(maxsize=1)
def _s3_client_for(settings: tuple[str | None, ...]) -> Any:
    return boto3.session.Session().client("s3", config=s3_client_config(environment_retries()))


def environment_retries() -> Config | None:
    """The retries boto3's environment sets (``AWS_RETRY_MODE``, ``AWS_MAX_ATTEMPTS``), which a client's
    config would otherwise override: the project's retries give way to them."""
    retries: dict[str, Any] = {}
    if mode := os.environ.get("AWS_RETRY_MODE"):
        retries["mode"] = mode
    if attempts := os.environ.get("AWS_MAX_ATTEMPTS"):
        retries["total_max_attempts"] = int(attempts)
    return Config(retries=retries) if retries else None


def parse_event(event: Any) -> tuple[date, str, DiscoverQuery]:
    """The partition date, key prefix and discover query of an event; ValueError names the key that is off."""
    if not isinstance(event, Mapping):
        raise ValueError(
            f"The event must be a JSON object with some of the keys {', '.join(EVENT_KEYS)}; got {event!r}."
        )
    unknown = sorted(set(event) - set(EVENT_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown event key(s) {', '.join(map(repr, unknown))}; expected some of {', '.join(EVENT_KEYS)}."
        )
    day, prefix = _event_date(event.get("date")), _event_prefix(event.get("prefix", ""))
    return day, prefix, run_params.query_from(event)


def _event_date(value: Any) -> date:
    if value is None:
        return datetime.now(UTC).date()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(
        f"Event key 'date' must be a date as YYYY-MM-DD (the partition, default today in UTC); got {value!r}."
    )


def _event_prefix(value: Any) -> str:
    """A prefix roots the keys elsewhere in the bucket (e.g. ``Parity/Lambda/``) but may not escape it."""
    if not isinstance(value, str) or (
        value and (not value.endswith("/") or value.startswith("/") or ".." in value)
    ):
        raise ValueError(
            "Event key 'prefix' must be '' or a relative folder ending in '/', "
            f"without a leading '/' or '..', e.g. 'Parity/Lambda/'; got {value!r}."
        )
    return value


def _required_env(name: str, meaning: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"Environment variable {name} is not set: it must hold {meaning}.")
    return value


def tmdb_credential(session: boto3.session.Session) -> str:
    """``TMDB_API_TOKEN``, else the secret named by ``TMDB_SECRET_ARN``. Never logged, never returned."""
    if token := os.environ.get("TMDB_API_TOKEN"):
        return token
    arn = _required_env("TMDB_SECRET_ARN", "the ARN of the TMDB credential's secret (or set TMDB_API_TOKEN)")
    client = session.client("secretsmanager")
    botocore_log = logging.getLogger("botocore")
    level = botocore_log.level
    # At DEBUG botocore logs response bodies: the secret's too.
    botocore_log.setLevel(max(level, logging.INFO))
    try:
        secret = client.get_secret_value(SecretId=arn).get("SecretString")
    finally:
        botocore_log.setLevel(level)
    if not secret:
        raise ValueError(f"Secret {arn} has no SecretString: store the TMDB credential as text.")
    try:
        parsed = json.loads(secret)
    except ValueError:
        return secret.strip()
    if not isinstance(parsed, dict):
        return secret.strip()
    if not isinstance(parsed.get(SECRET_JSON_KEY), str) or not parsed[SECRET_JSON_KEY]:
        raise ValueError(f"Secret {arn} is JSON without a non-empty string at key '{SECRET_JSON_KEY}'.")
    return parsed[SECRET_JSON_KEY].strip()

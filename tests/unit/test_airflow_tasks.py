"""The Airflow glue reads its settings from connections the way a task does, the run's day from its
partition, and announces what landed as partitioned asset events."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from datalake import settings
from datalake.airflow import assets
from datalake.airflow import tasks as airflow_tasks
from datalake.errors import InvalidConnection, InvalidParameter

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ0ZXN0In0.c2lnbmF0dXJl"


def connect(monkeypatch, **connection) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TMDB_DEFAULT", json.dumps({"conn_type": "http", **connection}))


def test_the_tmdb_connection_gives_base_url_credential_and_rate(monkeypatch):
    connect(monkeypatch, host="http://127.0.0.1:1/3", password=TOKEN, extra={"requests_per_second": 5})
    client = airflow_tasks.tmdb_client()
    assert client.base_url == "http://127.0.0.1:1/3"
    assert client.rate_limiter.interval == pytest.approx(0.2)


def test_a_redis_named_in_the_extra_keeps_the_budget_for_the_whole_cluster(monkeypatch):
    from datalake.tmdb.rate_limit import RateLimiter, SharedRateLimiter

    monkeypatch.delenv(settings.RATE_LIMIT_REDIS_URL_ENV, raising=False)
    connect(monkeypatch, host="http://127.0.0.1:1/3", password=TOKEN)
    assert isinstance(airflow_tasks.tmdb_client().rate_limiter, RateLimiter)
    connect(
        monkeypatch,
        host="http://127.0.0.1:1/3",
        password=TOKEN,
        extra={"rate_limit_redis_url": "redis://127.0.0.1:1/0"},
    )
    assert isinstance(airflow_tasks.tmdb_client().rate_limiter, SharedRateLimiter)


def test_the_environment_names_the_shared_store_when_the_extra_does_not(monkeypatch):
    from datalake.tmdb.rate_limit import SharedRateLimiter

    monkeypatch.setenv(settings.RATE_LIMIT_REDIS_URL_ENV, "redis://127.0.0.1:1/0")
    connect(monkeypatch, host="http://127.0.0.1:1/3", password=TOKEN)
    assert isinstance(airflow_tasks.tmdb_client().rate_limiter, SharedRateLimiter)


def test_a_host_without_scheme_is_refused_clearly(monkeypatch):
    connect(monkeypatch, host="api.themoviedb.org", password=TOKEN)
    with pytest.raises(
        InvalidConnection, match="host must be the TMDB base URL, e.g. https://api.themoviedb.org/3"
    ):
        airflow_tasks.tmdb_client()


def test_a_missing_credential_is_refused_clearly(monkeypatch):
    connect(monkeypatch, host="https://api.themoviedb.org/3")
    with pytest.raises(InvalidConnection, match="has no password"):
        airflow_tasks.tmdb_client()


def test_csv_sources_default_to_the_samples_and_follow_their_variables():
    from datalake.csvs.files import MOVIES

    template = airflow_tasks.csv_source_template(MOVIES)
    assert "var.value.get('movies_csv'" in template
    assert str(airflow_tasks.INCLUDE_DATA / "movies.csv") in template
    assert (airflow_tasks.INCLUDE_DATA / "movies.csv").is_file()


def dag_run(partition_key: str | None, logical_date: datetime | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        partition_key=partition_key,
        logical_date=logical_date,
        run_after=datetime(2026, 11, 30, 8, tzinfo=UTC),
    )


def test_a_partitioned_run_writes_under_its_partition_keys_day():
    assert airflow_tasks.run_day(dag_run("2026-11-27", datetime(2026, 11, 1, tzinfo=UTC))) == date(
        2026, 11, 27
    )


def test_a_run_without_partition_key_writes_under_its_logical_date_else_its_run_after():
    assert airflow_tasks.run_day(dag_run(None, datetime(2026, 11, 1, tzinfo=UTC))) == date(2026, 11, 1)
    assert airflow_tasks.run_day(dag_run(None)) == date(2026, 11, 30)


def test_a_partition_key_that_is_no_day_is_refused_naming_it():
    not_a_day = "Partition key '2026-11-27T00:00:00' is not a day of the lake"
    with pytest.raises(InvalidParameter, match=not_a_day):
        airflow_tasks.run_day(dag_run("2026-11-27T00:00:00"))


def test_an_event_carries_the_bucket_what_landed_and_the_day_as_its_partition(monkeypatch):
    from airflow.sdk.execution_time.context import OutletEventAccessors

    monkeypatch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", "lake-elsewhere")
    landed = [{"key": "Raw/_manifests/2026/11/27/datalake_raw_ingest.json", "bytes": 2, "sha256": "ab"}]
    outlet_events = OutletEventAccessors()
    airflow_tasks.announce(outlet_events, assets.RAW_MANIFESTS, date(2026, 11, 27), landed)
    event = outlet_events[assets.RAW_MANIFESTS]
    assert event.extra == {"bucket": "lake-elsewhere", "objects": landed}
    assert event.partition_keys == {"2026-11-27"}

"""TMDB answers that are not what they claim, injected for real by the sandbox over its socket: a 200 with a
proxy's HTML page, JSON that does not parse, a body cut short, stalled or trickling, JSON of the wrong shape,
a runaway body. A garbled answer is retried and heals; one that persists, or is of the wrong shape, fails
naming what was asked, the content type and the first bytes; none lands (``plugins/datalake/tmdb``)."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from urllib3.util.retry import Retry

from datalake import layout, settings
from datalake.airflow import retry_rules
from datalake.errors import Permanent, TmdbBadAnswer, TmdbUnexpectedAnswer
from datalake.lake import manifest
from datalake.tmdb.client import MAX_BODY_BYTES, TmdbClient
from datalake.tmdb.ranking import DiscoverQuery
from sandbox.tmdb_app import HTML_PAGE, MALFORMED_BODY
from tests.catalog import expected_top
from tests.conftest import REPO, TEST_BUCKET
from tests.tmdb_faults import tmdb_faults

SERIES = 209867
DETAILS = f"/3/tv/{SERIES}"
DISCOVER = "/3/discover/tv"
JSON_TYPE = "application/json;charset=utf-8"
FOUR_ATTEMPTS = Retry(total=3, backoff_factor=0, raise_on_status=False)
READ_TIMEOUT = 0.5
STALL = {"delay": 1.5}
"""Longer than the read timeout: the client stops waiting; the sandbox sends the body after it left."""


@pytest.fixture
def client(tmdb) -> TmdbClient:
    return TmdbClient(tmdb.credential, tmdb.base_url, timeout=(2.0, READ_TIMEOUT), retry=FOUR_ATTEMPTS)


@pytest.fixture(scope="module")
def clean(tmdb) -> dict[str, bytes]:
    """Each resource's answer with no fault, byte for byte."""
    client = TmdbClient(tmdb.credential, tmdb.base_url)
    return {
        DETAILS: client.tv_details(SERIES, "pt-BR").body,
        DISCOVER: client.discover_tv(DiscoverQuery(), 1).body,
    }


def ask(client: TmdbClient, path: str):
    return client.tv_details(SERIES, "pt-BR") if path == DETAILS else client.discover_tv(DiscoverQuery(), 1)


def asked_for(path: str) -> str:
    return f"TV series {SERIES}" if path == DETAILS else "discover page 1"


def first_bytes(body: bytes) -> str:
    """How an error quotes the start of ``body``: 60 characters, escaped, ``...`` if there is more."""
    return repr(body[:60].decode()) + ("..." if len(body) > 60 else "")


GARBLED = {
    "html": ("is not JSON", "text/html; charset=utf-8", lambda whole: HTML_PAGE),
    "malformed": ("does not parse as JSON (Expecting value", JSON_TYPE, lambda whole: MALFORMED_BODY),
    "invalid-json": ("does not parse as JSON (Unterminated string", JSON_TYPE, lambda whole: whole),
    "truncated": ("was cut short of the", JSON_TYPE, lambda whole: whole),
}
"""Each garbled answer: what the error says of it, its content type, and the bytes it starts with."""


# --- a garbled answer heals ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DETAILS, DISCOVER])
@pytest.mark.parametrize("fault", [*GARBLED, "stall", "trickle"])
def test_a_garbled_first_answer_is_retried_and_the_body_kept_is_the_valid_one(
    client, tmdb, clean, fault, path
):
    rule = {"path": path, "fault": fault, "times": 1, **STALL}
    if fault == "trickle":
        rule["delay"] = 0.3  # within the deadline: a slow body that arrives whole is a valid answer
    with tmdb_faults(tmdb, rule) as received:
        response = ask(client, path)
        attempts = [request for request in received() if request["path"] == path]
    assert response.body == clean[path]
    assert len(attempts) == (1 if fault == "trickle" else 2)


# --- a garbled answer that persists fails naming what came back ---------------------------------------


@pytest.mark.parametrize("path", [DETAILS, DISCOVER])
@pytest.mark.parametrize("fault", GARBLED)
def test_a_garbled_answer_that_persists_fails_naming_the_resource_the_content_type_and_the_first_bytes(
    client, tmdb, clean, fault, path
):
    problem, content_type, body = GARBLED[fault]
    with tmdb_faults(tmdb, {"path": path, "fault": fault, "probability": 1}) as received:
        with pytest.raises(TmdbBadAnswer) as failed:
            ask(client, path)
        attempts = [request for request in received() if request["path"] == path]
    message = str(failed.value)
    assert message.startswith(f"TMDB's answer for {asked_for(path)} {problem}"), message
    assert f"(HTTP 200, content type {content_type!r}, " in message
    assert f" starting {first_bytes(body(clean[path]))}) at " in message
    assert message.endswith(" s") and ": gave up after 4 attempts in " in message
    assert (failed.value.status, failed.value.content_type) == (200, content_type)
    assert not isinstance(failed.value, Permanent), "a proxy's page or a lost connection may heal"
    assert len(attempts) == 4
    assert tmdb.credential not in message


def test_a_body_that_stalls_after_the_headers_fails_after_the_read_timeout_of_each_attempt(client, tmdb):
    with tmdb_faults(tmdb, {"path": DETAILS, "fault": "stall", "probability": 1, **STALL}):
        started = time.monotonic()
        with pytest.raises(TmdbBadAnswer) as failed:
            client.tv_details(SERIES, "pt-BR")
    assert 4 * READ_TIMEOUT <= time.monotonic() - started < 4 * READ_TIMEOUT + 1.5
    assert str(failed.value).startswith(
        f"TMDB's answer for TV series {SERIES} stopped coming in (read timeout {READ_TIMEOUT:g} s) "
        f"(HTTP 200, content type {JSON_TYPE!r}, nothing of its body read) at "
    )


def test_a_body_that_trickles_in_is_given_up_at_the_deadline_not_after_every_read(tmdb):
    client = TmdbClient(tmdb.credential, tmdb.base_url, timeout=(0.2, READ_TIMEOUT), deadline=1.0)
    with tmdb_faults(tmdb, {"path": DETAILS, "fault": "trickle", "delay": 5, "probability": 1}):
        started = time.monotonic()
        with pytest.raises(TmdbBadAnswer) as failed:
            client.tv_details(SERIES, "pt-BR")
    assert time.monotonic() - started < 1.5, (
        "each piece came within the read timeout, so only the deadline stops it"
    )
    message = str(failed.value)
    assert f"TV series {SERIES} was still coming in when the 1 s deadline passed" in message
    assert " bytes read starting '{" in message and ": gave up after 1 attempt in 1." in message


# --- an answer of the wrong shape, or over the cap, fails at once -------------------------------------


WRONG_SHAPE = [
    ("no-id", DETAILS, f"has no 'id' (expected {SERIES})"),
    ("empty", DETAILS, f"has no 'id' (expected {SERIES})"),
    ("no-id", DISCOVER, "has result 1 without an integer 'id'"),
    ("results-not-list", DISCOVER, "has 'results' of type object, not array"),
    ("empty", DISCOVER, "has no 'results' array"),
]


@pytest.mark.parametrize(
    ("fault", "path", "problem"), WRONG_SHAPE, ids=[f"{f}-{p}" for f, p, _ in WRONG_SHAPE]
)
def test_an_answer_of_the_wrong_shape_fails_at_once_naming_the_resource_the_content_type_and_the_first_bytes(
    client, tmdb, fault, path, problem
):
    with tmdb_faults(tmdb, {"path": path, "fault": fault, "probability": 1}) as received:
        with pytest.raises(TmdbUnexpectedAnswer) as failed:
            ask(client, path)
        attempts = [request for request in received() if request["path"] == path]
    message = str(failed.value)
    assert message.startswith(
        f"TMDB's answer for {asked_for(path)} {problem} (HTTP 200, content type {JSON_TYPE!r}, "
    )
    assert " bytes starting '{" in message
    assert isinstance(failed.value, Permanent), "a well-formed document is served again as it is"
    assert len(attempts) == 1, "not retried: the same document would come back"


@pytest.mark.parametrize("path", [DETAILS, DISCOVER])
def test_a_huge_body_is_refused_at_the_cap_as_it_streams_without_holding_it(client, tmdb, path):
    """The sandbox streams 64 MiB (32 times the cap) with no Content-Length: the client stops past 2 MiB."""
    with tmdb_faults(tmdb, {"path": path, "fault": "huge", "probability": 1}) as received:
        tracemalloc.start()
        try:
            with pytest.raises(TmdbUnexpectedAnswer) as failed:
                ask(client, path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        attempts = [request for request in received() if request["path"] == path]
    assert peak < 3 * MAX_BODY_BYTES, f"held {peak} bytes"
    assert str(failed.value).startswith(
        f"TMDB's answer for {asked_for(path)} is larger than the client accepts (MAX_BODY_BYTES) "
        f"(HTTP 200, content type {JSON_TYPE!r}, more than {MAX_BODY_BYTES} bytes starting "
    )
    assert 'starting \'{"padding": "xxxxxxx' in str(failed.value)
    assert len(attempts) == 1


# --- the DAG: a partition lands complete and byte-identical, or is not marked complete ------------------


@pytest.fixture(scope="module")
def dag(local_s3, tmdb) -> Iterator[Any]:
    """The raw DAG on a fresh metadata DB, its connections and Variables pointing at the test services."""
    from airflow.utils import db

    db.initdb()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", local_s3.airflow_connection())
        patch.setenv("AIRFLOW_CONN_TMDB_DEFAULT", tmdb.airflow_connection())
        patch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", TEST_BUCKET)
        patch.delenv("AIRFLOW_VAR_LAMBDA_FUNCTION_NAME", raising=False)
        yield DagBag(dag_folder=str(REPO / "dags")).dags[settings.RAW_DAG_ID]


def run(dag, day: date):
    return dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))


def landed(lake_root, key: str) -> bytes | None:
    path = lake_root / TEST_BUCKET / key
    return path.read_bytes() if path.exists() else None


def test_details_first_answered_by_a_proxys_html_page_heal_and_the_partition_lands_byte_identical(
    dag, tmdb, local_s3, lake_root, monkeypatch
):
    """Every detail's first answer is the page, healed by the client's retry; one id's page outlasts the
    client's five attempts, so its task fails that try and its rule retries it (at once here)."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    day = date(2026, 9, 21)
    top = expected_top(DiscoverQuery())
    stubborn = top[5]
    client = TmdbClient(tmdb.credential, tmdb.base_url)
    valid = {series_id: client.tv_details(series_id, "pt-BR").body for series_id in top}
    monkeypatch.setattr(dag.get_task("fetch_series_details"), "retry_delay", timedelta(0))
    page = {"fault": "html", "times": 1}
    with tmdb_faults(
        tmdb, {**page, "path": f"/3/tv/{stubborn}", "times": 5}, {**page, "path": "/3/tv/*"}
    ) as received:
        dag_run = run(dag, day)
        asked = [request["path"] for request in received()]
    assert dag_run.state == "success"
    assert {series_id: asked.count(f"/3/tv/{series_id}") for series_id in top} == {
        series_id: 7 if series_id == stubborn else 2 for series_id in top
    }
    with create_session() as session:
        tries = session.query(TaskInstanceHistory).filter_by(
            run_id=dag_run.run_id, task_id="fetch_series_details"
        )
        assert [(ti.map_index, ti.retry_reason) for ti in tries] == [
            (top.index(stubborn), retry_rules.GARBLED_ANSWER.reason)
        ], "only the stubborn id's task was tried twice, retried by the garbled answer's rule"
    document = manifest.read_manifest(local_s3.client(), TEST_BUCKET, day, settings.RAW_DAG_ID)
    entries = {entry["key"]: entry for entry in document["objects"]}
    for series_id, body in valid.items():
        key = layout.details_key(day, series_id)
        assert landed(lake_root, key) == body, f"{key} is not TMDB's valid answer byte for byte"
        assert entries[key]["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_persistent_wrong_shape_for_one_id_fails_its_task_at_once_naming_it_and_marks_nothing_complete(
    dag, tmdb, lake_root, capfd
):
    day = date(2026, 9, 22)
    victim = expected_top(DiscoverQuery())[3]
    with tmdb_faults(tmdb, {"path": f"/3/tv/{victim}", "fault": "no-id", "probability": 1}) as received:
        dag_run = run(dag, day)
        asked = [request["path"] for request in received()]
    details = {
        int(ti.rendered_map_index): ti
        for ti in dag_run.get_task_instances()
        if ti.task_id == "fetch_series_details"
    }
    assert dag_run.state == "failed"
    assert (details[victim].state, details[victim].try_number) == ("failed", 1), "no retry"
    assert {ti.state for series_id, ti in details.items() if series_id != victim} == {"success"}
    assert asked.count(f"/3/tv/{victim}") == 1
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()}[
        "write_manifest"
    ] == "upstream_failed"
    assert landed(lake_root, layout.details_key(day, victim)) is None
    assert landed(lake_root, layout.manifest_key(day, settings.RAW_DAG_ID)) is None
    output = capfd.readouterr().out
    assert (
        f"TMDB's answer for TV series {victim} has no 'id' (expected {victim}) "
        f"(HTTP 200, content type {JSON_TYPE!r}, "
    ) in output
    assert ' bytes starting \'{"adult":false,' in output

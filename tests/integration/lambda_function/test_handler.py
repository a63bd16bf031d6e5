"""The handler in-process: event checks, settings, the credential's two sources, what it writes and
returns."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, date, datetime

import pytest

from datalake import layout
from datalake.lake.parity import PARITY_PREFIX
from datalake.tmdb.ranking import DiscoverQuery
from lambda_function import handler
from tests.catalog import expected_top
from tests.conftest import TEST_BUCKET

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:handler-test-XyZ123"


@pytest.fixture
def lambda_env(monkeypatch, local_s3, tmdb):
    """The environment a deployed function has, pointed at the local S3 through boto3's own setting."""
    for name in ("TMDB_API_TOKEN", "TMDB_SECRET_ARN", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATALAKE_BUCKET", TEST_BUCKET)
    monkeypatch.setenv("TMDB_BASE_URL", tmdb.base_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", local_s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", local_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", local_s3.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return monkeypatch


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"top_n": 0}, "'top_n' must be from 1 to 100"),
        ({"top_n": "10"}, "'top_n' must be an integer"),
        ({"top_n": True}, "'top_n' must be an integer"),
        ({"min_vote_count": -1}, "'min_vote_count' must be at least 0"),
        ({"language": "portuguese"}, "'language' must match"),
        ({"genre_id": 0}, "'genre_id' must be at least 1"),
        ({"origin_country": "jp"}, "'origin_country' must match"),
        ({"date": "27/11/2026"}, "'date' must be a date as YYYY-MM-DD"),
        ({"date": "2026-02-30"}, "'date' must be a date as YYYY-MM-DD"),
        ({"date": 20261127}, "'date' must be a date as YYYY-MM-DD"),
        ({"prefix": "Parity/Lambda"}, "'prefix' must be '' or a relative folder ending in '/'"),
        ({"prefix": "/Parity/"}, "'prefix' must be"),
        ({"prefix": "a/../b/"}, "'prefix' must be"),
        ({"prefix": None}, "'prefix' must be"),
        ({"topN": 5}, "Unknown event key(s) 'topN'; expected some of date, prefix, top_n"),
        (["top_n", 5], "The event must be a JSON object"),
    ],
)
def test_a_bad_event_fails_naming_the_key_and_what_was_expected(event, named):
    with pytest.raises(ValueError) as failure:
        handler.lambda_handler(event, None)
    assert named in str(failure.value)


def test_an_empty_event_takes_the_dags_defaults_and_todays_utc_date():
    assert handler.parse_event({}) == (datetime.now(UTC).date(), "", DiscoverQuery())


def test_every_event_key_is_read():
    event = {
        "date": "2026-11-27",
        "top_n": 3,
        "min_vote_count": 50,
        "language": "en-US",
        "genre_id": 18,
        "origin_country": "KR",
        "prefix": "Parity/Lambda/",
    }
    assert handler.parse_event(event) == (
        date(2026, 11, 27),
        "Parity/Lambda/",
        DiscoverQuery(3, 50, "en-US", 18, "KR"),
    )


def test_the_bucket_is_required(lambda_env):
    lambda_env.delenv("DATALAKE_BUCKET")
    with pytest.raises(ValueError, match="DATALAKE_BUCKET is not set"):
        handler.lambda_handler({}, None)


def test_a_credential_is_required(lambda_env):
    with pytest.raises(ValueError, match="TMDB_SECRET_ARN is not set.*or set TMDB_API_TOKEN"):
        handler.lambda_handler({}, None)


def test_with_the_token_in_the_environment_it_lands_the_ranked_objects(lambda_env, tmdb, lake_root):
    lambda_env.setenv("TMDB_API_TOKEN", tmdb.credential)
    day = date(2026, 3, 1)
    result = handler.lambda_handler({"date": day.isoformat(), "prefix": PARITY_PREFIX}, None)

    assert result["ids"] == expected_top(DiscoverQuery())
    keys = [layout.discover_key(day, 1, PARITY_PREFIX)] + [
        layout.details_key(day, series_id, PARITY_PREFIX) for series_id in result["ids"]
    ]
    assert [stored["key"] for stored in result["objects"]] == keys
    for stored in result["objects"]:
        body = (lake_root / TEST_BUCKET / stored["key"]).read_bytes()
        assert (stored["bytes"], stored["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert tmdb.credential not in json.dumps(result)


@pytest.mark.parametrize("shape", ["plain", "json"])
def test_the_credential_comes_from_secrets_manager_and_is_never_shown(
    shape, lambda_env, tmdb, secrets_manager, capsys, caplog
):
    secret = tmdb.credential if shape == "plain" else json.dumps({"TMDB_API_TOKEN": tmdb.credential})
    secrets_manager.secrets[SECRET_ARN] = secret
    lambda_env.setenv("TMDB_SECRET_ARN", SECRET_ARN)
    lambda_env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_manager.endpoint_url)
    caplog.set_level(logging.DEBUG)

    result = handler.lambda_handler({"date": "2026-03-02", "top_n": 2}, None)

    assert result["ids"] == expected_top(DiscoverQuery(top_n=2))
    shown = capsys.readouterr()
    for text in (shown.out, shown.err, caplog.text, json.dumps(result)):
        assert tmdb.credential not in text


def test_a_json_secret_without_the_key_is_refused_without_showing_it(lambda_env, secrets_manager):
    secrets_manager.secrets[SECRET_ARN] = json.dumps({"token": "eyJ-not-under-the-right-key"})
    lambda_env.setenv("TMDB_SECRET_ARN", SECRET_ARN)
    lambda_env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_manager.endpoint_url)
    with pytest.raises(ValueError) as failure:
        handler.lambda_handler({}, None)
    assert "without a non-empty string at key 'TMDB_API_TOKEN'" in str(failure.value)
    assert "eyJ-not-under-the-right-key" not in str(failure.value)


def test_the_environment_token_wins_over_the_secret(lambda_env, tmdb):
    lambda_env.setenv("TMDB_API_TOKEN", tmdb.credential)
    lambda_env.setenv("TMDB_SECRET_ARN", SECRET_ARN)
    lambda_env.setenv(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9"
    )  # nothing listens: never called
    result = handler.lambda_handler({"date": "2026-03-03", "top_n": 1}, None)
    assert result["ids"] == expected_top(DiscoverQuery(top_n=1))


def test_the_s3_client_is_reused_until_its_settings_change(monkeypatch):
    """A warm container keeps its client (building one costs more than a top-10 run's overhead), but a new
    endpoint or credential in the environment must never be served by the old one."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    first = handler.s3_client()
    assert handler.s3_client() is first
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:10")
    moved = handler.s3_client()
    assert moved is not first and moved.meta.endpoint_url == "http://127.0.0.1:10"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "rotated-secret")
    assert handler.s3_client() is not moved

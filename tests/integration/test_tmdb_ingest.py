"""discover -> rank -> details -> raw bodies, against the TMDB sandbox and a real S3 server (rclone)."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from urllib3.util.retry import Retry

from datalake import layout
from datalake.errors import TmdbBadAnswer, TmdbNotFound
from datalake.lake.schema import body_schema
from datalake.lake.storage import S3ObjectStore
from datalake.tmdb import ingest as tmdb_ingest
from datalake.tmdb.client import TmdbClient
from datalake.tmdb.ranking import DiscoverQuery
from tests.catalog import expected_top
from tests.conftest import TEST_BUCKET
from tests.tmdb_faults import tmdb_faults


@pytest.fixture
def store(local_s3):
    return S3ObjectStore(local_s3.client(), TEST_BUCKET)


@pytest.fixture
def client(tmdb):
    return TmdbClient(tmdb.credential, tmdb.base_url)


@pytest.mark.parametrize("top_n", [1, 10, 25])
def test_top_ids_follow_the_rule_whatever_the_page_order(client, store, top_n):
    query = DiscoverQuery(top_n=top_n)
    day = date(2026, 1, top_n)
    assert tmdb_ingest.discover_top_series(client, store, query, day).ids == expected_top(query)


def test_discover_pages_land_byte_for_byte(client, store, lake_root):
    day = date(2026, 2, 1)
    tmdb_ingest.discover_top_series(client, store, DiscoverQuery(top_n=25), day)
    for page in (1, 2):
        landed = (lake_root / TEST_BUCKET / layout.discover_key(day, page)).read_bytes()
        assert landed == client.discover_tv(DiscoverQuery(), page).body
    assert not (lake_root / TEST_BUCKET / layout.discover_key(day, 3)).exists()


def test_only_the_pages_the_ranking_needs_are_fetched(client, store, lake_root):
    day = date(2026, 2, 2)
    tmdb_ingest.discover_top_series(client, store, DiscoverQuery(top_n=3), day)
    assert (lake_root / TEST_BUCKET / layout.discover_key(day, 1)).exists()
    assert not (lake_root / TEST_BUCKET / layout.discover_key(day, 2)).exists()


def test_no_match_returns_no_ids(client, store):
    query = DiscoverQuery(origin_country="ZZ")
    assert tmdb_ingest.discover_top_series(client, store, query, date(2026, 2, 3)).ids == []


def test_a_past_partition_records_when_tmdb_answered_not_the_partitions_day(client, store):
    """A backfill lands today's TMDB under a past day: the entry's fetched_at (in the manifest) says when."""
    day = date(2020, 1, 1)
    before = layout.utc_timestamp()
    stored = tmdb_ingest.land_series_details(client, store, 209867, "pt-BR", day)
    after = layout.utc_timestamp()
    assert stored.key == layout.details_key(day, 209867)
    assert before <= stored.fetched_at <= after


def test_details_land_under_the_series_id(client, store, lake_root):
    day = date(2026, 2, 4)
    stored = tmdb_ingest.land_series_details(client, store, 209867, "pt-BR", day)
    landed = lake_root / TEST_BUCKET / layout.details_key(day, 209867)
    assert stored.key == layout.details_key(day, 209867)
    assert stored.bytes == landed.stat().st_size
    assert stored.sha256 == hashlib.sha256(landed.read_bytes()).hexdigest()
    assert json.loads(landed.read_bytes())["external_ids"]["imdb_id"]


def test_the_details_entry_carries_the_bodys_schema_and_discovery_tmdbs_total(client, store, lake_root):
    """What the schema-drift check and the discover-total volume read from the manifest."""
    day = date(2026, 2, 6)
    stored = tmdb_ingest.land_series_details(client, store, 209867, "pt-BR", day)
    body = json.loads((lake_root / TEST_BUCKET / layout.details_key(day, 209867)).read_bytes())
    assert stored.as_dict()["schema"] == body_schema(body)
    assert stored.schema["vote_count"] == "number" and stored.schema["genres"] == "array"
    discovery = tmdb_ingest.discover_top_series(client, store, DiscoverQuery(top_n=3), day)
    first_page = json.loads((lake_root / TEST_BUCKET / layout.discover_key(day, 1)).read_bytes())
    assert discovery.total_results == first_page["total_results"] > 3


def test_a_missing_series_writes_nothing(client, store, lake_root):
    day = date(2026, 2, 5)
    with pytest.raises(TmdbNotFound):
        tmdb_ingest.land_series_details(client, store, 999999999, "pt-BR", day)
    assert not (lake_root / TEST_BUCKET / layout.details_key(day, 999999999)).exists()


def test_the_sandbox_order_of_ties_differs_from_the_rule_so_re_ranking_matters(client):
    first_ten = [s["id"] for s in client.discover_tv(DiscoverQuery(), 1).data["results"][:10]]
    assert set(first_ten) != set(expected_top(DiscoverQuery()))


@pytest.fixture
def impatient(tmdb) -> TmdbClient:
    """Two attempts with no backoff, half a second per read: a persistent fault fails fast."""
    return TmdbClient(
        tmdb.credential, tmdb.base_url, timeout=(2.0, 0.5), retry=Retry(total=1, backoff_factor=0)
    )


PERSISTENT = {"probability": 1, "delay": 1.5}
"""A rule that fires on every request; a stall outlasts the read timeout."""


@pytest.mark.parametrize(
    "fault", ["html", "malformed", "truncated", "stall", "no-id", "results-not-list", "huge"]
)
def test_a_bad_discover_answer_writes_nothing(impatient, tmdb, store, lake_root, fault):
    day = date(2025, 3, 10)
    with tmdb_faults(tmdb, {"path": "/3/discover/tv", "fault": fault, **PERSISTENT}):
        with pytest.raises(TmdbBadAnswer, match="^TMDB's answer for discover page 1 "):
            tmdb_ingest.discover_top_series(impatient, store, DiscoverQuery(), day)
    assert not (lake_root / TEST_BUCKET / layout.tmdb_prefix(day)).exists()


def test_a_second_page_failing_leaves_the_first_unwritten(impatient, tmdb, store, lake_root):
    day = date(2025, 3, 3)
    page_one_untouched = {"path": "/3/discover/tv", "fault": "slow", "delay": 0, "times": 1}
    with tmdb_faults(
        tmdb, page_one_untouched, {"path": "/3/discover/tv", "fault": "html", **PERSISTENT}
    ) as received:
        with pytest.raises(TmdbBadAnswer, match="^TMDB's answer for discover page 2 is not JSON"):
            tmdb_ingest.discover_top_series(impatient, store, DiscoverQuery(top_n=25), day)
        pages = [request["query"]["page"] for request in received()]
    assert pages == ["1", "2", "2"]
    assert not (lake_root / TEST_BUCKET / layout.tmdb_prefix(day)).exists()


@pytest.mark.parametrize("fault", ["html", "invalid-json", "truncated", "stall", "no-id", "empty", "huge"])
def test_a_bad_details_answer_writes_nothing(impatient, tmdb, store, lake_root, fault):
    day = date(2025, 3, 4)
    with tmdb_faults(tmdb, {"path": "/3/tv/*", "fault": fault, **PERSISTENT}):
        with pytest.raises(TmdbBadAnswer, match="^TMDB's answer for TV series 209867 "):
            tmdb_ingest.land_series_details(impatient, store, 209867, "pt-BR", day)
    assert not (lake_root / TEST_BUCKET / layout.details_key(day, 209867)).exists()


def test_a_details_answer_garbled_once_lands_the_valid_answer_byte_for_byte(
    impatient, tmdb, store, lake_root
):
    day = date(2025, 3, 11)
    valid = impatient.tv_details(209867, "pt-BR").body
    with tmdb_faults(tmdb, {"path": "/3/tv/*", "fault": "truncated", "times": 1}):
        stored = tmdb_ingest.land_series_details(impatient, store, 209867, "pt-BR", day)
    assert (lake_root / TEST_BUCKET / stored.key).read_bytes() == valid
    assert stored.sha256 == hashlib.sha256(valid).hexdigest()

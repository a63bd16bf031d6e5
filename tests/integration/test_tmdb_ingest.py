"""discover -> rank -> details -> raw bodies, against the TMDB sandbox and a real S3 server (rclone)."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest

from datalake import layout
from datalake.errors import TmdbError, TmdbNotFound
from datalake.lake.schema import body_schema
from datalake.lake.storage import S3ObjectStore
from datalake.tmdb import ingest as tmdb_ingest
from datalake.tmdb.client import TmdbClient
from datalake.tmdb.ranking import DiscoverQuery
from tests.catalog import expected_top
from tests.conftest import TEST_BUCKET


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
def faults(tmdb):
    """Sets the sandbox's fault rules for one test."""
    import requests

    admin = tmdb.base_url.removesuffix("/3")

    def set_rules(*rules: dict) -> None:
        requests.put(f"{admin}/_sandbox/faults", json=list(rules), timeout=5).raise_for_status()

    yield set_rules
    requests.delete(f"{admin}/_sandbox/faults", timeout=5).raise_for_status()


@pytest.mark.parametrize("fault", ["malformed", "empty"])
def test_a_bad_discover_answer_writes_nothing(client, store, lake_root, faults, fault):
    faults({"path": "/3/discover/tv", "fault": fault, "times": 1})
    day = date(2025, 3, 1 if fault == "malformed" else 2)
    with pytest.raises(TmdbError, match="not JSON" if fault == "malformed" else "without 'results'"):
        tmdb_ingest.discover_top_series(client, store, DiscoverQuery(), day)
    assert not (lake_root / TEST_BUCKET / layout.tmdb_prefix(day)).exists()


def test_a_second_page_failing_leaves_the_first_unwritten(client, store, lake_root):
    class SecondPageFails:
        def discover_tv(self, query, page):
            if page == 2:
                raise TmdbError("page 2 is down", url="/discover/tv?page=2")
            return client.discover_tv(query, page)

    day = date(2025, 3, 3)
    with pytest.raises(TmdbError, match="page 2"):
        tmdb_ingest.discover_top_series(SecondPageFails(), store, DiscoverQuery(top_n=25), day)
    assert not (lake_root / TEST_BUCKET / layout.tmdb_prefix(day)).exists()


@pytest.mark.parametrize("fault", ["malformed", "empty"])
def test_a_bad_details_answer_writes_nothing(client, store, lake_root, faults, fault):
    faults({"path": "/3/tv/*", "fault": fault, "times": 1})
    day = date(2025, 3, 4 if fault == "malformed" else 5)
    with pytest.raises(TmdbError):
        tmdb_ingest.land_series_details(client, store, 209867, "pt-BR", day)
    assert not (lake_root / TEST_BUCKET / layout.details_key(day, 209867)).exists()

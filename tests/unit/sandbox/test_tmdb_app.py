"""The TMDB sandbox answers like TMDB v3, and its catalog holds the cases the product must get right."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import pytest

from sandbox.tmdb_app import create_app

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 here; plain httpx still works for these tests.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[3]
CATALOG = REPO / "include" / "data" / "tmdb_catalog.json"
SERIES_CSV = REPO / "include" / "data" / "series.csv"
MOVIES_CSV = REPO / "include" / "data" / "movies.csv"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.sandbox.test"
API_KEY = "0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

PRODUCT_QUERY = {
    "language": "pt-BR",
    "sort_by": "vote_average.desc",
    "with_genres": "16",
    "with_origin_country": "JP",
    "vote_count.gte": "200",
    "include_adult": "false",
}
# vote_average desc, vote_count desc, id asc over the product's query: 42509 beats 88803 only on id.
EXPECTED_TOP10 = [209867, 31911, 1429, 85937, 46298, 37854, 13916, 95479, 60863, 42509]
ELEVENTH = 88803
MATCHING = 36

DETAIL_FIELDS = {
    "id",
    "name",
    "original_name",
    "original_language",
    "origin_country",
    "overview",
    "first_air_date",
    "last_air_date",
    "status",
    "type",
    "number_of_seasons",
    "number_of_episodes",
    "episode_run_time",
    "genres",
    "networks",
    "production_companies",
    "vote_average",
    "vote_count",
    "popularity",
    "poster_path",
    "backdrop_path",
    "adult",
    "in_production",
    "languages",
    "spoken_languages",
    "seasons",
    "external_ids",
}
LIST_ITEM_FIELDS = [
    "adult",
    "backdrop_path",
    "genre_ids",
    "id",
    "origin_country",
    "original_language",
    "original_name",
    "overview",
    "popularity",
    "poster_path",
    "first_air_date",
    "name",
    "vote_average",
    "vote_count",
]


def rank_key(series: dict) -> tuple:
    return (-series["vote_average"], -series["vote_count"], series["id"])


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    return json.loads(CATALOG.read_text(encoding="utf-8"))["series"]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(CATALOG, [TOKEN, API_KEY]))


def discover(client: TestClient, **params: str | int) -> dict:
    response = client.get("/3/discover/tv", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def all_results(client: TestClient, **params: str | int) -> list[dict]:
    first = discover(client, **params)
    pages = [first] + [discover(client, **params, page=n) for n in range(2, first["total_pages"] + 1)]
    return [series for page in pages for series in page["results"]]


def ids(results: list[dict]) -> set[int]:
    return {series["id"] for series in results}


def is_japanese_animation(series: dict) -> bool:
    return "JP" in series["origin_country"] and 16 in [g["id"] for g in series["genres"]]


# --- credentials -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, params", [(AUTH, {}), ({}, {"api_key": API_KEY}), ({"Authorization": f"Bearer {API_KEY}"}, {})]
)
def test_accepts_a_bearer_token_or_an_api_key(client, headers, params):
    response = client.get("/3/tv/1429", headers=headers, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"


@pytest.mark.parametrize(
    "headers, params",
    [
        ({}, {}),
        ({"Authorization": "Bearer wrong"}, {}),
        ({}, {"api_key": "wrong"}),
        ({"Authorization": f"Basic {TOKEN}"}, {}),
        ({"Authorization": "Bearer "}, {"api_key": ""}),
    ],
)
def test_refuses_missing_or_wrong_credentials_with_tmdb_code_7(client, headers, params):
    for path in ("/3/discover/tv", "/3/tv/1429"):
        response = client.get(path, headers=headers, params=params)
        assert response.status_code == 401
        assert response.json() == {
            "status_code": 7,
            "status_message": "Invalid API key: You must be granted a valid key.",
            "success": False,
        }


def test_no_credential_is_accepted_when_none_is_configured():
    response = TestClient(create_app(CATALOG, [""])).get(
        "/3/discover/tv", headers={"Authorization": "Bearer "}
    )
    assert response.status_code == 401


# --- discover: filters -----------------------------------------------------------------------------


def test_discover_result_has_tmdb_list_item_shape(client, catalog):
    item = discover(client, **PRODUCT_QUERY)["results"][0]
    assert list(item) == LIST_ITEM_FIELDS
    source = next(series for series in catalog if series["id"] == item["id"])
    assert item["genre_ids"] == [genre["id"] for genre in source["genres"]]
    assert "external_ids" not in item and "seasons" not in item


def test_product_query_keeps_exactly_the_matching_japanese_animation(client, catalog):
    expected = {
        s["id"] for s in catalog if is_japanese_animation(s) and s["vote_count"] >= 200 and not s["adult"]
    }
    assert len(expected) == MATCHING
    assert ids(all_results(client, **PRODUCT_QUERY)) == expected


def test_genre_filter(client):
    animation = all_results(client, with_genres="16")
    assert all(16 in series["genre_ids"] for series in animation)
    everything = ids(all_results(client))
    assert 110316 in everything - ids(animation)  # Alice in Borderland: live action
    both = all_results(client, with_genres="16,35")
    assert both and all({16, 35} <= set(series["genre_ids"]) for series in both)
    either = all_results(client, with_genres="35|9648")
    assert all({35, 9648} & set(series["genre_ids"]) for series in either)
    assert ids(both) < ids(animation) and len(either) > len(all_results(client, with_genres="35"))


def test_origin_country_filter(client):
    japanese = all_results(client, with_origin_country="JP")
    assert japanese and all("JP" in series["origin_country"] for series in japanese)
    assert 94605 not in ids(japanese)  # Arcane
    either = ids(all_results(client, with_origin_country="JP|FR"))
    assert either == ids(japanese) | {94605}


def test_vote_count_threshold_is_inclusive(client):
    kept = ids(all_results(client, **{"vote_count.gte": 200}))
    assert 43865 in kept  # Mushishi: exactly 200 votes
    assert 68129 not in kept  # March Comes In Like a Lion: 199 votes
    assert {34086, 61456, 110070}.isdisjoint(kept)
    assert all(series["vote_count"] >= 200 for series in all_results(client, **{"vote_count.gte": 200}))


def test_vote_average_threshold(client):
    results = all_results(client, **{"vote_average.gte": 8.7})
    assert results and all(series["vote_average"] >= 8.7 for series in results)


def test_adult_series_appear_only_when_asked(client):
    adult_id = 237861
    assert adult_id not in ids(all_results(client))
    assert adult_id not in ids(all_results(client, include_adult="false"))
    assert adult_id in ids(all_results(client, include_adult="true"))


# --- discover: order and pages --------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort_by, field, descending",
    [
        ("vote_average.desc", "vote_average", True),
        ("vote_average.asc", "vote_average", False),
        ("vote_count.desc", "vote_count", True),
        ("popularity.desc", "popularity", True),
        ("first_air_date.desc", "first_air_date", True),
    ],
)
def test_sort_orders(client, sort_by, field, descending):
    values = [series[field] for series in all_results(client, sort_by=sort_by)]
    assert values == sorted(values, reverse=descending)


def test_default_sort_is_popularity(client):
    values = [series["popularity"] for series in all_results(client)]
    assert values == sorted(values, reverse=True)


def test_ties_do_not_come_in_the_products_order(client):
    """Like TMDB, discover orders ties its own way; only a re-rank gives the expected top 10."""
    page = discover(client, **PRODUCT_QUERY)["results"]
    discover_order = [series["id"] for series in page]
    assert discover_order[:10] != EXPECTED_TOP10
    assert ELEVENTH in discover_order[:10]
    assert [series["id"] for series in sorted(page, key=rank_key)][:10] == EXPECTED_TOP10


@pytest.mark.parametrize(
    "params",
    [
        {"sort_by": "rating.desc"},
        {"sort_by": "vote_average"},
        {"include_adult": "maybe"},
        {"vote_count.gte": "many"},
    ],
)
def test_invalid_parameters_are_tmdb_code_47(client, params):
    response = client.get("/3/discover/tv", params=params, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {
        "status_code": 47,
        "status_message": "The input is not valid.",
        "success": False,
    }


def test_pages_of_twenty(client):
    first = discover(client, **PRODUCT_QUERY, page=1)
    second = discover(client, **PRODUCT_QUERY, page=2)
    assert (first["page"], len(first["results"]), first["total_pages"], first["total_results"]) == (
        1,
        20,
        2,
        36,
    )
    assert (second["page"], len(second["results"]), second["total_pages"]) == (2, 16, 2)
    assert ids(first["results"]).isdisjoint(ids(second["results"]))
    assert min(s["vote_average"] for s in first["results"]) >= max(
        s["vote_average"] for s in second["results"]
    )


@pytest.mark.parametrize("page", [3, 500])
def test_page_past_the_last_is_empty_with_totals(client, page):
    assert discover(client, **PRODUCT_QUERY, page=page) == {
        "page": page,
        "results": [],
        "total_pages": 2,
        "total_results": MATCHING,
    }


@pytest.mark.parametrize("page", ["0", "501", "x", "1.5", "-1", ""])
def test_invalid_page_is_tmdb_code_22(client, page):
    response = client.get("/3/discover/tv", params={"page": page}, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {
        "status_code": 22,
        "status_message": "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.",  # noqa: E501 (verbatim data)
        "success": False,
    }


def test_no_match_is_one_empty_page(client):
    assert discover(client, with_origin_country="BR") == {
        "page": 1,
        "results": [],
        "total_pages": 1,
        "total_results": 0,
    }


# --- /tv/{id} -------------------------------------------------------------------------------------


def test_details_without_external_ids_by_default(client, catalog):
    response = client.get("/3/tv/209867", params={"language": "pt-BR"}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    expected = next(series for series in catalog if series["id"] == 209867)
    assert "external_ids" not in body
    assert body == {key: value for key, value in expected.items() if key != "external_ids"}


@pytest.mark.parametrize("append", ["external_ids", "images,external_ids", "credits, external_ids"])
def test_details_append_external_ids(client, append):
    body = client.get("/3/tv/42509", params={"append_to_response": append}, headers=AUTH).json()
    assert body["id"] == 42509
    assert body["external_ids"]["imdb_id"] == "tt1910272"
    assert "images" not in body and "credits" not in body


def test_details_other_appends_are_ignored(client):
    body = client.get("/3/tv/42509", params={"append_to_response": "images"}, headers=AUTH).json()
    assert "external_ids" not in body


@pytest.mark.parametrize("path", ["/3/tv/999999999", "/3/tv/abc", "/3/tv/-1", "/3/movie/550", "/3/tv", "/"])
def test_unknown_resource_is_tmdb_code_34(client, path):
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.json() == {
        "status_code": 34,
        "status_message": "The resource you requested could not be found.",
        "success": False,
    }


def test_latency_delays_each_answer():
    slow = TestClient(create_app(CATALOG, [TOKEN], latency=0.05))
    started = time.perf_counter()
    slow.get("/3/tv/1429", headers=AUTH)
    assert time.perf_counter() - started >= 0.05


# --- the catalog ----------------------------------------------------------------------------------


def test_catalog_entries_are_tmdb_details(catalog):
    assert len(catalog) >= 45
    assert len({series["id"] for series in catalog}) == len(catalog)
    for series in catalog:
        assert DETAIL_FIELDS <= set(series), series["id"]
        numbered = [season for season in series["seasons"] if season["season_number"] >= 1]
        assert len(numbered) == series["number_of_seasons"], series["id"]
        assert sum(season["episode_count"] for season in numbered) == series["number_of_episodes"], series[
            "id"
        ]
        assert [season["season_number"] for season in numbered] == list(range(1, len(numbered) + 1))
        assert series["in_production"] == (series["status"] == "Returning Series")
        assert series["external_ids"]["imdb_id"].startswith("tt")
        assert all({"id", "name"} == set(genre) for genre in series["genres"])


def test_catalog_makes_every_filter_matter(catalog):
    matching = sorted(
        (s for s in catalog if is_japanese_animation(s) and s["vote_count"] >= 200 and not s["adult"]),
        key=rank_key,
    )
    assert len(matching) > 20  # two discover pages
    cut = matching[9]
    above_cut = [s for s in catalog if rank_key(s) < rank_key(cut)]
    assert sum(not is_japanese_animation(s) and 16 in [g["id"] for g in s["genres"]] for s in above_cut) >= 3
    assert any("JP" in s["origin_country"] and 16 not in [g["id"] for g in s["genres"]] for s in above_cut)
    assert sum(is_japanese_animation(s) and s["vote_count"] < 200 for s in above_cut) >= 3
    assert any(is_japanese_animation(s) and s["adult"] and s["vote_count"] >= 200 for s in above_cut)


def test_catalog_ties_decide_the_top_ten(catalog):
    matching = sorted(
        (s for s in catalog if is_japanese_animation(s) and s["vote_count"] >= 200 and not s["adult"]),
        key=rank_key,
    )
    top = matching[:10]
    assert [s["id"] for s in top] == EXPECTED_TOP10
    averages = [s["vote_average"] for s in top]
    assert any(
        averages.count(a) > 1 and len({s["vote_count"] for s in top if s["vote_average"] == a}) > 1
        for a in averages
    )
    tenth, eleventh = matching[9], matching[10]
    assert (tenth["vote_average"], tenth["vote_count"]) == (eleventh["vote_average"], eleventh["vote_count"])
    assert tenth["id"] < eleventh["id"] == ELEVENTH
    assert eleventh["popularity"] > tenth["popularity"]  # so discover lists the 11th first


def test_series_csv_holds_the_top_ten_by_imdb_id(catalog):
    by_id = {series["id"]: series for series in catalog}
    rows = [line.split("|") for line in SERIES_CSV.read_text(encoding="utf-8").splitlines()]
    assert len(rows[0]) == 16 and rows[0][4] == "anoTermino" and all(len(row) == 16 for row in rows)
    for tv_id in EXPECTED_TOP10 + [ELEVENTH]:
        imdb_id = by_id[tv_id]["external_ids"]["imdb_id"]
        assert sum(row[0] == imdb_id for row in rows) >= 3, imdb_id
    movie_rows = [line.split("|") for line in MOVIES_CSV.read_text(encoding="utf-8").splitlines()]
    assert movie_rows[0][1] == "tituloPincipal" and all(len(row) == 15 for row in movie_rows)

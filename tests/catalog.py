"""The expected top ids, computed straight from a sandbox catalog with the documented filters."""

from __future__ import annotations

import json
from pathlib import Path

from datalake.tmdb.ranking import DiscoverQuery, rank

CATALOG = Path(__file__).resolve().parents[1] / "include" / "data" / "tmdb_catalog.json"


def expected_top(query: DiscoverQuery, catalog: Path = CATALOG) -> list[int]:
    series = json.loads(catalog.read_text())["series"]
    eligible = [
        s
        for s in series
        if query.genre_id in [genre["id"] for genre in s["genres"]]
        and query.origin_country in s["origin_country"]
        and s["vote_count"] >= query.min_vote_count
        and not s["adult"]
    ]
    return [s["id"] for s in rank(eligible, query.top_n)]

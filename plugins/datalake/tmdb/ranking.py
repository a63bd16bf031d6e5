"""The TMDB discover query and the deterministic top-N it feeds.

TMDB sorts by ``vote_average`` only and orders ties arbitrarily, so the ranking is redone
here with a total order: vote_average desc, then vote_count desc, then id asc.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_PAGE = 500
"""TMDB serves discover pages 1..500."""


@dataclass(frozen=True)
class DiscoverQuery:
    """Top-rated series of one genre and origin country; defaults ask for Japanese animation."""

    top_n: int = 10
    min_vote_count: int = 200
    language: str = "pt-BR"
    genre_id: int = 16
    origin_country: str = "JP"

    def params(self, page: int) -> dict[str, str | int]:
        """Query string of ``GET /discover/tv`` for one page."""
        return {
            "language": self.language,
            "sort_by": "vote_average.desc",
            "with_genres": self.genre_id,
            "with_origin_country": self.origin_country,
            "vote_count.gte": self.min_vote_count,
            "include_adult": "false",
            "page": page,
        }


def rank_key(series: Mapping[str, Any]) -> tuple[float, int, int]:
    return (-float(series["vote_average"]), -int(series["vote_count"]), int(series["id"]))


def rank(results: Iterable[Mapping[str, Any]], top_n: int) -> list[Mapping[str, Any]]:
    """The top_n results by the total order, each id once."""
    unique = {int(series["id"]): series for series in results}
    return sorted(unique.values(), key=rank_key)[:top_n]


def cut_is_final(seen: Iterable[Mapping[str, Any]], last_page: list[Mapping[str, Any]], top_n: int) -> bool:
    """Whether later pages can no longer change the top_n.

    Pages come sorted by vote_average desc, so a later page holds nothing rated above the
    last page's lowest score; only a tie with the n-th series could still enter the top.
    """
    if not last_page:
        return True
    top = rank(seen, top_n)
    if len(top) < top_n:
        return False
    lowest_on_page = min(float(series["vote_average"]) for series in last_page)
    return lowest_on_page < float(top[-1]["vote_average"])

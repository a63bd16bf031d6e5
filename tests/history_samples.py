"""Report tables and checks of made partitions, shared by the history's tests of every tier."""

from __future__ import annotations

from datetime import date

import polars as pl

from datalake.report import comparison, history

DAYS = [date(2026, 4, 1), date(2026, 4, 2), date(2026, 4, 3)]


def table(*ranked: tuple[int, str, float]) -> pl.DataFrame:
    """A report table (the history's columns of it) ranking ``(tmdb id, name, vote average)`` in order."""
    return pl.DataFrame(
        [
            {
                "rank": rank,
                "tmdb_id": tmdb_id,
                "name": name,
                "tmdb_vote_average": average,
                "tmdb_vote_count": 1000 + rank,
                "imdb_rating": 8.5 if tmdb_id % 2 else None,
                "imdb_votes": 500 if tmdb_id % 2 else None,
                "status": "Ended",
            }
            for rank, (tmdb_id, name, average) in enumerate(ranked, start=1)
        ]
    ).cast({column: comparison.SCHEMA[column] for column in history.SCHEMA if column != "date"})


TABLES = {
    DAYS[0]: table((1, "One", 9.0), (2, "Two", 8.8), (3, "Three", 8.5)),
    DAYS[1]: table((2, "Two", 9.1), (1, "One", 8.9), (4, "Four", 8.4)),
}
CHECKS = {
    DAYS[0]: [
        {
            "name": "previous partition",
            "level": "pass",
            "observed": "first partition",
            "expected": "an earlier complete partition",
            "compared_with": None,
        }
    ],
    DAYS[1]: [
        {
            "name": "TMDB top N left",
            "level": "warn",
            "observed": "1: 3 Three",
            "expected": "the same series as that partition's top 3",
            "compared_with": "2026-04-01",
        }
    ],
}

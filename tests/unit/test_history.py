"""The ranking over time: rows from each reported partition, the page, and the partition page's link
and checks."""

from __future__ import annotations

import posixpath
import re
from datetime import date

import polars as pl

from datalake import layout
from datalake.csvs.files import SERIES
from datalake.lake import checks
from datalake.report import comparison, history
from datalake.report import files as report_files

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


def test_one_row_per_partition_and_ranked_series_with_the_history_columns():
    rows = history.history_rows(TABLES)
    assert rows.schema == pl.Schema(history.SCHEMA)
    assert rows.select("date", "rank", "tmdb_id").rows() == [
        (DAYS[0], 1, 1),
        (DAYS[0], 2, 2),
        (DAYS[0], 3, 3),
        (DAYS[1], 1, 2),
        (DAYS[1], 2, 1),
        (DAYS[1], 3, 4),
    ]
    assert rows.filter(pl.col("tmdb_id") == 2)["tmdb_vote_average"].to_list() == [8.8, 9.1]
    assert rows.filter(pl.col("tmdb_id") == 1)["imdb_rating"].to_list() == [8.5, 8.5]
    assert rows.filter(pl.col("tmdb_id") == 2)["imdb_votes"].to_list() == [None, None]


def test_no_table_gives_no_rows_with_the_columns():
    assert history.history_rows({}).schema == pl.Schema(history.SCHEMA)


def test_with_one_partition_the_page_says_so_and_draws_no_chart():
    single = history.History(history.history_rows({DAYS[0]: TABLES[DAYS[0]]}), {DAYS[0]: CHECKS[DAYS[0]]})
    page = history.to_html(single).decode()
    assert "Only one partition so far (2026-04-01)" in page
    assert "<img" not in page
    assert 'id="checks-table-2026-04-01"' in page


def test_with_two_partitions_the_page_has_both_charts_and_each_partitions_checks_newest_first():
    page = history.to_html(history.History(history.history_rows(TABLES), CHECKS, (DAYS[2],))).decode()
    assert re.findall(r'<img id="([\w-]+)"', page) == ["chart-bump", "chart-vote-average"]
    assert page.index('id="checks-2026-04-02"') < page.index('id="checks-2026-04-01"')
    assert '<tr class="check-warn"><td>TMDB top N left</td>' in page
    assert "not reported yet, so not in the history: 2026-04-03" in page


def test_the_partition_page_links_to_the_history_and_shows_its_own_checks():
    empty = comparison.comparison(
        comparison.tmdb_series([], []), comparison.imdb_titles(f"{SERIES.header}\n".encode())
    )
    built = comparison.Report(
        table=empty, day=DAYS[1], run_id="r", params={}, fetched_at=None, checks=tuple(CHECKS[DAYS[1]])
    )
    page = report_files.to_html(built).decode()
    link = re.search(r'<a id="history-link" href="([^"]+)"', page).group(1)
    resolved = posixpath.normpath(posixpath.join(layout.report_prefix(DAYS[1]), link))
    assert resolved == layout.history_key("html")
    assert checks.to_html_table(CHECKS[DAYS[1]], "checks") in page

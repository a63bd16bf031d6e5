"""The ranking over time: rows from each reported partition, the page, and the partition page's link
and checks."""

from __future__ import annotations

import posixpath
import re
from datetime import date

import polars as pl

from datalake import layout
from datalake.csvs.files import SERIES
from datalake.lake import checks, metrics
from datalake.report import comparison, history
from datalake.report import files as report_files
from tests.history_samples import CHECKS, DAYS, TABLES


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


def test_the_history_page_shows_each_metrics_recent_history_with_its_band_and_a_chart_per_csv():
    from tests.unit.test_checks import manifest, run_checks

    documents = [manifest(DAYS[0]), manifest(DAYS[1], series_rows=320), manifest(DAYS[2], series_rows=160)]
    recorded = {
        date.fromisoformat(document["partition"]): [
            check.as_dict() for check in run_checks(document, documents[:number])
        ]
        for number, document in enumerate(documents)
    }
    tables = {**TABLES, DAYS[2]: TABLES[DAYS[1]]}
    values = {date.fromisoformat(document["partition"]): metrics.values(document) for document in documents}
    page = history.to_html(history.History(history.history_rows(tables), recorded, (), values)).decode()
    assert re.findall(r'<img id="([\w-]+)"', page) == [
        "chart-bump",
        "chart-vote-average",
        "chart-movies",
        "chart-series",
    ]
    row = re.search(r"<tr><th>series.csv rows</th>(.*?)</tr>", page).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", row) == [
        "316 rows",
        "320 rows",
        "160 rows",
        "percent band",
        "288 to 352",
    ], "each day's value, then the newest day's method and band"
    assert '<td class="check-warn">160 rows</td>' in row
    assert "<tr><th>series.csv anoTermino null rate</th>" in page
    assert page.index('id="metrics"') < page.index('id="checks-2026-04-03"')


def test_without_recorded_metrics_the_history_page_has_no_metric_section():
    page = history.to_html(history.History(history.history_rows(TABLES), CHECKS)).decode()
    assert 'id="metrics"' not in page and 'id="metric-history"' not in page


def test_the_partition_page_shows_each_sources_freshness_and_says_when_none_was_recorded():
    empty = comparison.comparison(
        comparison.tmdb_series([], []), comparison.imdb_titles(f"{SERIES.header}\n".encode())
    )
    fresh = {
        "movies.csv": {"partition": "2026-04-02", "fetched_at": "2026-03-25T00:00:00+00:00", "age_days": 8.25}
    }
    built = comparison.Report(
        table=empty, day=DAYS[1], run_id="r", params={}, fetched_at=None, freshness=fresh
    )
    page = report_files.to_html(built).decode()
    assert (
        "<li>movies.csv: 8.2 days old (fetched 2026-03-25T00:00:00+00:00, partition 2026-04-02)</li>" in page
    )
    older = comparison.Report(table=empty, day=DAYS[1], run_id="r", params={}, fetched_at=None)
    assert "No freshness recorded for this partition." in report_files.to_html(older).decode()

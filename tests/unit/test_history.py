"""The ranking over time: rows from each reported partition, the page (in Chromium too), and the partition
page's link and checks."""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from datalake import layout, settings
from datalake.csvs.files import SERIES
from datalake.lake import checks, manifest
from datalake.lake.storage import S3ObjectStore
from datalake.report import comparison, history
from datalake.report import files as report_files
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromium_or_skip

HISTORY_BUCKET = "datalake-history-test"
DAYS = [date(2026, 4, 1), date(2026, 4, 2), date(2026, 4, 3)]


def table(*ranked: tuple[int, str, float]) -> pl.DataFrame:
    """A report table (the history's columns of it) ranking ``(tmdb id, name, vote average)`` in order."""
    return pl.DataFrame(
        [
            {"rank": rank, "tmdb_id": tmdb_id, "name": name, "tmdb_vote_average": average,
             "tmdb_vote_count": 1000 + rank, "imdb_rating": 8.5 if tmdb_id % 2 else None,
             "imdb_votes": 500 if tmdb_id % 2 else None, "status": "Ended"}
            for rank, (tmdb_id, name, average) in enumerate(ranked, start=1)
        ]
    ).cast({column: comparison.SCHEMA[column] for column in history.SCHEMA if column != "date"})


TABLES = {
    DAYS[0]: table((1, "One", 9.0), (2, "Two", 8.8), (3, "Three", 8.5)),
    DAYS[1]: table((2, "Two", 9.1), (1, "One", 8.9), (4, "Four", 8.4)),
}
CHECKS = {
    DAYS[0]: [{"name": "previous partition", "level": "pass", "observed": "first partition",
               "expected": "an earlier complete partition", "compared_with": None}],
    DAYS[1]: [{"name": "TMDB top N left", "level": "warn", "observed": "1: 3 Three",
               "expected": "the same series as that partition's top 3", "compared_with": "2026-04-01"}],
}


def test_one_row_per_partition_and_ranked_series_with_the_history_columns():
    rows = history.history_rows(TABLES)
    assert rows.schema == pl.Schema(history.SCHEMA)
    assert rows.select("date", "rank", "tmdb_id").rows() == [
        (DAYS[0], 1, 1), (DAYS[0], 2, 2), (DAYS[0], 3, 3), (DAYS[1], 1, 2), (DAYS[1], 2, 1), (DAYS[1], 3, 4),
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


def put_partition(store: S3ObjectStore, day: date, reported: pl.DataFrame | None, found: list[dict]) -> None:
    document = manifest.build_manifest(dag_id=settings.RAW_DAG_ID, run_id=f"run-{day}", logical_date=None,
                                       day=day, params={}, ranking=[], objects=[])
    manifest.store_manifest(store, {**document, "checks": found})
    if reported is not None:
        buffer = io.BytesIO()
        reported.write_parquet(buffer)
        key = layout.report_key(day, "parquet")
        store.client.put_object(Bucket=store.bucket, Key=key, Body=buffer.getvalue())


def test_the_history_is_read_from_each_complete_partitions_manifest_and_report_and_written_whole(local_s3):
    """In a bucket of its own: the history takes every complete partition of the lake."""
    client = local_s3.client()
    client.create_bucket(Bucket=HISTORY_BUCKET)
    store = S3ObjectStore(client, HISTORY_BUCKET)
    for day, reported in TABLES.items():
        put_partition(store, day, reported, CHECKS[day])
    put_partition(store, DAYS[2], None, [])
    store.client.put_object(Bucket=HISTORY_BUCKET, Key=layout.report_key(date(2026, 4, 4), "parquet"),
                            Body=b"not a partition: no manifest")

    built = history.read_history(store.client, HISTORY_BUCKET)
    assert built.days == DAYS[:2] and built.unreported == (DAYS[2],)
    assert built.checks == CHECKS
    assert built.table.equals(history.history_rows(TABLES))

    stored = history.write_history(store, built)
    assert [entry.key for entry in stored] == [layout.history_key("parquet"), layout.history_key("html")]
    assert [entry.key for entry in stored] == [
        "Refined/Reports/AnimeTop10/history.parquet", "Refined/Reports/AnimeTop10/history.html"
    ]
    parquet = store.client.get_object(Bucket=HISTORY_BUCKET, Key=layout.history_key("parquet"))["Body"].read()
    assert pl.read_parquet(io.BytesIO(parquet)).equals(built.table)
    page = store.client.get_object(Bucket=HISTORY_BUCKET, Key=layout.history_key("html"))
    assert page["ContentType"] == "text/html; charset=utf-8"


def test_the_partition_page_links_to_the_history_and_shows_its_own_checks():
    empty = comparison.comparison(
        comparison.tmdb_series([], []), comparison.imdb_titles(f"{SERIES.header}\n".encode())
    )
    built = comparison.Report(table=empty, day=DAYS[1], run_id="r", params={}, fetched_at=None,
                              checks=tuple(CHECKS[DAYS[1]]))
    page = report_files.to_html(built).decode()
    link = re.search(r'<a id="history-link" href="([^"]+)"', page).group(1)
    resolved = posixpath.normpath(posixpath.join(layout.report_prefix(DAYS[1]), link))
    assert resolved == layout.history_key("html")
    assert checks.to_html_table(CHECKS[DAYS[1]], "checks") in page


@pytest.fixture(scope="module")
def browser() -> Iterator:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_the_history_page_renders_both_charts_and_the_checks_in_chromium(browser, tmp_path: Path):
    page_file = tmp_path / "history.html"
    page_file.write_bytes(history.to_html(history.History(history.history_rows(TABLES), CHECKS)))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(page_file.as_uri(), wait_until="load")
    sizes = page.evaluate(
        "Promise.all([...document.images].map(img => img.decode().then(() => [img.id, img.naturalWidth, "
        "img.getBoundingClientRect().height])))"
    )
    assert [chart for chart, _, _ in sizes] == ["chart-bump", "chart-vote-average"]
    assert all(width > 0 and height > 0 for _, width, height in sizes)
    assert page.locator("table.checks tbody tr").count() == 2
    assert page.locator("tr.check-warn").inner_text().startswith("TMDB top N left")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "anime_top10_history.png"), full_page=True)
    page.close()
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == [], "self-contained"

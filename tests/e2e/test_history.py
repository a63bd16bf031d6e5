"""The history page as Debian's Chromium renders it: both charts and the checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from datalake.report import comparison, history
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromium_or_skip

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

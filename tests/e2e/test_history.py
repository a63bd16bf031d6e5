"""The history page as Debian's Chromium renders it: both charts and the checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datalake.report import history
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromium_or_skip
from tests.history_samples import CHECKS, TABLES


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

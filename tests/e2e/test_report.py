"""The lake's question answered end to end: `make run` lands the raw zone, then the report, and a real
browser (Debian's Chromium through Playwright) opens the page.

The driver runs once for the module, on its own lake and Airflow home.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from datalake import layout, settings
from datalake.report import comparison as report
from datalake.tmdb.ranking import DiscoverQuery
from tests.catalog import expected_top
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromium_or_skip, clean_environment

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-25"
DATE = date.fromisoformat(DAY)
BUCKET = "datalake"
FILES = ["top10.csv", "top10.html", "top10.md", "top10.parquet"]
LAPTOP_WIDTH = 1280
A4_PORTRAIT_WIDTH = 718
"""CSS pixels across an A4 sheet upright inside 10 mm margins: the narrowest page the report may print on."""
ROW = re.compile(
    r"^(\d+)\s+(.+?)\s+(\d+\.\d{3})\s+([\d,]+)\s+(\d+\.\d|-)\s+([\d,]+|-)\s+(\d+)\s+(\d+)$", re.MULTILINE
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """One `make run` (`python -m local_stack.run`): the manifest's event starts the report."""
    lake, local = tmp_path_factory.mktemp("lake"), tmp_path_factory.mktemp("local")
    env = clean_environment()
    command = [
        sys.executable,
        "-m",
        "local_stack.run",
        "--date",
        DAY,
        "--lake",
        str(lake),
        "--local",
        str(local),
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return lake, local, result


def report_file(lake: Path, name: str) -> Path:
    return lake / BUCKET / layout.report_prefix(DATE) / name


def test_the_four_report_files_land_in_the_refined_zone(run):
    lake, _, _ = run
    assert sorted(path.name for path in report_file(lake, "").iterdir()) == FILES
    table = pl.read_parquet(report_file(lake, "top10.parquet"))
    assert table.schema == pl.Schema(report.SCHEMA)
    assert table["tmdb_id"].to_list() == expected_top(DiscoverQuery())
    assert table["imdb_matched"].all(), "the sample series.csv holds every title of the sandbox's top 10"
    assert pl.read_csv(report_file(lake, "top10.csv"))["tmdb_id"].to_list() == table["tmdb_id"].to_list()
    assert report_file(lake, "top10.md").read_text().count("\n| ") == 1 + 10


def test_the_terminal_shows_ten_rows_with_both_ratings_and_where_the_page_is(run):
    lake, _, result = run
    table = pl.read_parquet(report_file(lake, "top10.parquet"))
    rows = ROW.findall(result.stdout)
    assert [int(row[0]) for row in rows] == list(range(1, 11))
    assert [float(row[2]) for row in rows] == table["tmdb_vote_average"].to_list()
    assert [float(row[4]) for row in rows] == table["imdb_rating"].to_list()
    assert [int(row[5].replace(",", "")) for row in rows] == table["imdb_votes"].to_list()
    assert f"Report: {report_file(lake.resolve(), 'top10.html')}" in result.stdout


def test_the_raw_manifest_event_schedules_the_report_for_its_partition(run):
    """What the scheduler acts on: the manifest's event, partitioned by its day, queued the report for it,
    and the report run it made has that day as its own partition key."""
    _, local, _ = run
    with sqlite3.connect(local / "airflow" / "airflow.db") as db:
        queued = db.execute("SELECT target_dag_id, partition_key FROM asset_partition_dag_run").fetchall()
        events = db.execute(
            "SELECT e.partition_key FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ?",
            ("datalake_raw_manifests",),
        ).fetchall()
        reports = db.execute(
            "SELECT run_type, partition_key FROM dag_run WHERE dag_id = ?", (settings.REPORT_DAG_ID,)
        ).fetchall()
    assert (settings.REPORT_DAG_ID, DAY) in queued
    assert events == [(DAY,)]
    assert reports == [("asset_triggered", DAY)]


@pytest.fixture(scope="module")
def browser(run) -> Iterator[Browser]:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, lake: Path, width: int, media: str = "screen") -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.emulate_media(media=media)
    page.goto(report_file(lake, "top10.html").as_uri(), wait_until="load")
    return page


def test_the_page_renders_its_table_and_both_charts_in_chromium(run, browser):
    lake, _, _ = run
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "anime_top10_report.png"
    page = browser.new_page(viewport={"width": LAPTOP_WIDTH, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report_file(lake, "top10.html").as_uri(), wait_until="load")
    rows = page.locator("table#top10 tbody tr")
    assert rows.count() == 10
    assert "Frieren" in rows.first.inner_text()
    widths = page.evaluate(
        "Promise.all([...document.images].map(img => img.decode().then(() => [img.id, img.naturalWidth])))"
    )
    assert [chart for chart, _ in widths] == ["chart-episodes", "chart-ratings"]
    assert all(width > 0 for _, width in widths)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == [], (
        "the page is self-contained"
    )
    assert screenshot.stat().st_size > 10_000


OVERFLOW = "[document.documentElement.scrollWidth, window.innerWidth]"
SHOWN_AT = """([x, y]) => {
    const hit = document.elementFromPoint(x, y);
    return hit === null ? null : (hit.closest("th") || hit).textContent;
}"""
"""The header text of what a reader sees at a point: a header under another (a sticky one) does not show."""


def shown(page: Page, cell: Locator) -> bool:
    """Whether the cell is what a reader sees at its centre: on the page, in view, and not covered."""
    box = cell.bounding_box()
    return (
        box is not None
        and page.evaluate(SHOWN_AT, [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
        == cell.text_content()
    )


def markdown_labels(lake: Path) -> list[str]:
    """The columns of the run's Markdown table: the page must show each of them."""
    lines = report_file(lake, "top10.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| "))
    return [label.strip() for label in header.strip("|").split("|")]


def bring_each_into_view(page: Page, headers: list[Locator]) -> None:
    for header in headers:
        header.scroll_into_view_if_needed()
        assert shown(page, header), f"the column {header.text_content()!r} cannot be brought into view"


def test_at_laptop_width_nothing_overflows_and_every_column_can_be_scrolled_into_view(run, browser):
    lake, _, _ = run
    page = open_page(browser, lake, LAPTOP_WIDTH)
    scroll_width, viewport = page.evaluate(OVERFLOW)
    page.screenshot(path=str(ARTIFACTS / "anime_top10_report_1280.png"))
    assert scroll_width <= viewport, f"the page is {scroll_width} px wide in a {viewport} px window"
    headers = page.locator("table#top10 thead th")
    assert headers.all_text_contents() == markdown_labels(lake)
    bring_each_into_view(page, headers.all())
    page.screenshot(path=str(ARTIFACTS / "anime_top10_report_1280_scrolled.png"))
    scrolled = page.evaluate("document.querySelector('.table-scroll').scrollLeft")
    assert scrolled > 0, "the table scrolls sideways"
    rank, name = headers.nth(0), headers.nth(1)
    assert shown(page, rank) and shown(page, name), "rank and name stay in view, whatever the table's scroll"
    bring_each_into_view(page, headers.all()[::-1])  # back to the left: no column lands under rank and name
    page.close()


@pytest.mark.parametrize("width", [LAPTOP_WIDTH, A4_PORTRAIT_WIDTH])
def test_printed_the_table_fits_the_page_with_every_column(run, browser, width):
    lake, _, _ = run
    page = open_page(browser, lake, width, media="print")
    scroll_width, viewport = page.evaluate(OVERFLOW)
    page.screenshot(path=str(ARTIFACTS / f"anime_top10_report_print_{width}.png"), full_page=True)
    assert scroll_width <= viewport, f"printed, the page is {scroll_width} px wide on a {viewport} px page"
    table = page.locator("table#top10").bounding_box()
    assert table is not None and table["x"] >= 0 and table["x"] + table["width"] <= viewport
    headers = page.locator("table#top10 thead th")
    assert headers.all_text_contents() == markdown_labels(lake)
    off_page = [header.text_content() for header in headers.all() if not shown(page, header)]
    assert off_page == [], "printed, nothing scrolls: every column is on the page as laid out"
    assert page.evaluate("getComputedStyle(document.querySelector('.table-scroll')).overflowX") == "visible"
    charts = page.evaluate("[...document.images].map(img => img.getBoundingClientRect().right)")
    assert len(charts) == 2 and all(right <= viewport for right in charts)
    page.close()


def test_the_page_is_in_english_and_the_tmdb_texts_in_the_runs_language(run):
    lake, _, _ = run
    page = report_file(lake, "top10.html").read_text()
    assert '<html lang="en">' in page
    assert '<td class="name" lang="pt-BR">Frieren e a Jornada para o Além</td>' in page, "the run's language"

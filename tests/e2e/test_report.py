"""The lake's question answered end to end: `make run` lands the raw zone, then the report, and a real
browser (Debian's Chromium through Playwright) opens the page.

The driver runs once for the module, on its own lake and Airflow home.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from datalake import layout, report, report_tasks, settings
from datalake.ranking import DiscoverQuery
from tests.catalog import expected_top
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, clean_environment

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-25"
DATE = date.fromisoformat(DAY)
BUCKET = "datalake"
FILES = ["top10.csv", "top10.html", "top10.md", "top10.parquet"]
ROW = re.compile(r"^(\d+)\s+(.+?)\s+(\d+\.\d{3})\s+([\d,]+)\s+(\d+\.\d|-)\s+([\d,]+|-)\s+(\d+)\s+(\d+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """One `make run` (`python -m local_stack.run`), DAGs created unpaused so the manifest's event queues the report."""
    lake, local = tmp_path_factory.mktemp("lake"), tmp_path_factory.mktemp("local")
    env = {**clean_environment(), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
    command = [sys.executable, "-m", "local_stack.run", "--date", DAY, "--lake", str(lake), "--local", str(local)]
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
    """What the scheduler would act on: the manifest's event, through the alias, queued the report DAG."""
    _, local, _ = run
    with sqlite3.connect(local / "airflow" / "airflow.db") as db:
        queued = {dag_id for (dag_id,) in db.execute("SELECT target_dag_id FROM asset_dag_run_queue")}
        extras = [json.loads(extra) for (extra,) in db.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ?",
            (f"s3://{BUCKET}/{layout.MANIFEST_ROOT}",),
        )]
    assert settings.REPORT_DAG_ID in queued
    assert report_tasks.partitions_to_report("", extras, date(2000, 1, 1)) == [DATE]


def test_the_page_renders_its_table_and_both_charts_in_chromium(run):
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    lake, _, _ = run
    page_file = report_file(lake, "top10.html")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "anime_top10_report.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(page_file.as_uri(), wait_until="load")
            rows = page.locator("table#top10 tbody tr")
            assert rows.count() == 10
            assert "Frieren" in rows.first.inner_text()
            widths = page.evaluate(
                "Promise.all([...document.images].map(img => img.decode().then(() => [img.id, img.naturalWidth])))"
            )
            assert [chart for chart, _ in widths] == ["chart-episodes", "chart-ratings"]
            assert all(width > 0 for _, width in widths)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == [], "the page is self-contained"
    assert screenshot.stat().st_size > 10_000

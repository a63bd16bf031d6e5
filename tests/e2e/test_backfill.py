"""Backfills three ways, each checked in the lake (every partition's CSVs, discover page, details,
manifest and report) and in Airflow (each report run's partition key is its raw partition): ``make backfill``
over 3 days on a stack of its own, then the REST API and the UI's trigger form over 2 days each on one shared
``make airflow`` stack (the module's ``standalone`` fixture, started once ``make backfill`` stopped its
own)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from datalake import layout, settings
from datalake.csvs.files import CSV_FILES
from datalake.tmdb.ranking import DiscoverQuery
from local_stack.airflow_api import AirflowApi
from local_stack.backfill import REPROCESS, run_backfill
from tests.catalog import expected_top
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, clean_environment, logged_in_page, open_trigger_form

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAG_ID = settings.RAW_DAG_ID
REPORT_DAG_ID = settings.REPORT_DAG_ID
BUCKET = "datalake"
REPORT_FILES = ["top10.csv", "top10.html", "top10.md", "top10.parquet"]


def days(first: str, count: int) -> list[date]:
    return [date.fromisoformat(first) + timedelta(days=offset) for offset in range(count)]


def check_partition(lake: Path, day: date) -> dict:
    """The partition is complete: both CSVs as shipped, the discover page, the top 10's details, the manifest
    listing exactly those with their bytes, and the four report files. Returns the manifest."""
    bucket = lake / BUCKET
    for csv_file in CSV_FILES:
        landed = bucket / layout.csv_key(csv_file, day)
        assert landed.read_bytes() == (REPO / "include" / "data" / csv_file.filename).read_bytes()
    top = expected_top(DiscoverQuery())
    expected = {layout.csv_key(csv_file, day) for csv_file in CSV_FILES} | {layout.discover_key(day, 1)}
    expected |= {layout.details_key(day, series_id) for series_id in top}
    manifest = json.loads((bucket / layout.manifest_key(day, DAG_ID)).read_text())
    assert manifest["partition"] == day.isoformat()
    assert {entry["key"] for entry in manifest["objects"]} == expected
    for entry in manifest["objects"]:
        assert (bucket / entry["key"]).stat().st_size == entry["bytes"]
    assert [series["id"] for series in manifest["ranking"]] == top
    assert sorted(path.name for path in (bucket / layout.report_prefix(day)).iterdir()) == REPORT_FILES
    return manifest


def report_partitions(db: Path) -> dict[str, str]:
    """The report runs' partition keys, each with its run type."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT partition_key, run_type FROM dag_run WHERE dag_id = ?", (REPORT_DAG_ID,)
        ).fetchall()
    return dict(rows)


def make_backfill(first: str, last: str, lake: Path, local: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "local_stack.backfill",
        "--from",
        first,
        "--to",
        last,
        "--lake",
        str(lake),
        "--local",
        str(local),
    ]
    return subprocess.run(
        command, cwd=REPO, env=clean_environment(), capture_output=True, text=True, timeout=1200
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    lake, local = tmp_path_factory.mktemp("backfill-lake"), tmp_path_factory.mktemp("backfill-local")
    result = make_backfill("2026-11-01", "2026-11-03", lake, local)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return lake, local, result


def test_make_backfill_lands_three_complete_partitions_each_with_its_report(made):
    lake, local, result = made
    for day in days("2026-11-01", 3):
        check_partition(lake, day)
    assert report_partitions(local / "airflow" / "airflow.db") == {
        day.isoformat(): "asset_triggered" for day in days("2026-11-01", 3)
    }
    with sqlite3.connect(local / "airflow" / "airflow.db") as connection:
        raw = connection.execute(
            "SELECT partition_key FROM dag_run WHERE dag_id = ? AND run_type = 'backfill'", (DAG_ID,)
        ).fetchall()
    assert sorted(key for (key,) in raw) == ["2026-11-01", "2026-11-02", "2026-11-03"]


def test_make_backfill_prints_one_line_per_partition(made):
    lake, _, result = made
    top = expected_top(DiscoverQuery())[0]
    for day in days("2026-11-01", 3):
        manifest = json.loads((lake / BUCKET / layout.manifest_key(day, DAG_ID)).read_text())
        size = sum(entry["bytes"] for entry in manifest["objects"])
        html = lake.resolve() / BUCKET / layout.report_key(day, "html")
        line = re.search(
            rf"^{day}\s+(\d+) objects\s+([\d,]+) bytes\s+#1 .+ \({top}\)  report: (\S+)$",
            result.stdout,
            re.MULTILINE,
        )
        assert line, result.stdout[-3000:]
        assert int(line.group(1)) == len(manifest["objects"])
        assert int(line.group(2).replace(",", "")) == size
        assert line.group(3) == str(html)


def test_a_second_backfill_of_a_partition_runs_it_again_and_rewrites_the_same_keys(made):
    lake, local, _ = made
    day = date(2026, 11, 2)
    before = check_partition(lake, day)
    result = make_backfill("2026-11-02", "2026-11-02", lake, local)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    after = check_partition(lake, day)
    assert after["run_id"] != before["run_id"], f"reprocess_behavior={REPROCESS} runs a finished partition"

    def csvs(manifest: dict) -> dict[str, str]:
        objects = manifest["objects"]
        return {entry["key"]: entry["sha256"] for entry in objects if entry["key"].endswith(".csv")}

    assert csvs(after) == csvs(before)
    for key, digest in csvs(after).items():
        assert hashlib.sha256((lake / BUCKET / key).read_bytes()).hexdigest() == digest


def test_a_backfill_through_the_rest_api_over_two_days(standalone):
    partitions = days("2026-11-05", 2)
    client = AirflowApi(standalone.url, standalone.password)
    raws, reports = run_backfill(client, partitions, {})
    for day in partitions:
        key = day.isoformat()
        assert raws[key]["state"] == "success" and raws[key]["run_type"] == "backfill"
        assert reports[key]["state"] == "success" and reports[key]["partition_key"] == key
        check_partition(standalone.lake, day)
    backfills = client.checked("GET", "/backfills", "Listing backfills", params={"dag_id": DAG_ID})
    (backfill,) = [b for b in backfills["backfills"] if b["from_date"].startswith("2026-11-05")]
    assert backfill["reprocess_behavior"] == REPROCESS and backfill["completed_at"]


def test_the_ui_trigger_forms_backfill_choice_over_two_days(standalone):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    partitions = days("2026-11-08", 2)
    client = AirflowApi(standalone.url, standalone.password)
    client.set_paused(REPORT_DAG_ID, False)
    raw_before, reports_before = client.run_ids(DAG_ID), client.run_ids(REPORT_DAG_ID)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright, client.unpaused(DAG_ID) as stop_unasked_runs:
        browser, page = logged_in_page(playwright, standalone.url, standalone.password)
        form = open_trigger_form(page, standalone.url, DAG_ID)
        form.get_by_text("Backfill", exact=True).first.click()
        fill_backfill_range(page, partitions[0], partitions[-1])
        form.get_by_text("All Runs").first.click()  # reprocess completed runs too, as make backfill does
        form.get_by_text("2 runs will be triggered.").first.wait_for(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "backfill-form.png")
        form.get_by_role("button", name="Run Backfill").click()
        page.get_by_text("Backfill generated").first.wait_for(timeout=30_000)

        keys = [day.isoformat() for day in partitions]
        raws = client.new_runs(DAG_ID, raw_before, keys, seconds=60, run_type="backfill")
        assert sorted(raws) == keys
        finished = client.follow(
            [(DAG_ID, run["dag_run_id"]) for run in raws.values()], while_waiting=stop_unasked_runs
        )
        assert {run["state"] for run in finished.values()} == {"success"}
        reports = client.new_runs(REPORT_DAG_ID, reports_before, keys, seconds=120)
        finished = client.follow([(REPORT_DAG_ID, run["dag_run_id"]) for run in reports.values()])
        assert {run["state"] for run in finished.values()} == {"success"}
        page.goto(f"{standalone.url}/dags/{DAG_ID}/runs")
        page.get_by_text(raws[keys[0]]["dag_run_id"]).first.wait_for(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "backfill-runs.png", full_page=True)
        browser.close()
    for day in partitions:
        check_partition(standalone.lake, day)
    assert {run["partition_key"] for run in reports.values()} == set(keys)


def fill_backfill_range(page, first: date, last: date) -> None:
    """The form's Date Range: each of its two pickers set to the day's midnight (UTC, the UI's default)."""
    for position, day in enumerate((first, last)):
        page.locator("[data-testid=datetime-input]").nth(position).click()
        picker = page.locator("[data-scope=popover][data-part=content][data-state=open]")
        picker.locator("input[placeholder='YYYY/MM/DD']").fill(day.strftime("%Y/%m/%d"))
        picker.locator("input[placeholder='HH:mm']").fill("00:00")
        picker.locator("input[placeholder='HH:mm']").press("Enter")
        if picker.count():
            page.keyboard.press("Escape")  # closes the picker, not the form
        page.get_by_text(day.strftime("%b %d, %Y 00:00")).first.wait_for()

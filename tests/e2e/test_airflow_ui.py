"""The DAG as Airflow users meet it: scheduled, triggered through the REST API and from the UI in a real
browser, on one ``make airflow`` stack. The tests run in order, one DAG run at a time."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import datetime

import pytest

from datalake.tmdb.ranking import DiscoverQuery
from tests.catalog import expected_top
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, DAG_ID, logged_in_page, open_trigger_form

pytestmark = pytest.mark.e2e


def landed_as_make_run(standalone, run: dict, top_n: int) -> None:
    """The run's manifest records it, and every object it lists is in the lake with its recorded bytes."""
    partition = run["partition_key"] or (run["logical_date"] or run["run_after"])[:10]
    manifest = standalone.manifest(partition)
    assert manifest["run_id"] == run["dag_run_id"]
    assert manifest["params"]["top_n"] == top_n
    assert [series["id"] for series in manifest["ranking"]] == expected_top(DiscoverQuery(top_n=top_n))
    keys = {entry["key"] for entry in manifest["objects"]}
    assert {key for key in keys if "/tv_" in key} == {
        f"Raw/TMDB/JSON/{partition.replace('-', '/')}/tv_{series_id}.json"
        for series_id in expected_top(DiscoverQuery(top_n=top_n))
    }
    assert sum(key.endswith(".csv") for key in keys) == 2
    for entry in manifest["objects"]:
        assert (standalone.lake / "datalake" / entry["key"]).stat().st_size == entry["bytes"]


def test_the_dag_is_listed_without_import_errors(standalone):
    assert standalone.api("GET", "/importErrors").json()["import_errors"] == []
    dag = standalone.api("GET", f"/dags/{DAG_ID}").json()
    assert dag["is_paused"] is True  # as Airflow starts every DAG


def test_unpaused_the_scheduler_runs_it_and_the_run_lands_its_logical_dates_partition(standalone):
    assert standalone.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}).ok
    deadline = time.monotonic() + 120
    while not (
        runs := standalone.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "scheduled"}).json()[
            "dag_runs"
        ]
    ):
        assert time.monotonic() < deadline, "the scheduler made no run"
        time.sleep(2)
    run = standalone.wait_for_run(runs[0]["dag_run_id"])
    assert run["state"] == "success"
    assert run["run_type"] == "scheduled"
    landed_as_make_run(standalone, run, top_n=10)


def test_the_rest_api_triggers_a_run_with_a_param_from_conf(standalone):
    answer = standalone.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"top_n": 3}}
    )
    assert answer.status_code == 200, answer.text
    run = standalone.wait_for_run(answer.json()["dag_run_id"])
    assert run["state"] == "success"
    landed_as_make_run(standalone, run, top_n=3)


def test_the_rest_api_refuses_a_param_out_of_range_with_the_reason(standalone):
    for bad, reason in (
        (0, "0 is less than the minimum of 1"),
        (101, "101 is greater than the maximum of 100"),
    ):
        answer = standalone.api(
            "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"top_n": bad}}
        )
        assert answer.status_code == 400
        assert reason in answer.json()["detail"]


def test_the_rest_api_run_with_an_unknown_param_fails_at_once_and_lands_nothing(standalone):
    """Airflow 3.3 accepts unknown conf keys at trigger time; the DAG's first task refuses them."""
    answer = standalone.api(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={"logical_date": "2026-10-03T00:00:00+00:00", "conf": {"topn": 5}},
    )
    assert answer.status_code == 200, answer.text
    run = standalone.wait_for_run(answer.json()["dag_run_id"])
    assert run["state"] == "failed"
    instances = standalone.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances").json()
    states = {ti["task_id"]: ti["state"] for ti in instances["task_instances"]}
    assert states.pop("open_partition") == "failed"
    assert set(states.values()) == {"upstream_failed"}
    assert not any((standalone.lake / "datalake").rglob("*/2026/10/03/*"))


def test_the_ui_trigger_form_validates_params_and_its_run_lands_the_objects(standalone):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser, page = logged_in_page(playwright, standalone.url, standalone.password)
        form = open_trigger_form(page, standalone.url, DAG_ID)
        for name, title, description in (
            ("top_n", "Top N", "(1 to 100)"),
            ("min_vote_count", "Minimum vote count", "vote_count.gte"),
            ("language", "Language", "e.g. pt-BR"),
            ("genre_id", "Genre id", "16 = Animation"),
            ("origin_country", "Origin country", "e.g. JP"),
            ("lambda_function_name", "Lambda function", "parity"),
        ):
            form.locator(f"[name=element_{name}]").wait_for()
            assert title in form.inner_text() and description in form.inner_text()

        top_n = form.locator("input[name=element_top_n]")
        for typed, kept in (("101", "100"), ("0", "1")):  # the form holds the value to the schema's bounds
            top_n.fill(typed)
            top_n.press("Tab")
            assert top_n.input_value() == kept
        top_n.fill("4")
        top_n.press("Tab")
        page.screenshot(path=ARTIFACTS / "trigger-form.png")
        triggered_after = datetime.now().astimezone()
        form.get_by_role("button", name="Trigger").click()
        page.get_by_text("Dag run has been successfully triggered").first.wait_for()

        runs = standalone.api(
            "GET",
            f"/dags/{DAG_ID}/dagRuns",
            params={"run_type": "manual", "order_by": "-run_after", "limit": 1},
        ).json()["dag_runs"]
        assert datetime.fromisoformat(runs[0]["run_after"]) >= triggered_after.replace(microsecond=0)
        assert runs[0]["triggered_by"] == "ui"
        run = standalone.wait_for_run(runs[0]["dag_run_id"])
        page.goto(f"{standalone.url}/dags/{DAG_ID}/runs/{run['dag_run_id']}")
        page.get_by_text(re.compile("^Success$")).first.wait_for(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "ui-run-success.png", full_page=True)
        browser.close()
    assert run["state"] == "success"
    assert run["conf"]["top_n"] == 4
    landed_as_make_run(standalone, run, top_n=4)

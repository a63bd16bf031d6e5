"""One ``make airflow`` stack (Airflow's components on the embedded services) shared by the UI and API tests
of a module, stopped before the next module starts its own stack (two on 2 cores would slow both)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
import requests

from datalake import settings
from local_stack.airflow_api import AirflowApi
from local_stack.services import free_port

REPO = Path(__file__).resolve().parents[2]
DAG_ID = settings.RAW_DAG_ID
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (`apt-get install -y chromium`, as .ci/run does): Playwright drives it, downloading no
browser."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_or_skip() -> None:
    """Skip (fail on CI) a browser test where Debian's Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def logged_in_page(playwright, url: str, password: str):
    """Debian's Chromium on ``url``'s UI, logged in as admin: the browser and its page."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Dags").first.wait_for(timeout=60_000)
    return browser, page


def open_trigger_form(page, url: str, dag_id: str):
    """The DAG page's Trigger form, open: the dialog's locator."""
    page.goto(f"{url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.locator("[role=dialog][data-state=open]")
    form.wait_for()
    return form


def clean_environment() -> dict[str, str]:
    """This process's environment without any connection or credential the user may have set."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_") and k != "TMDB_API_TOKEN"
    }


@dataclass
class Standalone:
    url: str
    password: str
    lake: Path
    local: Path

    @cached_property
    def client(self) -> AirflowApi:
        return AirflowApi(self.url, self.password)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.client.api(method, path, **kwargs)

    def wait_for_run(self, run_id: str, timeout: float = 420) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}").json()
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(3)
        raise AssertionError(f"run {run_id} did not finish within {timeout:.0f} s")

    def manifest(self, partition: str) -> dict:
        year, month, day = partition.split("-")
        path = self.lake / "datalake" / "Raw" / "_manifests" / year / month / day / f"{DAG_ID}.json"
        return json.loads(path.read_text())


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Iterator[Standalone]:
    lake, local = tmp_path_factory.mktemp("standalone-lake"), tmp_path_factory.mktemp("standalone-local")
    port = free_port()
    log_path = local / "standalone.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local_stack.standalone",
                "--port",
                str(port),
                "--lake",
                str(lake),
                "--local",
                str(local),
            ],
            cwd=REPO,
            env=clean_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 400
        while b"Airflow is up" not in log_path.read_bytes():
            assert process.poll() is None, log_path.read_text()[-5000:]
            assert time.monotonic() < deadline, (
                "make airflow did not come up: " + log_path.read_text()[-5000:]
            )
            time.sleep(1)
        password = json.loads(
            (local / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()
        )
        yield Standalone(f"http://127.0.0.1:{port}", password["admin"], lake, local)
    finally:
        process.terminate()  # make airflow stops its stack on SIGTERM as on Ctrl-C
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)

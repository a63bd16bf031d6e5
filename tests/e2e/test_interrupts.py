"""A signal to the runner alone (``make run``, ``make airflow``) ends every process it started and leaves no
credential behind; the exit status is 128 + the signal and the message names what was interrupted.

Each run is interrupted early: these tests wait for the processes to exist, not for Airflow to finish.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from datalake import settings
from local_stack.airflow_api import POLL_SECONDS, AirflowApi
from local_stack.services import free_port
from tests.e2e.conftest import clean_environment

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-27"


def start(module: str, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """The runner in a session of its own, as from another terminal; its output goes to a file."""
    output = tmp_path / "output.log"
    command = [
        sys.executable,
        "-m",
        module,
        "--lake",
        str(tmp_path / "lake"),
        "--local",
        str(tmp_path / "local"),
        *args,
    ]
    with output.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**clean_environment(), "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, output


def wait_for(condition, process: subprocess.Popen, output: Path, timeout: float = 300):
    """Poll ``condition`` until it returns something true; fails if the runner ends first."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert process.poll() is None, output.read_text()[-5000:]
        assert time.monotonic() < deadline, output.read_text()[-5000:]
        time.sleep(0.2)
    return found


def descendant(process: subprocess.Popen, marker: str) -> psutil.Process | None:
    """The runner's descendant whose command line holds ``marker``."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
        return next((child for child in children if marker in " ".join(child.cmdline())), None)
    except psutil.NoSuchProcess:
        return None


def survivors(started: list[psutil.Process], home: Path) -> list[str]:
    """What is still running, 5 s after the runner's exit, of what was started, or of anything with this
    Airflow home in its environment (a process sent SIGKILL takes a moment to be gone)."""
    others = []
    for other in psutil.process_iter():
        try:
            if other.environ().get("AIRFLOW_HOME") == str(home):
                others.append(other)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    _, alive = psutil.wait_procs({*started, *others}, timeout=5)
    running = []
    for process in alive:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{process.pid} {process.cmdline()}")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    return running


def secrets_of(airflow: psutil.Process) -> list[str]:
    """The S3 secret and the TMDB credential that the runner handed to Airflow."""
    environ = airflow.environ()
    return [json.loads(environ[f"AIRFLOW_CONN_{name}_DEFAULT"])["password"] for name in ("AWS", "TMDB")]


def files_holding(secrets: list[str], *folders: Path) -> list[Path]:
    paths = [path for folder in folders for path in folder.rglob("*") if path.is_file()]
    return [path for path in paths if any(secret.encode() in path.read_bytes() for secret in secrets)]


def airflow_of(printed: str) -> AirflowApi:
    """The REST client of the Airflow whose address and login the runner printed."""
    url, password = re.search(r"Airflow \(standalone\): (\S+)  \(login: \S+ / (\S+)\)", printed).groups()
    return AirflowApi(url, password)


def hold_the_report(client: AirflowApi, process: subprocess.Popen, output: Path) -> None:
    """Keep the report from starting (its DAG paused: the scheduler creates no asset-triggered run for
    it), so that the runner is still waiting for it when the signal comes: a report takes two seconds."""
    client.set_paused(settings.REPORT_DAG_ID, True)
    wait_for(
        lambda: [
            run
            for run in client.dag_runs(settings.RAW_DAG_ID)
            if run.get("partition_key") == DAY and run["state"] == "success"
        ],
        process,
        output,
    )
    time.sleep(2 * POLL_SECONDS)  # the runner's own poll sees the raw run end and waits for the report


@pytest.mark.parametrize(
    "signum, wait_for_report",
    [
        (signal.SIGTERM, False),
        (signal.SIGHUP, False),
        (signal.SIGINT, True),
    ],
)
def test_a_signal_to_make_run_alone_stops_everything_and_leaves_no_credential(
    tmp_path, signum, wait_for_report
):
    lambda_folders_before = set(Path("/tmp").glob("local-lambda-*"))
    process, output = start("local_stack.run", tmp_path, "--date", DAY)
    try:
        api_server = wait_for(lambda: descendant(process, "airflow api-server"), process, output)
        secrets = secrets_of(api_server)
        dag = settings.RAW_DAG_ID
        wait_for(lambda: f"Triggered {dag} for partition {DAY}" in output.read_text(), process, output)
        if wait_for_report:
            dag = settings.REPORT_DAG_ID
            hold_the_report(airflow_of(output.read_text()), process, output)
        started = psutil.Process(process.pid).children(recursive=True)
        assert len(started) >= 4, "TMDB sandbox, S3, Lambda, Airflow"
        process.send_signal(signum)
        assert process.wait(timeout=120) == 128 + signum
    finally:
        if process.poll() is None:
            process.kill()
    printed = output.read_text()
    name = signal.Signals(signum).name
    assert f"make run: interrupted by {name} during the run of {dag} for {DAY}" in printed
    assert survivors(started, tmp_path / "local" / "airflow") == []
    new_lambda_folders = set(Path("/tmp").glob("local-lambda-*")) - lambda_folders_before
    assert files_holding(secrets, tmp_path / "local", *new_lambda_folders) == []


def test_a_signal_to_make_airflow_alone_stops_airflow_and_the_services(tmp_path):
    process, output = start("local_stack.standalone", tmp_path, "--port", str(free_port()))
    try:
        for component in ("airflow scheduler", "airflow dag-processor", "airflow api-server"):
            wait_for(lambda component=component: descendant(process, component), process, output)
        started = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143
    finally:
        if process.poll() is None:
            process.kill()
    printed = output.read_text()
    assert re.search(
        r"make airflow: interrupted by SIGTERM during Airflow('s start)? on http://127\.0\.0\.1:", printed
    )
    assert survivors(started, tmp_path / "local" / "airflow") == []

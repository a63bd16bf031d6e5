"""A component of the stack killed mid-run (SIGKILL, for real): the runner notices within seconds, stops
everything, exits 1 naming the component and its log; the same partition run again succeeds."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from local_stack.databases import missing_binaries
from tests.e2e.conftest import clean_environment
from tests.e2e.test_interrupts import REPO, start, survivors, wait_for

pytestmark = pytest.mark.e2e

DAY = "2026-11-26"
NOTICED_SECONDS = 45.0
"""From the kill to the runner's exit: the notice is at once (SIGCHLD); the rest is the orderly stop."""

VICTIMS = {
    # component name in the message: (marker in its command line, its log; None: the run's log, where the
    # runner writes each Airflow component's pid: they rename themselves, e.g. "airflow api_server -- ...")
    "airflow scheduler": (None, None),
    "airflow dag-processor": (None, None),
    "airflow api-server": (None, None),
    "the embedded S3 server (rclone)": ("rclone serve s3", "rclone.log"),
    "the TMDB sandbox": ("sandbox.tmdb_app", "tmdb-sandbox.log"),
    "the Lambda endpoint": ("sandbox.lambda_app", "lambda.log"),
}


def run_log(printed: str) -> Path:
    return Path(re.search(r"^Log: (\S+)", printed, re.MULTILINE)[1])


def component(runner: subprocess.Popen, output: Path, name: str, marker: str | None) -> psutil.Process | None:
    """The runner's child (a component: not one of the processes a component starts) whose command line
    holds ``marker``, else the one the run's log names ``name``."""
    try:
        children = psutil.Process(runner.pid).children()
        if marker:
            return next((child for child in children if marker in " ".join(child.cmdline())), None)
        started = re.search(
            rf"^{re.escape(name)} started, pid (\d+):", run_log(output.read_text()).read_text(), re.M
        )
        return next((child for child in children if started and child.pid == int(started[1])), None)
    except psutil.NoSuchProcess:
        return None


def kill_mid_run(
    tmp_path: Path, name: str, marker: str | None, *args: str
) -> tuple[subprocess.Popen, Path, list[psutil.Process], float]:
    """Start ``make run``, wait until the raw run's first task succeeded, SIGKILL the component ``name``
    (``component``); the runner, its output, what it had started and the moment of the kill."""
    process, output = start("local_stack.run", tmp_path, "--date", DAY, *args)
    try:
        wait_for(
            lambda: re.search(r"^ok +open_partition ", output.read_text(), re.M), process, output, timeout=400
        )
        victim = wait_for(lambda: component(process, output, name, marker), process, output)
        started = psutil.Process(process.pid).children(recursive=True)
        os.kill(victim.pid, signal.SIGKILL)
        return process, output, started, time.monotonic()
    except BaseException:
        process.kill()
        raise


def run_again(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "local_stack.run", "--date", DAY]
    command += ["--lake", str(tmp_path / "lake"), "--local", str(tmp_path / "local"), *args]
    return subprocess.run(
        command, cwd=REPO, env=clean_environment(), capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("name", list(VICTIMS))
def test_a_component_killed_mid_run_stops_make_run_naming_it_and_the_partition_heals(tmp_path, name):
    marker, log_name = VICTIMS[name]
    process, output, started, killed = kill_mid_run(tmp_path, name, marker)
    try:
        code = process.wait(timeout=120)
        noticed = time.monotonic() - killed
    finally:
        if process.poll() is None:
            process.kill()
    printed = output.read_text()
    assert code == 1, printed[-5000:]
    assert noticed < NOTICED_SECONDS, f"{noticed:.0f} s from the kill to the exit"
    log = tmp_path / "local" / "logs" / log_name if log_name else run_log(printed)
    assert f"make run: {name} was killed by SIGKILL during the run; its log: {log}" in printed, printed[
        -3000:
    ]
    assert survivors(started, tmp_path / "local" / "airflow") == []

    again = run_again(tmp_path)
    assert again.returncode == 0, again.stdout[-5000:] + again.stderr[-3000:]
    assert "The run of anime_top10_report" not in again.stderr


@pytest.mark.cluster
@pytest.mark.skipif(
    bool(missing_binaries()) and not os.environ.get("CI"),
    reason="needs apt-get install -y postgresql redis-server",
)
def test_redis_killed_mid_run_stops_the_celery_run_naming_it():
    # PostgreSQL runs as its own user, which must reach its data folder: pytest's tmp folders are private.
    root = Path(tempfile.mkdtemp(prefix="datalake-cluster-"))
    root.chmod(0o755)
    try:
        process, output, started, killed = kill_mid_run(
            root, "redis-server", "redis-server", "--executor", "celery"
        )
        try:
            code = process.wait(timeout=180)
            noticed = time.monotonic() - killed
        finally:
            if process.poll() is None:
                process.kill()
        printed = output.read_text()
        remaining = survivors(started, root / "local" / "airflow")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert code == 1, printed[-5000:]
    assert noticed < 90, f"{noticed:.0f} s from the kill to the exit (the workers' warm shutdown is bounded)"
    log = root / "local" / "logs" / "cluster" / "redis.log"
    message = f"make run EXECUTOR=celery: redis-server was killed by SIGKILL during the run; its log: {log}"
    assert message in printed, printed[-3000:]
    assert remaining == []

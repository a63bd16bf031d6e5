"""The runners' start-up, before any Airflow: a bad lake is named, a busy metadata DB is waited for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from local_stack.processes import exclusive_use
from local_stack.stack import metadata_lock

REPO = Path(__file__).resolve().parents[3]


def environment() -> dict[str, str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_") and k != "TMDB_API_TOKEN"
    }
    return {**clean, "PYTHONUNBUFFERED": "1"}


def runner(module: str, lake: Path, local: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", module, "--lake", str(lake), "--local", str(local), *args]
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_lake_that_is_a_file_stops_make_run_before_anything_starts(tmp_path):
    lake = tmp_path / "lake"
    lake.write_text("")
    process = runner("local_stack.run", lake, tmp_path / "local", "--date", "2026-11-27")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert f"make run: The lake folder {lake} is a file, not a folder" in err
    assert "TMDB sandbox:" not in out and not (tmp_path / "local" / "logs").exists()


@pytest.mark.parametrize(
    "module, args, runner_name, signum",
    [
        ("local_stack.run", ["--date", "2026-11-27"], "make run", signal.SIGTERM),
        ("local_stack.cli", ["dags", "list"], "make airflow-cli", signal.SIGINT),
        ("local_stack.standalone", ["--port", "1"], "make airflow", signal.SIGHUP),
    ],
)
def test_a_runner_on_a_busy_metadata_db_waits_naming_the_holder_and_a_signal_ends_the_wait(
    tmp_path, module, args, runner_name, signum
):
    local = tmp_path / "local"
    with exclusive_use(metadata_lock(local / "airflow"), "make run for 2026-11-26"):
        process = runner(module, tmp_path / "lake", local, *args)
        waiting = process.stderr.readline()
        holder = f"Waiting for make run for 2026-11-26 (pid {os.getpid()}), which uses the same metadata DB"
        assert holder in waiting
        assert psutil.Process(process.pid).children() == [], "nothing started while it waits"
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert f"{runner_name}: interrupted by {name} during waiting for the metadata DB's lock" in err
    assert "TMDB sandbox:" not in out

"""The run's log file: children's output in it, on the terminal too with VERBOSE=1; third-party noise out."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_stack.run_log import RunLog, run_log_path, verbose

CHILD = (
    "import sys; print('scheduler started', flush=True); print('task failed', file=sys.stderr, flush=True)"
)


def child(log: RunLog) -> None:
    subprocess.run([sys.executable, "-c", CHILD], stdout=log.sink, stderr=subprocess.STDOUT, check=True)


def test_the_log_of_a_run_is_named_after_its_start():
    started = datetime(2026, 12, 2, 17, 13, 7, tzinfo=UTC)
    assert run_log_path(Path(".local"), started) == Path(".local/logs/run-2026-12-02-171307.log")


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("", False), ("0", False)])
def test_verbose_is_asked_for_by_the_environment(value, expected):
    assert verbose({"VERBOSE": value}) is expected
    assert verbose({}) is False


def test_a_childs_output_goes_to_the_file_only(tmp_path):
    terminal = (tmp_path / "terminal").open("wb")
    path = tmp_path / "logs" / "run.log"
    with RunLog(path, echo=False, terminal=terminal) as log:
        log.write("make run for 2026-12-02")
        child(log)
    terminal.close()
    assert path.read_text() == "make run for 2026-12-02\nscheduler started\ntask failed\n"
    assert (tmp_path / "terminal").read_bytes() == b""
    assert path.stat().st_mode & 0o777 == 0o600


def test_verbose_streams_the_childs_output_to_the_terminal_as_well(tmp_path):
    terminal = (tmp_path / "terminal").open("wb")
    path = tmp_path / "run.log"
    with RunLog(path, echo=True, terminal=terminal) as log:
        child(log)
        child(log)
    terminal.close()
    expected = "scheduler started\ntask failed\n" * 2
    assert path.read_text() == expected
    assert (tmp_path / "terminal").read_text() == expected


def test_a_closed_log_gives_no_sink(tmp_path):
    with pytest.raises(RuntimeError, match="not open"):
        RunLog(tmp_path / "run.log").sink  # noqa: B018

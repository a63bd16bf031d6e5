"""The run's log file: children's output in it, on the terminal too with VERBOSE=1."""

from __future__ import annotations

import subprocess
import sys

from local_stack.run_log import RunLog

CHILD = (
    "import sys; print('scheduler started', flush=True); print('task failed', file=sys.stderr, flush=True)"
)


def child(log: RunLog) -> None:
    subprocess.run([sys.executable, "-c", CHILD], stdout=log.sink, stderr=subprocess.STDOUT, check=True)


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

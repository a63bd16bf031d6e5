"""The run's log file: children's output in it, on the terminal too with VERBOSE=1; third-party noise out."""

from __future__ import annotations

import subprocess
import sys

from local_stack.run_log import NOISE_FILTERS, RunLog, quiet_environment

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


WARN = """
import warnings
warnings.warn_explicit("Using `httpx` with `starlette.testclient` is deprecated; install `httpx2` instead.",
                       UserWarning, "testclient.py", 1, module="fastapi.testclient")
warnings.warn_explicit("Could not import graphviz. Rendering graph ...", UserWarning, "dag_command.py", 57,
                       module="airflow.cli.commands.dag_command")
warnings.warn_explicit("Could not import graphviz.", UserWarning, "mine.py", 1, module="datalake.mine")
warnings.warn_explicit("something else", UserWarning, "testclient.py", 2, module="fastapi.testclient")
"""


def test_the_noise_filters_silence_only_those_warnings_where_they_arise(tmp_path):
    environment = quiet_environment({"PATH": "/usr/bin", "PYTHONWARNINGS": "error::ResourceWarning"})
    assert environment["PYTHONWARNINGS"].split(",") == [*NOISE_FILTERS, "error::ResourceWarning"]
    shown = subprocess.run(
        [sys.executable, "-c", WARN], env=environment, capture_output=True, text=True, check=True
    ).stderr
    assert "httpx" not in shown and "Rendering graph" not in shown and "Invalid -W option" not in shown
    assert "mine.py" in shown and "something else" in shown
    unfiltered = subprocess.run(
        [sys.executable, "-c", WARN], capture_output=True, text=True, check=True
    ).stderr
    assert "httpx" in unfiltered and "Rendering graph" in unfiltered

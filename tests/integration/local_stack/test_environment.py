"""The noise filters, tried on a real interpreter: only the warnings they name are silenced."""

from __future__ import annotations

import subprocess
import sys

from local_stack.environment import NOISE_FILTERS, warning_filters

WARN = """
import warnings
warnings.warn_explicit("Using `httpx` with `starlette.testclient` is deprecated; install `httpx2` instead.",
                       UserWarning, "testclient.py", 1, module="fastapi.testclient")
warnings.warn_explicit("Could not import graphviz. Rendering graph ...", UserWarning, "dag_command.py", 57,
                       module="airflow.cli.commands.dag_command")
warnings.warn_explicit("Could not import graphviz.", UserWarning, "mine.py", 1, module="datalake.mine")
warnings.warn_explicit("something else", UserWarning, "testclient.py", 2, module="fastapi.testclient")
"""


def test_the_noise_filters_silence_only_those_warnings_where_they_arise():
    environ = {"PATH": "/usr/bin", "PYTHONWARNINGS": "error::ResourceWarning"}
    filtered = {**environ, **warning_filters(environ)}
    assert filtered["PYTHONWARNINGS"].split(",") == [*NOISE_FILTERS, "error::ResourceWarning"]
    shown = subprocess.run(
        [sys.executable, "-c", WARN], env=filtered, capture_output=True, text=True, check=True
    ).stderr
    assert "httpx" not in shown and "Rendering graph" not in shown and "Invalid -W option" not in shown
    assert "mine.py" in shown and "something else" in shown
    unfiltered = subprocess.run(
        [sys.executable, "-c", WARN], capture_output=True, text=True, check=True
    ).stderr
    assert "httpx" in unfiltered and "Rendering graph" in unfiltered

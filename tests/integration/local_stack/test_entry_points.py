"""Every runner starts as ``python -m <module>`` from the repository, as the Makefile starts it: with no
PYTHONPATH, whatever order its imports are sorted in (the editable install puts ``datalake`` on the path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "module",
    [
        "local_stack.run",
        "local_stack.standalone",
        "local_stack.cli",
        "local_stack.cluster",
        "bench",
    ],
)
def test_the_runner_starts_without_a_pythonpath(module):
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage:" in done.stdout

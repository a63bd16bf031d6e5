"""The compose sandbox service's command line is one ``python -m sandbox.tmdb_app`` accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- helpers


def test_the_sandbox_command_line_is_the_apps(services):
    sandbox = services["tmdb-sandbox"]
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.tmdb_app", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    for flag in sandbox["command"][::2]:
        assert flag in result.stdout, f"sandbox.tmdb_app has no {flag}"


# ---------------------------------------------------------------- the image

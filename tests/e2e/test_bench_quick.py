"""``make bench QUICK=1`` end to end, so the harness cannot rot between full runs.

It asserts that every row comes out with numeric figures, not that targets are met: shared CI
machines vary, and the full run on a known machine is what ``docs/benchmarks.md`` records.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / ".bench" / "results-quick.json"

pytestmark = pytest.mark.e2e


def test_the_quick_bench_produces_every_row_with_numbers():
    RESULTS.unlink(missing_ok=True)
    # The bench sets its own connections; a user's must not send it to real services.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIRFLOW_CONN_") and name != "TMDB_API_TOKEN"
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(RESULTS.read_text())["rows"]
    stages = [row["stage"] for row in rows]
    expected_prefixes = [
        "CSV landing 4 MB",
        "CSV landing 8 MB",
        "CSV landing 32 MB",
        "CSV landing CPU 4 MB",
        "CSV landing CPU 8 MB",
        "CSV landing CPU 32 MB",
        "contract check alone",
        "peak RSS, landing 4 MB",
        "peak RSS, landing 8 MB",
        "peak RSS, landing 32 MB",
        "DAG parse",
        "TMDB requests, top_n 10",
        "TMDB Lambda wall, top_n 10",
    ]
    for prefix in expected_prefixes:
        assert any(stage.startswith(prefix) for stage in stages), f"no row {prefix!r} in {stages}"
    for row in rows:
        assert isinstance(row["figure"], (int, float)) and math.isfinite(row["figure"]), row
        for field in ("baseline", "ratio"):
            assert row[field] is None or math.isfinite(row[field]), row
        assert row["met"] in (True, False, None), row
    assert "| stage" in done.stdout, "the table is printed"

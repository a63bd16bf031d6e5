"""``make run EXECUTOR=celery``: the same job on a Celery cluster started for it, triggered through the REST
API, the report started by its asset schedule; the same objects as ``make run``, spread over two workers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from datalake import layout, settings
from local_stack.cluster import WORKERS
from local_stack.databases import missing_binaries
from tests.e2e.conftest import clean_environment
from tests.e2e.test_make_run import DATE, DAY, lake_files

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.cluster,
    pytest.mark.skipif(
        bool(missing_binaries()) and not os.environ.get("CI"),
        reason="needs apt-get install -y postgresql redis-server",
    ),
]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def celery_run():
    # PostgreSQL runs as its own user, which must reach its data folder: pytest's tmp folders are private.
    root = Path(tempfile.mkdtemp(prefix="datalake-celery-run-"))
    root.chmod(0o755)
    try:
        command = [
            sys.executable,
            "-m",
            "local_stack.run",
            "--date",
            DAY,
            "--lake",
            str(root / "lake"),
            "--local",
            str(root / "local"),
        ]
        result = subprocess.run(
            command,
            cwd=REPO,
            env={**clean_environment(), "EXECUTOR": "celery"},
            capture_output=True,
            text=True,
            timeout=900,
        )
        yield result, lake_files(root / "lake"), lake_files(root / "lake", "Refined")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_it_exits_0_and_names_both_workers(celery_run):
    result, _, _ = celery_run
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    found = re.search(r"^Task instances per worker: (.+)$", result.stdout, re.MULTILINE)
    assert found, result.stdout[-3000:]
    hosts = dict(part.rsplit(" ", 1) for part in found.group(1).split(", "))
    assert set(hosts) == set(WORKERS) and all(int(count) > 0 for count in hosts.values())


def test_it_lands_the_same_keys_and_csv_bytes_as_make_run(celery_run):
    _, files, _ = celery_run
    manifest = json.loads(files[layout.manifest_key(DATE, settings.RAW_DAG_ID)])
    assert manifest["run_id"].startswith("manual__")
    assert {entry["key"] for entry in manifest["objects"]} | {
        layout.manifest_key(DATE, settings.RAW_DAG_ID)
    } == {key for key in files if "/2026/11/27/" in key}
    for key in (key for key in files if key.endswith(".csv")):
        assert files[key] == (REPO / "include" / "data" / Path(key).name).read_bytes()


def test_the_report_was_produced_by_the_asset_schedule(celery_run):
    result, _, refined = celery_run
    assert layout.report_key(DATE, "html") in refined
    assert "TMDB against IMDb for 2026-11-27" in result.stdout
    assert re.search(
        rf"^anime_top10_report started from its asset schedule for partition {DAY}: "
        r"run \S+ \(asset_triggered\)$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout[-3000:]

"""`make run`'s job end to end: real Airflow (`dags test`), real S3 server, the TMDB sandbox.

The runs share one Airflow home, so its metadata DB is migrated once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from datalake import layout
from datalake.datasets import DATASETS
from datalake.ranking import DiscoverQuery
from sandbox.services import tmdb_sandbox
from tests.catalog import CATALOG, expected_top

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-27"


def lake_files(lake: Path) -> dict[str, bytes]:
    bucket = lake / "datalake"
    return {str(path.relative_to(bucket)): path.read_bytes() for path in bucket.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("local")


def make_run(day: str, lake: Path, local: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_") and k != "TMDB_API_TOKEN"}
    command = [sys.executable, "-m", "sandbox.run", "--date", day, "--lake", str(lake), "--local", str(local)]
    return subprocess.run(command, cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def first_run(local, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    result = make_run(DAY, lake, local)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return lake, result, lake_files(lake)


def test_the_run_lands_exactly_the_csvs_and_the_top_ten(first_run):
    _, _, files = first_run
    day = layout.partition_date(None, __import__("datetime").datetime.fromisoformat(DAY))
    top = expected_top(DiscoverQuery())
    expected = {layout.csv_key(dataset, day) for dataset in DATASETS}
    expected |= {layout.discover_key(day, 1)} | {layout.details_key(day, series_id) for series_id in top}
    assert set(files) == expected
    for dataset in DATASETS:
        assert files[layout.csv_key(dataset, day)] == (REPO / "include" / "data" / dataset.filename).read_bytes()
    for series_id in top:
        details = json.loads(files[layout.details_key(day, series_id)])
        assert details["id"] == series_id and details["external_ids"]["imdb_id"].startswith("tt")


def test_the_summary_lists_objects_and_the_ranked_table(first_run):
    _, result, _ = first_run
    assert "Raw/Local/CSV/Movies/2026/11/27/movies.csv" in result.stdout
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+.+\s+\d+\.\d{3}\s+\d+\s+\d+\s+\d+$", result.stdout, re.MULTILINE)
    assert [int(series_id) for _, series_id in rows] == expected_top(DiscoverQuery())
    assert [int(rank) for rank, _ in rows] == list(range(1, 11))


def test_a_second_run_of_the_same_date_leaves_the_same_keys_and_csv_bytes(first_run, local):
    lake, _, before = first_run
    result = make_run(DAY, lake, local)
    assert result.returncode == 0, result.stderr[-5000:]
    after = lake_files(lake)
    assert set(after) == set(before)
    assert {k: v for k, v in after.items() if k.endswith(".csv")} == {k: v for k, v in before.items() if k.endswith(".csv")}


def test_another_tmdb_server_given_by_connection_is_used_and_ranked_by_the_rule(local, tmp_path):
    catalog = json.loads(CATALOG.read_text())
    for series in catalog["series"]:
        if series["id"] == 88803:  # Vinland Saga: 11th in the shipped catalog, first here.
            series["vote_average"] = 9.9
    other = tmp_path / "catalog.json"
    other.write_text(json.dumps(catalog))
    with tmdb_sandbox(tmp_path / "tmdb.log", catalog=other) as server:
        result = make_run("2026-11-28", tmp_path / "lake", local, AIRFLOW_CONN_TMDB_DEFAULT=server.airflow_connection())
    assert result.returncode == 0, result.stderr[-5000:]
    assert "TMDB sandbox:" not in result.stdout
    landed = sorted(int(m) for m in re.findall(r"tv_(\d+)\.json", " ".join(lake_files(tmp_path / "lake"))))
    top = expected_top(DiscoverQuery(), catalog=other)
    assert top[0] == 88803
    assert landed == sorted(top)


def test_a_failed_run_exits_non_zero_and_stops_its_services(local, tmp_path, tmdb):
    refused = json.dumps({"conn_type": "http", "host": tmdb.base_url, "password": "0" * 32})
    result = make_run("2026-11-29", tmp_path / "lake", local, AIRFLOW_CONN_TMDB_DEFAULT=refused)
    assert result.returncode != 0
    assert "failed" in result.stderr
    assert "credential was refused" in result.stdout + result.stderr
    assert "0" * 32 not in result.stdout + result.stderr
    port = int(re.search(r"Embedded S3: http://127.0.0.1:(\d+)", result.stdout).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

"""`make run`'s job end to end: real Airflow (`make airflow`'s stack, driven through its REST API), real S3
server, the TMDB sandbox.

The runs share one Airflow home, so its metadata DB is migrated once.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest
import requests

from datalake import layout, settings
from datalake.csvs.files import CSV_FILES
from datalake.tmdb.ranking import DiscoverQuery
from local_stack.services import free_port, rclone_s3, tmdb_sandbox
from tests.catalog import CATALOG, expected_top
from tests.e2e.conftest import clean_environment

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-27"
DATE = date.fromisoformat(DAY)
DAG_ID = settings.RAW_DAG_ID
REPORT_DAG_ID = settings.REPORT_DAG_ID
MIGRATING = "Performing upgrade to the metadata database"


def lake_files(lake: Path, root: str = "Raw") -> dict[str, bytes]:
    bucket = lake / "datalake"
    return {
        str(path.relative_to(bucket)): path.read_bytes()
        for path in (bucket / root).rglob("*")
        if path.is_file()
    }


def task_logs(local: Path, day: str) -> str:
    """Every task log of the raw DAG's runs of partition ``day``: the scheduler's tasks log to files, not to
    the runner's output."""
    with sqlite3.connect(local / "airflow" / "airflow.db") as db:
        run_ids = [
            run_id
            for (run_id,) in db.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = ? AND partition_key = ?", (DAG_ID, day)
            )
        ]
    logs = local / "airflow" / "logs" / f"dag_id={DAG_ID}"
    paths = [path for run_id in run_ids for path in (logs / f"run_id={run_id}").rglob("*.log")]
    return "".join(path.read_text(errors="replace") for path in paths)


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("local")


def make_run(day: str, lake: Path, local: Path, conf: str = "{}", **env: str) -> subprocess.CompletedProcess:
    clean = clean_environment()
    command = [
        sys.executable,
        "-m",
        "local_stack.run",
        "--date",
        day,
        "--lake",
        str(lake),
        "--local",
        str(local),
        "--conf",
        conf,
    ]
    return subprocess.run(
        command, cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def first_run(local, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    result = make_run(DAY, lake, local)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return lake, result, lake_files(lake)


def test_the_terminal_shows_a_short_run_without_warnings_and_the_full_log_one_path_away(first_run, local):
    _, result, _ = first_run
    printed = (result.stdout + result.stderr).splitlines()
    assert len(printed) <= 60, "\n".join(printed)
    assert not [line for line in printed if "warning" in line.lower()], "\n".join(printed)
    log = re.fullmatch(r"Log: (\S+)", result.stdout.splitlines()[-1])
    assert log and result.stdout.splitlines()[0] == f"Log: {log[1]}"
    assert Path(log[1]).parent == (local / "logs").resolve()
    text = Path(log[1]).read_text()
    assert "scheduler" in text and "api-server" in text, "the processes' own output went to the log"
    tasks = [line for line in printed if line.startswith("ok ")]
    assert len(tasks) == 18 and any(line.split()[1] == "land_movies_csv" for line in tasks)


def test_the_run_lands_exactly_the_csvs_the_top_ten_and_the_manifest(first_run):
    _, _, files = first_run
    top = expected_top(DiscoverQuery())
    expected = {layout.csv_key(csv_file, DATE) for csv_file in CSV_FILES}
    expected |= {layout.discover_key(DATE, 1)} | {layout.details_key(DATE, series_id) for series_id in top}
    assert set(files) == expected | {layout.manifest_key(DATE, DAG_ID)}
    for csv_file in CSV_FILES:
        assert (
            files[layout.csv_key(csv_file, DATE)]
            == (REPO / "include" / "data" / csv_file.filename).read_bytes()
        )
    for series_id in top:
        details = json.loads(files[layout.details_key(DATE, series_id)])
        assert details["id"] == series_id and details["external_ids"]["imdb_id"].startswith("tt")


def test_the_manifest_records_every_object_and_the_ranking(first_run):
    _, _, files = first_run
    manifest = json.loads(files[layout.manifest_key(DATE, DAG_ID)])
    assert manifest["partition"] == DAY and manifest["logical_date"] is None  # a partition, no logical date
    assert manifest["run_id"] and manifest["params"]["top_n"] == 10
    assert [series["id"] for series in manifest["ranking"]] == expected_top(DiscoverQuery())
    assert all({"vote_average", "vote_count"} <= set(series) for series in manifest["ranking"])
    entries = {entry["key"]: entry for entry in manifest["objects"]}
    assert set(entries) == set(files) - {layout.manifest_key(DATE, DAG_ID)}
    for key, entry in entries.items():
        assert entry["bytes"] == len(files[key])
        assert entry["sha256"] == hashlib.sha256(files[key]).hexdigest()
        assert entry["fetched_at"] and entry["source"]
    movies = entries[layout.csv_key(CSV_FILES[0], DATE)]
    assert movies["records"] == (REPO / "include" / "data" / "movies.csv").read_bytes().count(b"\n") - 1
    assert entries[layout.discover_key(DATE, 1)]["records"] == 20


def test_the_lambda_ran_as_the_last_task_and_wrote_the_same_tmdb_objects(first_run, local):
    lake, result, files = first_run
    assert "Parity: the Lambda ranked and wrote the same 11 objects." in task_logs(local, DAY)
    parity = {key.removeprefix("Parity/Lambda/"): body for key, body in lake_files(lake, "Parity").items()}
    assert parity == {key: body for key, body in files.items() if key.startswith("Raw/TMDB/")}


def test_asset_events_carry_what_landed_and_the_partition(first_run, local):
    with sqlite3.connect(local / "airflow" / "airflow.db") as db:
        events = db.execute(
            "SELECT asset.name, asset_event.partition_key, asset_event.extra FROM asset_event "
            "JOIN asset ON asset.id = asset_event.asset_id"
        ).fetchall()
    assert {partition_key for _, partition_key, _ in events} == {DAY}
    assert {json.loads(extra)["bucket"] for _, _, extra in events} == {"datalake"}
    by_key = {entry["key"]: name for name, _, extra in events for entry in json.loads(extra)["objects"]}
    assert by_key[layout.csv_key(CSV_FILES[0], DATE)] == "datalake_raw_csv_movies"
    assert by_key[layout.details_key(DATE, 209867)] == "datalake_raw_tmdb"
    assert by_key[layout.manifest_key(DATE, DAG_ID)] == "datalake_raw_manifests"
    movies = next(
        entry
        for _, _, extra in events
        for entry in json.loads(extra)["objects"]
        if entry["key"].endswith("movies.csv")
    )
    assert movies["records"] > 0 and len(movies["sha256"]) == 64 and movies["bytes"] > 0


def test_the_summary_lists_objects_and_the_comparison_table_once(first_run):
    _, result, _ = first_run
    assert "Raw/Local/CSV/Movies/2026/11/27/movies.csv" in result.stdout
    ranks = re.findall(r"^(\d+)\s{2,}\S.*\s\d+\.\d{3}\s", result.stdout, re.MULTILINE)
    assert [int(rank) for rank in ranks] == list(range(1, 11)), "one table of the ten: the report's"
    assert not re.search(r"^\s*rank\s+tmdb id", result.stdout, re.MULTILINE), "the report's table suffices"


@pytest.fixture(scope="module")
def second_run(first_run, local) -> subprocess.CompletedProcess:
    """The same date again, on the same lake and Airflow home."""
    lake, _, _ = first_run
    result = make_run(DAY, lake, local)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def run_log(result: subprocess.CompletedProcess) -> str:
    """The run's full log, whose path make run prints first: what its processes printed."""
    return Path(re.fullmatch(r"Log: (\S+)", result.stdout.splitlines()[0])[1]).read_text()


def test_a_second_run_skips_the_migrate_and_still_runs_both_dags(first_run, second_run):
    _, first, _ = first_run
    assert MIGRATING in run_log(first)
    assert MIGRATING not in run_log(second_run)
    assert f"{REPORT_DAG_ID} started from its asset schedule for partition {DAY}" in second_run.stdout
    assert f"TMDB against IMDb for {DAY}" in second_run.stdout


def test_a_second_run_of_the_same_date_leaves_the_same_keys_and_csv_bytes(first_run, second_run):
    lake, _, before = first_run
    after = lake_files(lake)
    assert set(after) == set(before)
    assert {k: v for k, v in after.items() if k.endswith(".csv")} == {
        k: v for k, v in before.items() if k.endswith(".csv")
    }

    def csv_entries(files: dict[str, bytes]) -> list[dict]:
        objects = json.loads(files[layout.manifest_key(DATE, DAG_ID)])["objects"]
        return [entry for entry in objects if entry["key"].endswith(".csv")]

    assert csv_entries(after) == csv_entries(before)


def test_another_tmdb_server_given_by_connection_is_used_and_ranked_by_the_rule(local, tmp_path):
    catalog = json.loads(CATALOG.read_text())
    for series in catalog["series"]:
        if series["id"] == 88803:  # Vinland Saga: 11th in the shipped catalog, first here.
            series["vote_average"] = 9.9
    other = tmp_path / "catalog.json"
    other.write_text(json.dumps(catalog))
    with tmdb_sandbox(tmp_path / "tmdb.log", catalog=other) as server:
        result = make_run(
            "2026-11-28", tmp_path / "lake", local, AIRFLOW_CONN_TMDB_DEFAULT=server.airflow_connection()
        )
    assert result.returncode == 0, result.stderr[-5000:]
    assert "TMDB sandbox:" not in result.stdout
    landed = sorted(int(m) for m in re.findall(r"tv_(\d+)\.json", " ".join(lake_files(tmp_path / "lake"))))
    top = expected_top(DiscoverQuery(), catalog=other)
    assert top[0] == 88803
    assert landed == sorted(top)


def test_a_failed_run_exits_non_zero_skips_the_report_and_stops_its_services(local, tmp_path, tmdb):
    refused = json.dumps({"conn_type": "http", "host": tmdb.base_url, "password": "0" * 32})
    result = make_run("2026-11-29", tmp_path / "lake", local, AIRFLOW_CONN_TMDB_DEFAULT=refused)
    assert result.returncode != 0
    logs = re.escape(str(local.resolve() / "logs"))
    assert re.search(rf"The run \S+ of {DAG_ID} for 2026-11-29 ended failed; logs: {logs}", result.stderr)
    with sqlite3.connect(local / "airflow" / "airflow.db") as db:
        reports = db.execute(
            "SELECT count(*) FROM dag_run WHERE dag_id = ? AND partition_key = '2026-11-29'",
            (REPORT_DAG_ID,),
        ).fetchone()[0]
    assert reports == 0
    assert "Objects in s3://" not in result.stdout
    assert "credential was refused" in task_logs(local, "2026-11-29")
    assert "0" * 32 not in result.stdout + result.stderr + task_logs(local, "2026-11-29")
    port = int(re.search(r"Embedded S3: http://127.0.0.1:(\d+)", result.stdout).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_zero_results_end_the_run_successfully_without_detail_tasks(local, tmp_path):
    result = make_run("2026-11-30", tmp_path / "lake", local, conf='{"origin_country": "ZZ"}')
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert "TMDB found no series" in result.stdout + result.stderr
    files = lake_files(tmp_path / "lake")
    day = date(2026, 11, 30)
    assert not [key for key in files if "/tv_" in key]
    manifest = json.loads(files[layout.manifest_key(day, DAG_ID)])
    assert manifest["ranking"] == [] and manifest["params"]["origin_country"] == "ZZ"


def test_a_top_n_below_ten_is_summarised_as_the_run_ranked_it(local, tmp_path):
    result = make_run("2026-11-26", tmp_path / "lake", local, conf='{"top_n": 3}')
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert '"top_n": 3' in result.stdout
    manifest = json.loads(lake_files(tmp_path / "lake")[layout.manifest_key(date(2026, 11, 26), DAG_ID)])
    assert [series["id"] for series in manifest["ranking"]] == expected_top(DiscoverQuery(top_n=3))
    assert "TMDB against IMDb for 2026-11-26 (3 series" in result.stdout


def test_a_csv_that_breaks_its_contract_fails_and_lands_nothing(local, tmp_path):
    good = (REPO / "include" / "data" / "movies.csv").read_text().splitlines()
    bad = tmp_path / "movies.csv"
    bad.write_text("\n".join(good[:5] + [good[5].rsplit("|", 1)[0]] + good[6:]) + "\n")
    result = make_run("2026-12-01", tmp_path / "lake", local, MOVIES_CSV=str(bad))
    assert result.returncode != 0
    assert f"{bad}: line 6: expected 15 fields separated by '|', found 14" in task_logs(local, "2026-12-01")
    files = lake_files(tmp_path / "lake")
    assert not [key for key in files if key.startswith("Raw/Local/CSV/Movies/")]
    assert not [key for key in files if key.startswith("Raw/_manifests/")]


def test_rate_limits_and_server_errors_before_each_detail_are_survived_without_leaking_the_key(
    local, tmp_path, tmdb
):
    """TMDB answers every /tv/{id} first 429 (Retry-After: 1), then 500; the v3 key travels in URLs."""
    admin = tmdb.base_url.removesuffix("/3")
    rules = [
        {"path": "/3/tv/*", "fault": "429", "retry_after": 1, "times": 1},
        {"path": "/3/tv/*", "fault": "500", "times": 1},
    ]
    requests.put(f"{admin}/_sandbox/faults", json=rules, timeout=5).raise_for_status()
    requests.delete(f"{admin}/_sandbox/requests", timeout=5).raise_for_status()
    connection = json.dumps({"conn_type": "http", "host": tmdb.base_url, "password": tmdb.api_key})
    try:
        result = make_run("2026-12-02", tmp_path / "lake", local, AIRFLOW_CONN_TMDB_DEFAULT=connection)
        log = requests.get(f"{admin}/_sandbox/requests", timeout=5).json()
    finally:
        requests.delete(f"{admin}/_sandbox/faults", timeout=5)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    files = lake_files(tmp_path / "lake")
    top = expected_top(DiscoverQuery())
    assert sorted(int(k.rsplit("tv_", 1)[1][:-5]) for k in files if "/tv_" in k) == sorted(top)
    per_id = Counter(entry["path"] for entry in log if entry["path"].startswith("/3/tv/"))
    assert set(per_id) == {f"/3/tv/{series_id}" for series_id in top}
    assert max(per_id.values()) <= 3

    secret = tmdb.api_key
    assert secret not in result.stdout + result.stderr
    assert not [key for key, body in files.items() if secret.encode() in body]
    leaks = [path for path in local.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]
    assert leaks == [], "task logs, XCom and rendered fields live under the Airflow home"


def test_a_storage_server_restarted_mid_run_is_survived(local, tmp_path, tmdb):
    """S3 goes away while details are landing and comes back 3 s later: task retries finish the run."""
    admin = tmdb.base_url.removesuffix("/3")
    requests.put(
        f"{admin}/_sandbox/faults",
        json=[{"path": "/3/tv/*", "fault": "slow", "delay": 1.0, "times": 1}],
        timeout=5,
    ).raise_for_status()
    lake, port = tmp_path / "lake", free_port()
    with ExitStack() as stack:
        s3 = stack.enter_context(rclone_s3(lake, "datalake", tmp_path / "rclone.log", port=port))

        def restart_when_details_land() -> None:
            deadline = time.monotonic() + 300
            while (
                not list(lake.glob("datalake/Raw/TMDB/JSON/*/*/*/tv_*.json")) and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            stack.close()
            time.sleep(3)
            stack.enter_context(
                rclone_s3(lake, "datalake", tmp_path / "rclone.log", port=port, secret_key=s3.secret_key)
            )

        restarter = threading.Thread(target=restart_when_details_land)
        restarter.start()
        try:
            result = make_run("2026-12-03", lake, local, AIRFLOW_CONN_AWS_DEFAULT=s3.airflow_connection())
        finally:
            restarter.join()
            requests.delete(f"{admin}/_sandbox/faults", timeout=5)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert "Embedded S3:" not in result.stdout
    assert "the S3 endpoint is unreachable" in task_logs(local, "2026-12-03"), "the outage was not hit"
    files = lake_files(lake)
    assert len([key for key in files if "/tv_" in key]) == 10
    assert layout.manifest_key(date(2026, 12, 3), DAG_ID) in files


def airflow_cli(lake: Path, local: Path, *command: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "local_stack.cli", "--lake", str(lake), "--local", str(local), *command]
    return subprocess.run(
        args, cwd=REPO, env=clean_environment(), capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "task_id",
    [
        "land_movies_csv",
        "land_series_csv",
        "discover_top_anime",
        "ranked_ids",
        "write_manifest",
        "invoke_lambda_parity",
    ],
)
def test_each_task_runs_alone_with_airflow_tasks_test(first_run, local, task_id):
    lake, _, _ = first_run
    result = airflow_cli(lake, local, "tasks", "test", DAG_ID, task_id, DAY)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert f"[DAG TEST] end task task_id={task_id}" in result.stdout + result.stderr


def test_one_map_index_runs_alone_against_an_existing_run(first_run, local):
    lake, _, _ = first_run
    with sqlite3.connect(local / "airflow" / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? AND partition_key = ? ORDER BY id DESC",
            (DAG_ID, DAY),
        ).fetchone()
    result = airflow_cli(
        lake, local, "tasks", "test", DAG_ID, "fetch_series_details", run_id, "--map-index", "0"
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert (
        f"Stored Raw/TMDB/JSON/2026/11/27/tv_{expected_top(DiscoverQuery())[0]}.json"
        in result.stdout + result.stderr
    )

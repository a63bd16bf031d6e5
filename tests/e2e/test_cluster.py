"""The DAGs on one real Celery cluster (``make cluster``: PostgreSQL, Redis, two workers), shared by every
test.

The TMDB sandbox is the test's own, so its request log is at hand; its connection allows 4 requests/s,
a budget that only a store shared by both workers can hold.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import psutil
import pytest
import requests

from datalake import layout, settings
from datalake.tmdb.ranking import DiscoverQuery
from local_stack.airflow_api import AirflowApi, run_after_for
from local_stack.cluster import WORKERS, Cluster
from local_stack.databases import missing_binaries
from local_stack.run import run_and_report
from local_stack.services import free_port, tmdb_sandbox
from local_stack.stack import admin_password
from tests.catalog import expected_top
from tests.e2e.conftest import clean_environment

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.cluster,
    pytest.mark.skipif(
        bool(missing_binaries()) and not os.environ.get("CI"),
        reason="needs apt-get install -y postgresql redis-server",
    ),
]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = settings.RAW_DAG_ID
RATE = 4
TOP_N = 14


@pytest.fixture(scope="module")
def tmdb(tmp_path_factory):
    with tmdb_sandbox(tmp_path_factory.mktemp("cluster-tmdb") / "tmdb.log") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def cluster_runner(tmdb) -> Iterator[tuple[subprocess.Popen, Cluster]]:
    """The ``make cluster`` process and the cluster it serves."""
    # PostgreSQL runs as its own user, which must reach its data folder: pytest's tmp folders are private.
    root = Path(tempfile.mkdtemp(prefix="datalake-cluster-"))
    root.chmod(0o755)
    lake, local = root / "lake", root / "local"
    connection = {
        "conn_type": "http",
        "host": tmdb.base_url,
        "password": tmdb.credential,
        "extra": {"requests_per_second": RATE},
    }
    env = {**clean_environment(), "AIRFLOW_CONN_TMDB_DEFAULT": json.dumps(connection)}
    port = free_port()
    log_path = root / "cluster.log"
    with ExitStack() as stack, log_path.open("wb") as log:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local_stack.cluster",
                "--port",
                str(port),
                "--lake",
                str(lake),
                "--local",
                str(local),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(stop, process)
        deadline = time.monotonic() + 400
        while b"is up:" not in log_path.read_bytes():
            assert process.poll() is None, log_path.read_text()[-5000:]
            assert time.monotonic() < deadline, (
                "make cluster did not come up: " + log_path.read_text()[-5000:]
            )
            time.sleep(1)
        pids = json.loads((local / "cluster" / "processes.json").read_text())
        yield (
            process,
            Cluster(
                AirflowApi(f"http://127.0.0.1:{port}", admin_password(local / "airflow")),
                local,
                lake,
                None,
                "datalake",
                pids=pids,
            ),
        )


@pytest.fixture(scope="module")
def cluster(cluster_runner) -> Cluster:
    return cluster_runner[1]


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, as a user's kill would send; the cluster stops everything it started."""
    process.terminate()
    try:
        process.wait(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def task_instances(cluster: Cluster, run_id: str) -> list[dict]:
    return cluster.client.task_instances(DAG_ID, run_id)


def lake_keys(cluster: Cluster, day: date) -> set[str]:
    bucket = cluster.local.parent / "lake" / "datalake"
    prefix = bucket / layout.tmdb_prefix(day)
    return {str(path.relative_to(bucket)) for path in prefix.rglob("*") if path.is_file()}


def test_both_dags_succeed_spread_over_both_workers_within_one_tmdb_budget(cluster, tmdb):
    admin = tmdb.base_url.removesuffix("/3")
    requests.delete(f"{admin}/_sandbox/requests", timeout=5).raise_for_status()
    day = date(2026, 11, 27)
    raw, report = run_and_report(cluster.client, day, {"top_n": TOP_N})
    assert raw["state"] == "success"
    assert report is not None and report["state"] == "success"

    mapped = [
        ti for ti in task_instances(cluster, raw["dag_run_id"]) if ti["task_id"] == "fetch_series_details"
    ]
    assert len(mapped) == TOP_N
    assert set(Counter(ti["hostname"] for ti in mapped)) == set(WORKERS)

    stamps = sorted(entry["at"] for entry in requests.get(f"{admin}/_sandbox/requests", timeout=5).json())
    assert len(stamps) >= TOP_N
    busiest = max(sum(1 for s in stamps if start <= s < start + 1) for start in stamps)
    assert busiest <= RATE, f"{busiest} TMDB requests within one second, budget {RATE}/s"


def test_a_worker_killed_mid_run_is_survived(cluster, tmdb):
    """SIGKILL of one worker's whole process tree while its details fetches run: the other worker finishes."""
    admin = tmdb.base_url.removesuffix("/3")
    # Each series' first detail request answers 4 s late, so the fetches are still running at the kill.
    rules = [{"path": "/3/tv/*", "fault": "slow", "delay": 4.0, "times": 1}]
    requests.put(f"{admin}/_sandbox/faults", json=rules, timeout=5).raise_for_status()
    day = date(2026, 11, 28)
    client = cluster.client
    client.set_paused(DAG_ID, True)
    run_id = client.trigger(DAG_ID, day.isoformat(), {}, run_after=run_after_for(day))["dag_run_id"]
    try:
        with client.unpaused(DAG_ID) as stop_unasked_runs:
            deadline = time.monotonic() + 240
            victim = None
            while victim is None:
                assert time.monotonic() < deadline, "no details fetch ever ran"
                running = [
                    ti
                    for ti in task_instances(cluster, run_id)
                    if ti["task_id"] == "fetch_series_details" and ti["state"] == "running" and ti["hostname"]
                ]
                victim = running[0]["hostname"] if running else None
                time.sleep(0.5)
            os.killpg(cluster.pids[victim], signal.SIGKILL)
            killed = time.monotonic()
            runs = client.follow([(DAG_ID, run_id)], lambda task: None, while_waiting=stop_unasked_runs)
            recovered = time.monotonic() - killed
    finally:
        requests.delete(f"{admin}/_sandbox/faults", timeout=5)
    run = runs[DAG_ID, run_id]
    assert run["state"] == "success"
    assert recovered < 180, f"the run finished {recovered:.0f} s after the kill"

    top = expected_top(DiscoverQuery())
    manifest_path = cluster.local.parent / "lake" / "datalake" / layout.manifest_key(day, DAG_ID)
    manifest = json.loads(manifest_path.read_text())
    listed = [entry["key"] for entry in manifest["objects"]]
    assert len(listed) == len(set(listed)), "an object is listed twice"
    details = {layout.details_key(day, series_id) for series_id in top}
    assert details <= set(listed)
    assert {key for key in lake_keys(cluster, day) if "/tv_" in key} == details


def test_sigterm_stops_every_process_the_cluster_started(cluster_runner):
    """Last in this module: the runner alone is signalled, as a user's kill would; nothing it started
    survives."""
    process, cluster = cluster_runner
    started = psutil.Process(process.pid).children(recursive=True)
    assert {"postgres", "redis-server"} <= {child.name() for child in started}
    # A worker killed earlier in the module has been reaped by the runner's watch: it is no child any more.
    alive = {pid for pid in cluster.pids.values() if psutil.pid_exists(pid)}
    assert len(alive) >= len(cluster.pids) - 1
    assert alive <= {child.pid for child in started}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=180) == 128 + signal.SIGTERM
    survivors = [child for child in started if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], [child.cmdline() for child in survivors]

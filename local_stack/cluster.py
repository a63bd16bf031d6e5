"""``make cluster``: docker-compose.yaml's topology natively on loopback, in the foreground, until Ctrl-C.

PostgreSQL (metadata DB) and Redis (Celery broker, and the one TMDB budget of every worker), the same embedded
S3, TMDB sandbox and Lambda as ``make run`` (``run.local_airflow``: a user's own ``AIRFLOW_CONN_*`` wins), and
Airflow with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer and two Celery workers.
``make run EXECUTOR=celery`` runs both DAGs for one date on it (``run_on_cluster``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from datalake.airflow_tasks import RATE_LIMIT_REDIS_URL_ENV
from local_stack.databases import group_process, postgres_server, redis_server, require_binaries
from local_stack.hostname import WORKER_HOSTNAME_ENV
from local_stack.run import (
    DAG_ID,
    REPO,
    REPORT_DAG_ID,
    add_location_arguments,
    guarded,
    local_airflow,
    report_summary,
    summary,
    user_s3_client,
)
from local_stack.services import free_port
from local_stack.standalone import ADMIN, admin_password

HOST = "127.0.0.1"
WORKERS = ("worker-1", "worker-2")
WORKER_CONCURRENCY = 4
READY_SECONDS = 300.0
RUN_SECONDS = 900.0

LOST_WORKER_SETTINGS = {
    # A task whose worker died stops heartbeating: failed (and retried elsewhere) after 30 s, not 300 s.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # A task the dead worker had taken but not started stays queued: requeued after 45 s, checked every 10 s.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "45",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
    # A message is acknowledged when its task ends, so one whose worker died is not lost with it...
    "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
    # ...and Redis hands an unacknowledged one out again after 5 min (not a day): longer than any task of
    # these DAGs runs, so a live worker's task is never delivered twice.
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "300",
}


@dataclass
class Cluster:
    url: str
    password: str
    local: Path
    s3: Any
    bucket: str
    pids: dict[str, int] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        token = requests.post(f"{self.url}/auth/token", json={"username": ADMIN, "password": self.password},
                              timeout=10)
        token.raise_for_status()
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{self.url}/api/v2{path}", headers=self.headers(), timeout=30, **kwargs
        )


def credentials(folder: Path) -> dict[str, str]:
    """The cluster's secrets, chosen once and kept private to this user: the metadata DB outlives a start."""
    path = folder / "credentials.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(
            json.dumps(
                {
                    "postgres": secrets.token_urlsafe(24),
                    "redis": secrets.token_urlsafe(24),
                    "fernet_key": Fernet.generate_key().decode(),
                    "jwt_secret": secrets.token_hex(32),
                }
            )
        )
    return json.loads(path.read_text())


def cluster_settings(database: str, broker: str, secret: dict[str, str], api_port: int) -> dict[str, str]:
    """What every Airflow process of the cluster shares, besides ``run.airflow_settings``."""
    url = f"http://{HOST}:{api_port}"
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{database}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__CORE__FERNET_KEY": secret["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secret["jwt_secret"],
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "local_stack.hostname.worker_hostname",
        RATE_LIMIT_REDIS_URL_ENV: broker,
        # local_stack.hostname must import in every process, the task processes too.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        **LOST_WORKER_SETTINGS,
    }


@contextmanager
def celery_cluster(lake: Path, local: Path, api_port: int | None = None) -> Iterator[Cluster]:
    """Every server and process of the cluster, healthy, until exit; then all of them stopped."""
    require_binaries()
    local = local.resolve()
    folder = local / "cluster"
    logs = local / "logs" / "cluster"
    secret = credentials(folder)
    api_port = api_port or free_port()
    airflow = str(Path(sys.executable).parent / "airflow")
    with ExitStack() as stack:
        broker = stack.enter_context(redis_server(folder / "redis", secret["redis"], logs / "redis.log"))
        database = stack.enter_context(
            postgres_server(folder / "postgres", secret["postgres"], logs / "postgres.log")
        )
        print(f"PostgreSQL: {database.split('@')[1]}   Redis: {broker.split('@')[1]}")
        os.environ.update(cluster_settings(database, broker, secret, api_port))
        airflow_db = f"postgresql+psycopg2://{database}"
        s3, bucket = stack.enter_context(local_airflow(lake, local, "make cluster", database=airflow_db))
        cluster = Cluster(
            f"http://{HOST}:{api_port}", admin_password(Path(os.environ["AIRFLOW_HOME"])), local, s3, bucket
        )
        commands = {
            "api-server": [airflow, "api-server", "--host", HOST, "--port", str(api_port)],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer"],
        }
        environments = {name: dict(os.environ) for name in commands}
        for worker in WORKERS:
            commands[worker] = [
                airflow,
                "celery",
                "worker",
                "--celery-hostname",
                f"{worker}@%h",
                "--concurrency",
                str(WORKER_CONCURRENCY),
            ]
            environments[worker] = {
                **os.environ,
                WORKER_HOSTNAME_ENV: worker,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
        processes = {}
        for name, command in commands.items():
            # A worker's warm shutdown lets its running tasks finish; the others stop at once.
            processes[name] = stack.enter_context(
                group_process(command, logs / f"{name}.log", environments[name])
            )
        cluster.pids = {name: process.pid for name, process in processes.items()}
        (folder / "processes.json").write_text(json.dumps(cluster.pids))
        wait_until_healthy(cluster, processes, logs)
        yield cluster


def wait_until_healthy(cluster: Cluster, processes: dict[str, Any], logs: Path) -> None:
    """Until the API reports every component healthy and each Celery worker has said it is ready."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(
                    f"{name} exited with code {process.returncode}; see {logs / (name + '.log')}"
                )
        if _components_healthy(cluster.url) and all(_worker_ready(logs, worker) for worker in WORKERS):
            return
        time.sleep(1)
    raise SystemExit(
        f"The cluster did not become healthy within {READY_SECONDS:.0f} s; see the logs in {logs}"
    )


def _components_healthy(url: str) -> bool:
    try:
        health = requests.get(f"{url}/api/v2/monitor/health", timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)


def _worker_ready(logs: Path, worker: str) -> bool:
    log = logs / f"{worker}.log"
    return log.exists() and f"{worker}@".encode() in log.read_bytes() and b" ready." in log.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_location_arguments(parser)
    parser.add_argument("--port", type=int, default=None, help="port of the UI and API (default: a free one)")
    args = parser.parse_args(argv)
    return guarded("make cluster", lambda: serve(args.lake, args.local, args.port))


def serve(lake: Path, local: Path, port: int | None) -> int:
    """The cluster in the foreground until a signal (``guarded`` turns it into an orderly stop)."""
    with celery_cluster(lake, local, port) as cluster:
        print(
            f"\nAirflow (CeleryExecutor, workers {', '.join(WORKERS)}) is up: {cluster.url}  "
            f"(login: {ADMIN} / {cluster.password})"
        )
        print(f"Logs: {cluster.local / 'logs' / 'cluster'}. Ctrl-C stops everything.\n", flush=True)
        while True:
            time.sleep(3600)


def run_on_cluster(day: date, conf: str, lake: Path, local: Path) -> int:
    """``make run EXECUTOR=celery``: both DAGs for ``day`` on a cluster started for the purpose, then
    stopped."""
    params = json.loads(conf)  # checked already: run.run_conf refuses anything but a known-params object
    with celery_cluster(lake, local) as cluster:
        print(f"Airflow (CeleryExecutor): {cluster.url}  (login: {ADMIN} / {cluster.password})", flush=True)
        raw, report = trigger_and_wait(cluster, day, params)
        client = cluster.s3.client() if cluster.s3 else user_s3_client()
        if raw["state"] != "success":
            print(
                f"The run of {DAG_ID} for {day} ended {raw['state']}; see {cluster.local / 'logs'}.",
                file=sys.stderr,
            )
            return 1
        print(summary(client, cluster.bucket, day))
        print(f"Task instances per worker: {per_worker(cluster, raw['dag_run_id'])}")
        if report is None or report["state"] != "success":
            state = report["state"] if report else "never started"
            print(
                f"The run of {REPORT_DAG_ID} for {day}: {state}; see {cluster.local / 'logs'}.",
                file=sys.stderr,
            )
            return 1
        print(
            f"{REPORT_DAG_ID} started from its asset schedule: "
            f"run {report['dag_run_id']} ({report['run_type']})"
        )
        print(report_summary(client, cluster.bucket, day, lake.resolve() if cluster.s3 else None))
    return 0


def trigger_and_wait(cluster: Cluster, day: date, params: dict) -> tuple[dict, dict | None]:
    """Trigger the raw DAG for ``day``, let the report follow from its asset, and wait for both.

    The unpause race: unpausing an ``@daily`` DAG without catch-up makes the scheduler create a run for today,
    and with ``max_active_runs=1`` whichever queued run has the earliest ``run_after`` goes first. So the run
    is triggered while the DAG is paused, with a ``run_after`` before today's midnight; once it runs, any
    scheduled run still queued behind it is deleted, and the DAG is paused again at the end.
    """
    logical = datetime.combine(day, day_time(), tzinfo=UTC)
    today = datetime.combine(datetime.now(UTC).date(), day_time(), tzinfo=UTC)
    run_after = min(logical, today) - timedelta(seconds=1)
    cluster.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": True}).raise_for_status()
    cluster.api("PATCH", f"/dags/{REPORT_DAG_ID}", json={"is_paused": False}).raise_for_status()
    reports_before = {run["dag_run_id"] for run in dag_runs(cluster, REPORT_DAG_ID)}
    for earlier in dag_runs(
        cluster, DAG_ID, logical_date_gte=logical.isoformat(), logical_date_lte=logical.isoformat()
    ):
        # The metadata DB outlives a cluster: an earlier run for the same date is replaced by this one.
        cluster.api("DELETE", f"/dags/{DAG_ID}/dagRuns/{earlier['dag_run_id']}").raise_for_status()
    body = {"logical_date": logical.isoformat(), "run_after": run_after.isoformat(), "conf": params}
    answer = cluster.api("POST", f"/dags/{DAG_ID}/dagRuns", json=body)
    if answer.status_code >= 400:
        raise SystemExit(f"Triggering {DAG_ID} for {day} failed: {answer.status_code} {answer.text}")
    run_id = answer.json()["dag_run_id"]
    print(f"Triggered {DAG_ID} for {day}: run {run_id}", flush=True)
    cluster.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()
    try:
        raw = wait_for(cluster, DAG_ID, run_id, on_running=lambda: drop_queued_scheduled_runs(cluster))
        report = None
        if raw["state"] == "success":
            report = wait_for_new_run(cluster, REPORT_DAG_ID, reports_before)
    finally:
        cluster.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": True})
    return raw, report


def dag_runs(cluster: Cluster, dag_id: str, **filters: str) -> list[dict]:
    answer = cluster.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, **filters})
    answer.raise_for_status()
    return answer.json()["dag_runs"]


def drop_queued_scheduled_runs(cluster: Cluster) -> None:
    """Delete the scheduled runs the unpause created: they wait behind ours (max_active_runs=1), never
    started."""
    for run in dag_runs(cluster, DAG_ID, state="queued", run_type="scheduled"):
        cluster.api("DELETE", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}")
        print(f"Deleted {run['dag_run_id']}, created by the unpause and queued behind this run.", flush=True)


def wait_for(cluster: Cluster, dag_id: str, run_id: str, on_running: Any = None) -> dict:
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        run = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
        if run["state"] in ("success", "failed"):
            return run
        if run["state"] == "running" and on_running:
            on_running()
        time.sleep(2)
    raise SystemExit(f"{dag_id} run {run_id} did not finish within {RUN_SECONDS:.0f} s")


def wait_for_new_run(cluster: Cluster, dag_id: str, before: set[str], seconds: float = 120.0) -> dict | None:
    """The first run of ``dag_id`` not in ``before``, once finished; None if none starts within
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        new = [run for run in dag_runs(cluster, dag_id) if run["dag_run_id"] not in before]
        if new:
            return wait_for(cluster, dag_id, new[0]["dag_run_id"])
        time.sleep(2)
    return None


def per_worker(cluster: Cluster, run_id: str) -> str:
    """``<host> <n>, <host> <m>``: how many of the run's task instances each worker ran."""
    answer = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    answer.raise_for_status()
    counts = Counter(ti["hostname"] for ti in answer.json()["task_instances"] if ti["hostname"])
    return ", ".join(f"{host} {count}" for host, count in sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())

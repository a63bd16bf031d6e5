"""``make cluster``: docker-compose.yaml's topology natively on loopback, in the foreground, until Ctrl-C.

PostgreSQL (metadata DB) and Redis (Celery broker, and the one TMDB budget of every worker), the same embedded
S3, TMDB sandbox and Lambda as ``make run`` (``run.local_airflow``: a user's own ``AIRFLOW_CONN_*`` wins), and
Airflow with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer and two Celery workers.
``make run EXECUTOR=celery`` and ``make backfill EXECUTOR=celery`` start one for their job
(``celery_cluster``) and drive it through the REST API as they drive the standalone stack.
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
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from datalake.settings import RATE_LIMIT_REDIS_URL_ENV, RAW_DAG_ID
from local_stack.airflow_api import ADMIN, AirflowApi
from local_stack.databases import group_process, postgres_server, redis_server, require_binaries
from local_stack.hostname import WORKER_HOSTNAME_ENV
from local_stack.run import REPO, add_location_arguments, guarded, local_airflow
from local_stack.services import free_port
from local_stack.standalone import Stack, admin_password

HOST = "127.0.0.1"
WORKERS = ("worker-1", "worker-2")
WORKER_CONCURRENCY = 4
READY_SECONDS = 300.0

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
class Cluster(Stack):
    """The Celery cluster: a ``standalone.Stack`` whose processes' pids are known by name."""

    pids: dict[str, int] = field(default_factory=dict)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.client.api(method, path, **kwargs)


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
        client = AirflowApi(f"http://{HOST}:{api_port}", admin_password(Path(os.environ["AIRFLOW_HOME"])))
        cluster = Cluster(client, local, lake.resolve(), s3, bucket)
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
        if _components_healthy(cluster.client.url) and all(_worker_ready(logs, worker) for worker in WORKERS):
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
            f"\nAirflow (CeleryExecutor, workers {', '.join(WORKERS)}) is up: {cluster.client.url}  "
            f"(login: {ADMIN} / {cluster.client.password})"
        )
        print(f"Logs: {cluster.local / 'logs' / 'cluster'}. Ctrl-C stops everything.\n", flush=True)
        while True:
            time.sleep(3600)


def per_worker(client: AirflowApi, run_id: str) -> str:
    """``<host> <n>, <host> <m>``: how many of the raw run's task instances each worker ran."""
    counts = Counter(ti["hostname"] for ti in client.task_instances(RAW_DAG_ID, run_id) if ti["hostname"])
    return ", ".join(f"{host} {count}" for host, count in sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())

"""``make cluster``: docker-compose.yaml's topology natively on loopback, in the foreground, until Ctrl-C.

PostgreSQL (metadata DB) and Redis (Celery broker, and the one TMDB budget of every worker), the same embedded
S3, TMDB sandbox and Lambda as ``make run`` (``stack.local_airflow``: a user's own ``AIRFLOW_CONN_*`` wins),
and Airflow with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer and two Celery workers,
configured by ``environment.cluster_environment``, each this runner's child, watched while it runs (a
component that ends stops the cluster, naming it; one worker may end while the other works on).
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
from functools import partial
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from datalake.settings import RAW_DAG_ID
from local_stack import processes
from local_stack.airflow_api import ADMIN, AirflowApi
from local_stack.databases import postgres_server, redis_server, require_binaries
from local_stack.environment import (
    PRIVATE_FILE,
    PRIVATE_FOLDER,
    WORKER_CONCURRENCY,
    airflow_home,
    api_url,
    cluster_environment,
    cluster_folder,
    private_folders,
    worker_environment,
)
from local_stack.processes import COMPONENT_STOP_SECONDS, Component, named, start_component, stop_in_order
from local_stack.services import free_port
from local_stack.stack import (
    READY_SECONDS,
    Stack,
    add_location_arguments,
    admin_password,
    guarded,
    healthy,
    local_airflow,
    wait_until,
    write_private,
)
from sandbox import HOST

WORKERS = ("worker-1", "worker-2")
WORKER_STOP_SECONDS = 30.0
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
"""What the health endpoint must report healthy (besides each worker's own word) before the cluster serves."""


@dataclass
class Cluster(Stack):
    """The Celery cluster: a ``stack.Stack`` whose processes' pids are known by name."""

    pids: dict[str, int] = field(default_factory=dict)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.client.api(method, path, **kwargs)


def credentials(folder: Path) -> dict[str, str]:
    """The cluster's secrets, chosen once and kept owner-only in an owner-only ``folder``: the metadata DB
    outlives a start."""
    path = folder / "credentials.json"
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    folder.chmod(PRIVATE_FOLDER)
    if not path.exists():
        chosen = {
            "postgres": secrets.token_urlsafe(24),
            "redis": secrets.token_urlsafe(24),
            "fernet_key": Fernet.generate_key().decode(),
            "jwt_secret": secrets.token_hex(32),
        }
        write_private(path, json.dumps(chosen))
    path.chmod(PRIVATE_FILE)
    return json.loads(path.read_text())


@contextmanager
def celery_cluster(
    lake: Path, local: Path, api_port: int | None = None, quiet: bool = False
) -> Iterator[Cluster]:
    """Every server and process of the cluster, healthy, until exit, watched throughout: one that ends
    raises ``processes.ComponentExited``, except a worker while another one works (it takes over the
    tasks). Then Airflow's processes are stopped in order (``airflow_commands``), then the services, then
    PostgreSQL and Redis. ``quiet``: with ``environment.warning_filters``."""
    require_binaries()
    local = local.resolve()
    private_folders(local)
    folder = cluster_folder(local)
    logs = local / "logs" / "cluster"
    secret = credentials(folder)
    api_port = api_port or free_port()
    components: list[Component] = []
    with ExitStack() as stack:
        with named("redis-server", logs / "redis.log", components):
            broker = stack.enter_context(redis_server(folder / "redis", secret["redis"], logs / "redis.log"))
        with named("postgres", logs / "postgres.log", components):
            database = stack.enter_context(
                postgres_server(folder / "postgres", secret["postgres"], logs / "postgres.log")
            )
        print(f"PostgreSQL: {database.split('@')[1]}   Redis: {broker.split('@')[1]}")
        environment = partial(
            cluster_environment,
            database=database,
            broker=broker,
            secret=secret,
            api_port=api_port,
            quiet=quiet,
        )
        services = stack.enter_context(local_airflow(lake, local, "make cluster", environment, components))
        client = AirflowApi(api_url(api_port), admin_password(airflow_home(local)))
        cluster = Cluster(client, local, lake.resolve(), services.s3, services.bucket, components)
        airflow = stack.enter_context(airflow_processes(api_port, logs, components))
        cluster.pids = {component.name: component.process.pid for component in airflow}
        (folder / "processes.json").write_text(json.dumps(cluster.pids))
        with processes.watching(components, redundant=frozenset(WORKERS)):
            wait_until(
                lambda: (
                    healthy(client.url, COMPONENTS) and all(_worker_ready(logs, name) for name in WORKERS)
                ),
                f"The cluster did not become healthy within {READY_SECONDS:.0f} s; see the logs in {logs}",
            )
            yield cluster


def airflow_commands(api_port: int) -> dict[str, list[str]]:
    """Airflow's processes, by name, in the order they stop: the scheduler first, then the workers (a warm
    shutdown: their running tasks finish, reporting to the API server, which stops last). None serves its
    logs (``--skip-serve-logs``): they are files the API server reads."""
    airflow = str(Path(sys.executable).parent / "airflow")
    commands = {"scheduler": [airflow, "scheduler", "--skip-serve-logs"]}
    for worker in WORKERS:
        commands[worker] = [
            *(airflow, "celery", "worker", "--skip-serve-logs"),
            *("--celery-hostname", f"{worker}@%h", "--concurrency", str(WORKER_CONCURRENCY)),
        ]
    commands["triggerer"] = [airflow, "triggerer", "--skip-serve-logs"]
    commands["dag-processor"] = [airflow, "dag-processor"]
    commands["api-server"] = [airflow, "api-server", "--host", HOST, "--port", str(api_port)]
    return commands


@contextmanager
def airflow_processes(api_port: int, logs: Path, components: list[Component]) -> Iterator[list[Component]]:
    """Airflow's processes started, each logging to ``logs/<name>.log`` and added to ``components``, until
    exit; then stopped in order, each by one SIGTERM (a worker given ``WORKER_STOP_SECONDS`` to finish its
    tasks)."""
    started: list[Component] = []
    try:
        for name, command in airflow_commands(api_port).items():
            environment = {**os.environ, **(worker_environment(name) if name in WORKERS else {})}
            started.append(start_component(name, command, components, logs / f"{name}.log", environment))
        yield started
    finally:
        for component in started:
            seconds = WORKER_STOP_SECONDS if component.name in WORKERS else COMPONENT_STOP_SECONDS
            stop_in_order([component], seconds)


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

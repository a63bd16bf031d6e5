"""``make airflow``: the embedded services and ``airflow standalone`` (UI and API, scheduler, DAG processor,
triggerer) on http://127.0.0.1:8080, until Ctrl-C (or SIGTERM, or SIGHUP).

It holds the metadata DB's lock while it runs (see ``local_stack.run.local_airflow``): ``make run`` and
``make airflow-cli`` on the same ``--local`` wait until it stops.

The admin password is chosen once and kept in the Airflow home, so the login stays the same.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from datalake.settings import RAW_DAG_ID
from local_stack import processes
from local_stack.airflow_api import ADMIN, AirflowApi
from local_stack.processes import during
from local_stack.run import add_location_arguments, guarded, local_airflow
from local_stack.services import LocalS3, free_port

HOST = "127.0.0.1"
READY_SECONDS = 300.0
STOP_SECONDS = 30.0
EXECUTION_API_SECONDS = "30"


def admin_password(home: Path) -> str:
    """The admin's password, from the file Airflow's simple auth manager reads (written on first use)."""
    passwords = home / "simple_auth_manager_passwords.json.generated"
    if not passwords.exists():
        home.mkdir(parents=True, exist_ok=True)
        passwords.touch(mode=0o600)
        passwords.write_text(json.dumps({ADMIN: secrets.token_urlsafe(12)}))
    return json.loads(passwords.read_text())[ADMIN]


def wait_until_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"airflow standalone exited with code {process.returncode}; see its output above."
            )
        try:
            health = requests.get(f"{url}/api/v2/monitor/health", timeout=2).json()
            if all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler")):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(1)
    raise SystemExit(f"Airflow did not become healthy at {url} within {READY_SECONDS:.0f} s.")


def import_errors(client: AirflowApi) -> list[dict]:
    """The DAG files that do not import, as Airflow reports them; each is printed to stderr."""
    errors = client.checked("GET", "/importErrors", "Reading the import errors")["import_errors"]
    for error in errors:
        print(f"Import error in {error['filename']}:\n{error['stack_trace']}", file=sys.stderr)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_location_arguments(parser)
    parser.add_argument("--port", type=int, default=8080, help="port of the UI and API")
    args = parser.parse_args(argv)
    return guarded("make airflow", lambda: serve(args.lake, args.local, args.port))


@dataclass
class Stack:
    """A running Airflow (``airflow standalone`` here, the Celery cluster in ``local_stack.cluster``), its
    REST client and the lake it fills (``lake`` is the embedded S3's folder); ``process`` is standalone's."""

    client: AirflowApi
    local: Path
    lake: Path
    s3: LocalS3 | None
    bucket: str
    process: subprocess.Popen | None = None


@contextmanager
def standalone_stack(lake: Path, local: Path, port: int, holder: str) -> Iterator[Stack]:
    """``airflow standalone`` on the embedded services, healthy, until exit; then stopped with SIGINT, as its
    own Ctrl-C handling expects (also if this process dies), and the services after it."""
    url = f"http://{HOST}:{port}"
    with local_airflow(lake, local, holder=holder) as (s3, bucket):
        password = admin_password(Path(os.environ["AIRFLOW_HOME"]))
        os.environ.update(
            {
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
                # A task's calls to the Execution API wait for SQLite's writer on a busy 2-core machine: more
                # than the default 5 s before they count as failed.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": os.environ.get(
                    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", EXECUTION_API_SECONDS
                ),
                # Airflow's own generated JWT secret is 16 bytes, below what PyJWT asks for HS512 (it warns at
                # each token); this one lives in the components' environment only, never on disk.
                "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get(
                    "AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(64)
                ),
                # Each stack serves its task and triggerer logs on ports of its own: several may run at once.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                # standalone starts its components as `airflow ...` from PATH: this venv's.
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            }
        )
        airflow = str(Path(sys.executable).parent / "airflow")
        process = processes.start(
            [airflow, "standalone"], death_signal=signal.SIGINT, stdin=subprocess.DEVNULL
        )
        try:
            with during(f"airflow standalone on {url}"):
                wait_until_healthy(url, process)
            yield Stack(AirflowApi(url, password), local.resolve(), lake.resolve(), s3, bucket, process)
        finally:
            processes.stop(process, signal.SIGINT, seconds=STOP_SECONDS)


def serve(lake: Path, local: Path, port: int) -> int:
    """``airflow standalone`` until it ends or this process is stopped (Ctrl-C, SIGTERM, SIGHUP)."""
    with standalone_stack(lake, local, port, holder=f"make airflow on http://{HOST}:{port}") as stack:
        client = stack.client
        with during(f"airflow standalone on {client.url}"):
            errors = import_errors(client)
            print(f"\nAirflow is up: {client.url}  (login: {ADMIN} / {client.password})")
            if not errors:
                print(f"DAG {RAW_DAG_ID}: no import errors. Ctrl-C stops everything.\n", flush=True)
            stack.process.wait()
        return stack.process.returncode or 0


if __name__ == "__main__":
    sys.exit(main())

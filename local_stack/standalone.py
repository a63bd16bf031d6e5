"""``make airflow``: the embedded services and ``airflow standalone`` (UI and API, scheduler, DAG processor,
triggerer) on http://127.0.0.1:8080, until Ctrl-C (or SIGTERM, or SIGHUP).

It holds the metadata DB's lock while it runs (see ``local_stack.stack.local_airflow``): ``make run`` and
``make airflow-cli`` on the same ``--local`` wait until it stops.

The admin password is chosen once and kept in the Airflow home, so the login stays the same.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from datalake.settings import RAW_DAG_ID
from local_stack import processes
from local_stack.airflow_api import ADMIN, AirflowApi
from local_stack.environment import airflow_home, api_url, standalone_environment
from local_stack.processes import during
from local_stack.stack import (
    READY_SECONDS,
    Stack,
    add_location_arguments,
    admin_password,
    guarded,
    healthy,
    local_airflow,
    wait_until,
)

STOP_SECONDS = 30.0
COMPONENTS = ("metadatabase", "scheduler")
"""What the health endpoint must report healthy before the stack serves."""


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


@contextmanager
def standalone_stack(lake: Path, local: Path, port: int, holder: str, quiet: bool = False) -> Iterator[Stack]:
    """``airflow standalone`` on the embedded services, healthy, until exit; then stopped with SIGINT, as its
    own Ctrl-C handling expects (also if this process dies), and the services after it. ``quiet``: with
    ``environment.warning_filters``."""
    url = api_url(port)
    environment = partial(standalone_environment, port=port, quiet=quiet)
    with local_airflow(lake, local, holder, environment) as services:
        password = admin_password(airflow_home(local.resolve()))
        airflow = str(Path(sys.executable).parent / "airflow")
        process = processes.start(
            [airflow, "standalone"], death_signal=signal.SIGINT, stdin=subprocess.DEVNULL
        )
        try:
            with during(f"airflow standalone on {url}"):
                wait_until(
                    lambda: healthy(url, COMPONENTS),
                    {"airflow standalone": process},
                    lambda name, code: f"{name} exited with code {code}; see its output above.",
                    f"Airflow did not become healthy at {url} within {READY_SECONDS:.0f} s.",
                )
            client = AirflowApi(url, password)
            yield Stack(client, local.resolve(), lake.resolve(), services.s3, services.bucket, process)
        finally:
            processes.stop(process, signal.SIGINT, seconds=STOP_SECONDS)


def serve(lake: Path, local: Path, port: int) -> int:
    """``airflow standalone`` until it ends or this process is stopped (Ctrl-C, SIGTERM, SIGHUP)."""
    with standalone_stack(lake, local, port, holder=f"make airflow on {api_url(port)}") as stack:
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

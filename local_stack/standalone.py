"""``make airflow``: the embedded services and the Airflow components the project uses (API server with the
UI, scheduler, DAG processor) on http://127.0.0.1:8080, until Ctrl-C (or SIGTERM, or SIGHUP), or until one
of them ends, which stops the others and names it.

The components are this runner's own children, not ``airflow standalone``'s: standalone relays a stop
signal to each component as the runner's reaches them too, and two signals at once deadlock them; it also
starts a triggerer (the project has no deferrable task) and a log server on every interface (the logs are
local files). Started here, each is watched (``processes.watching``), stopped by one SIGTERM, the scheduler
first (``processes.stop_in_order``), and listens on loopback only.

It holds the metadata DB's lock while it runs (see ``local_stack.stack.local_airflow``): ``make run`` and
``make airflow-cli`` on the same ``--local`` wait until it stops.

The admin password is chosen once and kept in the Airflow home, so the login stays the same.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from datalake.settings import RAW_DAG_ID
from local_stack import processes
from local_stack.airflow_api import ADMIN, AirflowApi
from local_stack.environment import airflow_home, api_url, standalone_environment
from local_stack.processes import Component, during
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
from sandbox import HOST

COMPONENTS = ("metadatabase", "scheduler", "dag_processor")
"""What the health endpoint must report healthy before the stack serves."""


def airflow_commands(port: int) -> dict[str, list[str]]:
    """The components, by name, in the order they stop: the scheduler first, so that it stops its task
    processes while the API server they report to still serves. No log server (``--skip-serve-logs``: the
    API server reads the task logs from their files) and no triggerer."""
    airflow = str(Path(sys.executable).parent / "airflow")
    return {
        "airflow scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "airflow dag-processor": [airflow, "dag-processor"],
        "airflow api-server": [airflow, "api-server", "--host", HOST, "--port", str(port)],
    }


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
    """The embedded services and Airflow's components (``airflow_commands``), healthy, until exit, watched
    throughout: one that ends raises ``processes.ComponentExited``. Then the components are stopped in
    order, and the services after them. ``quiet``: with ``environment.warning_filters``."""
    url = api_url(port)
    environment = partial(standalone_environment, port=port, quiet=quiet)
    components: list[Component] = []
    with local_airflow(lake, local, holder, environment, components) as services:
        password = admin_password(airflow_home(local.resolve()))
        airflow: list[Component] = []
        try:
            for name, command in airflow_commands(port).items():
                airflow.append(processes.start_component(name, command, components))
            with processes.watching(components):
                with during(f"Airflow's start on {url}"):
                    wait_until(
                        lambda: healthy(url, COMPONENTS),
                        f"Airflow did not become healthy at {url} within {READY_SECONDS:.0f} s.",
                    )
                client = AirflowApi(url, password)
                yield Stack(client, local.resolve(), lake.resolve(), services.s3, services.bucket, components)
        finally:
            processes.stop_in_order(airflow)


def serve(lake: Path, local: Path, port: int) -> int:
    """Airflow until this process is stopped (Ctrl-C, SIGTERM, SIGHUP) or one of its components ends."""
    with standalone_stack(lake, local, port, holder=f"make airflow on {api_url(port)}") as stack:
        client = stack.client
        with during(f"Airflow on {client.url}"):
            errors = import_errors(client)
            print(f"\nAirflow is up: {client.url}  (login: {ADMIN} / {client.password})")
            if not errors:
                print(f"DAG {RAW_DAG_ID}: no import errors. Ctrl-C stops everything.\n", flush=True)
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())

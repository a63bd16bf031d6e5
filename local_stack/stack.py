"""The base every runner shares: ``local_airflow`` (the metadata DB's lock, the embedded services the
environment does not replace, ``local_stack.environment``'s settings applied, the DB migrated), the
``Stack`` a started Airflow offers the commands, the health probe, and the runners' command-line basics.

The loopback address everything listens on is ``sandbox.HOST``, the one definition.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from datalake import settings
from datalake.tmdb.client import DEFAULT_BASE_URL
from lambda_function import build
from local_stack import processes
from local_stack.airflow_api import ADMIN, AirflowApi
from local_stack.environment import (
    AWS_CONNECTION,
    LAMBDA_NAME,
    PRIVATE_FILE,
    PRIVATE_FOLDER,
    TMDB_CONNECTION,
    Services,
    airflow_home,
    apply,
    lineage_events,
    local_environment,
    metadata_db,
    private_folders,
    rate_limit_folder,
)
from local_stack.processes import Component, ComponentExited, Interrupted, during, named
from local_stack.services import (
    REPO,
    LocalS3,
    LocalTmdb,
    ServiceError,
    check_lake,
    local_lambda,
    rclone_s3,
    tmdb_sandbox,
)

LAMBDA_ZIP = build.OUTPUT
READY_SECONDS = 300.0
HEALTH_PATH = "/api/v2/monitor/health"

Environment = Callable[[Path, Services, Mapping[str, str]], dict[str, str]]
"""A kind of stack's table (``local_stack.environment``): from the ``--local`` folder, the services and the
user's environment, the settings its Airflow processes run with."""


@dataclass
class Stack:
    """A running Airflow (``local_stack.standalone``, or the Celery cluster in ``local_stack.cluster``), its
    REST client and the lake it fills (``lake`` is the embedded S3's folder); ``components`` are the
    processes it depends on, the embedded services' and Airflow's, watched while it runs."""

    client: AirflowApi
    local: Path
    lake: Path
    s3: LocalS3 | None
    bucket: str
    components: list[Component] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        """The folder of its processes' and services' logs."""
        return self.local / "logs"


def admin_password(home: Path) -> str:
    """The admin's password, from the file Airflow's simple auth manager reads: written owner-only on first
    use, before Airflow would write its own (0644 under the usual umask); one an older run left open is
    closed."""
    passwords = home / "simple_auth_manager_passwords.json.generated"
    if not passwords.exists():
        home.mkdir(parents=True, exist_ok=True)
        write_private(passwords, json.dumps({ADMIN: secrets.token_urlsafe(12)}))
    passwords.chmod(PRIVATE_FILE)
    return json.loads(passwords.read_text())[ADMIN]


def write_private(path: Path, text: str) -> None:
    """A new file readable by its owner only from the moment it exists."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "w") as file:
        file.write(text)


def healthy(url: str, components: Iterable[str]) -> bool:
    """Whether the API at ``url`` answers and reports each of ``components`` healthy."""
    try:
        health = requests.get(f"{url}{HEALTH_PATH}", timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return all((health.get(part) or {}).get("status") == "healthy" for part in components)


def wait_until(ready: Callable[[], bool], late: str, seconds: float = READY_SECONDS) -> None:
    """Until ``ready()``, polled every second; stops with ``late`` after ``seconds``. (A process that ends
    meanwhile stops it at once: the stacks wait inside ``processes.watching``.)"""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(1)
    raise SystemExit(late)


def add_location_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lake", type=Path, default=REPO / ".lake", help="folder the embedded S3 server serves"
    )
    parser.add_argument("--local", type=Path, default=REPO / ".local", help="Airflow home and service logs")


def guarded(runner: str, body: Callable[[], int]) -> int:
    """Run a runner's ``body`` so that SIGINT, SIGTERM and SIGHUP stop everything it started and exit with
    128 + the signal, saying what was interrupted; so that a component that ends meanwhile stops everything
    too, and exits 1 naming it and its log; a service that fails to start is told in one line."""
    try:
        with processes.stop_on_signals():
            return body()
    except (Interrupted, ComponentExited) as interruption:
        _tell(interruption.message(runner))
        return interruption.exit_code
    except ServiceError as failure:
        _tell(f"{runner}: {failure}")
        return 1


def _tell(message: str) -> None:
    """To stderr, which may be gone (SIGHUP: the terminal closed)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass


def airflow(*args: str) -> int:
    """``airflow <args>`` in a child that ends with this process (see ``local_stack.processes``)."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    return processes.run_child(command, stdin=subprocess.DEVNULL)


@contextmanager
def local_airflow(
    lake: Path,
    local: Path,
    holder: str = "a local runner",
    environment: Environment = local_environment,
    components: list[Component] | None = None,
) -> Iterator[Services]:
    """A migrated metadata DB, the embedded services that the environment does not replace, and
    ``environment``'s settings for them in this process's environment (``local_stack.environment.apply``),
    until exit. Yields the services; their processes are added to ``components``, for a stack to watch.

    The runners that share a metadata DB (one ``--local``) hold its lock throughout, one at a time, the
    others waiting with a message naming ``holder`` and its pid: two ``dags test`` of one date on one
    SQLite DB delete each other's task instances.
    """
    local = local.resolve()
    home = airflow_home(local)
    private_folders(local)
    with ExitStack() as stack:  # unwinds in reverse: the services stop, then the lock is released
        with during("waiting for the metadata DB's lock"):
            stack.enter_context(processes.exclusive_use(metadata_lock(home), holder))
        keep_rate_limit_state(stack, rate_limit_folder(local))
        lineage_events(local).mkdir(parents=True, exist_ok=True)
        with during("starting the embedded services"):
            services = start_services(stack, lake.resolve(), local, local_bucket(), components)
        chosen = environment(local, services, os.environ)
        apply(chosen)
        with during("migrating the metadata DB"):
            if chosen["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{metadata_db(home)}":
                migrate(metadata_db(home))
            elif airflow("db", "migrate") != 0:
                raise SystemExit("airflow db migrate failed; see above.")
        yield services


def keep_rate_limit_state(stack: ExitStack, folder: Path) -> None:
    """The host-local TMDB budget's state files in ``folder`` (``environment.rate_limit_folder``) while
    ``stack`` is open, under the metadata DB's lock: emptied of what a killed run left, removed at exit."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True)
    stack.callback(shutil.rmtree, folder, ignore_errors=True)


def local_bucket() -> str:
    """The bucket a local run fills: ``$DATALAKE_BUCKET``, else the default."""
    return os.environ.get("DATALAKE_BUCKET") or settings.DEFAULT_BUCKET


def check_embedded_lake(lake: Path, bucket: str) -> bool:
    """Whether the embedded S3 serves the lake (the environment names no S3 of its own); if so, fails
    unless ``lake`` can hold it (``services.check_lake``)."""
    embedded = AWS_CONNECTION not in os.environ
    if embedded:
        check_lake(lake, bucket)
    return embedded


def start_services(
    stack: ExitStack, lake: Path, local: Path, bucket: str, components: list[Component] | None = None
) -> Services:
    """The embedded services the environment does not replace, until ``stack`` closes; their processes are
    added to ``components``."""
    logs = local / "logs"
    components = [] if components is None else components
    embedded_s3 = check_embedded_lake(lake, bucket)
    tmdb = start_tmdb(stack, logs, components)
    if not embedded_s3:
        return Services(bucket, tmdb=tmdb)
    with named("the embedded S3 server (rclone)", logs / "rclone.log", components):
        s3 = stack.enter_context(rclone_s3(lake, bucket, logs / "rclone.log"))
    print(f"Embedded S3: {s3.endpoint_url} serving {lake}")
    lambda_endpoint = start_lambda(stack, s3, tmdb, bucket, local, components) if tmdb else None
    return Services(bucket, s3, tmdb, lambda_endpoint)


def start_tmdb(stack: ExitStack, logs: Path, components: list[Component]) -> LocalTmdb | None:
    """The TMDB to use when the environment names none: the real one with TMDB_API_TOKEN, else the sandbox."""
    if TMDB_CONNECTION in os.environ:
        return None
    if token := os.environ.get("TMDB_API_TOKEN"):
        print(f"TMDB: {DEFAULT_BASE_URL}")
        return LocalTmdb(DEFAULT_BASE_URL, token, token)
    with named("the TMDB sandbox", logs / "tmdb-sandbox.log", components):
        tmdb = stack.enter_context(tmdb_sandbox(logs / "tmdb-sandbox.log"))
    print(f"TMDB sandbox: {tmdb.base_url}")
    return tmdb


def start_lambda(
    stack: ExitStack, s3: LocalS3, tmdb: LocalTmdb, bucket: str, local: Path, components: list[Component]
) -> str:
    """The Lambda stand-in running the built zip against the same S3 and TMDB; returns its endpoint."""
    if not LAMBDA_ZIP.exists():
        build.build(LAMBDA_ZIP)
    environment = {
        **s3.lambda_environment(bucket),
        "TMDB_BASE_URL": tmdb.base_url,
        "TMDB_API_TOKEN": tmdb.credential,
        # On this host it shares the tasks' TMDB budget, and leaves no state file in the system temp folder.
        settings.RATE_LIMIT_DIR_ENV: str(rate_limit_folder(local)),
    }
    log = local / "logs" / "lambda.log"
    with named("the Lambda endpoint", log, components):
        endpoint = stack.enter_context(
            local_lambda(LAMBDA_NAME, LAMBDA_ZIP, environment, log, local / "lambda")
        )
    print(f"Local Lambda: {endpoint} running {LAMBDA_ZIP.relative_to(REPO)} as '{LAMBDA_NAME}'")
    return endpoint


def metadata_lock(home: Path) -> Path:
    """The lock that serialises the runners sharing one metadata DB (see ``local_airflow``)."""
    return home / "airflow.db.lock"


def db_revision(db: Path) -> str | None:
    """The Alembic revision the SQLite metadata DB is at; None for a missing or uninitialised DB."""
    if not db.exists():
        return None
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    return row[0] if row else None


def migration_stamp(db: Path) -> dict[str, str | None]:
    """What a finished migration leaves beside the DB: the Airflow that ran it and the revision it reached."""
    return {"airflow": importlib.metadata.version("apache-airflow-core"), "revision": db_revision(db)}


def migrate(db: Path) -> None:
    """``airflow db migrate``, unless this same Airflow already migrated the DB and it has not moved since.

    The migrate is idempotent but costs an Airflow start-up; a stamp file beside the DB saves it. A fresh,
    replaced or downgraded DB, or another Airflow version, does not match the stamp and is migrated.
    """
    stamp = db.with_name(db.name + ".migrated")
    current = migration_stamp(db)
    if current["revision"] and stamp.exists() and stamp.read_text() == json.dumps(current):
        return
    if airflow("db", "migrate") != 0:
        raise SystemExit("airflow db migrate failed; see above.")
    stamp.write_text(json.dumps(migration_stamp(db)))

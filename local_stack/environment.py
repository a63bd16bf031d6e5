"""The local Airflow configuration, described once: one table of environment variables per kind of stack.

``local_environment`` is what every local Airflow runs with (``make airflow-cli``, bench's ``dags test``):
a project-local home with a SQLite metadata DB, the connections to the services the stack started, the
OpenLineage transport, the Variables of the run. ``standalone_environment`` (``local_stack.standalone``) and
``cluster_environment`` (the Celery cluster on PostgreSQL and Redis) add what their processes need.
``apply`` is the one place a table enters this process's environment, which every Airflow child inherits.

Whatever the user's environment already chooses wins: their ``AIRFLOW_CONN_AWS_DEFAULT`` or
``AIRFLOW_CONN_TMDB_DEFAULT`` (``local_stack.stack`` then starts no service for it, so ``Services`` names
none), an OpenLineage transport or namespace, ``AIRFLOW_VAR_LAMBDA_FUNCTION_NAME``, their own
``PYTHONWARNINGS`` entries, and the standalone stack's Execution API timeout and JWT secret.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from datalake import settings
from datalake.csvs.files import CSV_FILES
from datalake.settings import RATE_LIMIT_DIR_ENV, RATE_LIMIT_REDIS_URL_ENV
from datalake.tmdb.client import DEFAULT_BASE_URL
from local_stack.hostname import WORKER_HOSTNAME_ENV, worker_hostname
from local_stack.services import REPO, LocalS3, LocalTmdb
from sandbox import HOST

PLUGINS = REPO / "plugins"
AWS_CONNECTION = f"AIRFLOW_CONN_{settings.AWS_CONN_ID.upper()}"
TMDB_CONNECTION = f"AIRFLOW_CONN_{settings.TMDB_CONN_ID.upper()}"
LAMBDA_NAME = "tmdb_ingest"
"""The name the Lambda stand-in serves the built function under, and the DAG's Variable's default."""
LAMBDA_NAME_VARIABLE = "AIRFLOW_VAR_LAMBDA_FUNCTION_NAME"
LINEAGE_NAMESPACE = "datalake"
"""The OpenLineage namespace of the jobs (the DAGs and their tasks) unless the environment names one."""
USER_LINEAGE_SETTINGS = (
    "AIRFLOW__OPENLINEAGE__TRANSPORT",
    "AIRFLOW__OPENLINEAGE__CONFIG_PATH",
    "AIRFLOW__OPENLINEAGE__CONFIG_CONN_ID",
    "OPENLINEAGE_URL",
    "OPENLINEAGE_CONFIG",
    "OPENLINEAGE__TRANSPORT",
)
"""The environment variables (prefixes: ``..._CMD``, ``..._SECRET``, ``OPENLINEAGE__TRANSPORT__TYPE``...) by
which a user chooses where the OpenLineage provider sends its events. (Disabling it needs no transport.)"""
NOISE_FILTERS = (
    # Airflow's CLI warns at import that graphviz is missing; only `airflow dags show --imgcat` would need it.
    "ignore:Could not import graphviz:UserWarning:airflow.cli.commands.dag_command",
    # svcs.fastapi, which Airflow's execution API imports, imports fastapi.testclient, whose starlette warns
    # that httpx is deprecated for it (StarletteDeprecationWarning, a UserWarning); no test client runs.
    "ignore:Using `httpx` with `starlette.testclient` is deprecated:UserWarning:fastapi.testclient",
)
"""``PYTHONWARNINGS`` entries for the warnings a run's user cannot act on, each by message, category and
the module that warns, so that any other warning still shows."""
EXECUTION_API_SECONDS = "30"
"""A task's calls to the Execution API wait for SQLite's writer on a busy 2-core machine: more than the
default 5 s before they count as failed."""
WORKER_CONCURRENCY = 4
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
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


@dataclass(frozen=True)
class Services:
    """What a stack's settings point Airflow at: the lake's bucket and the services chosen for it, each
    None where the user's own connection replaces it."""

    bucket: str
    s3: LocalS3 | None = None
    """The embedded S3 server."""
    tmdb: LocalTmdb | None = None
    """The TMDB sandbox, or the real TMDB with ``TMDB_API_TOKEN``."""
    lambda_endpoint: str | None = None
    """The Lambda stand-in's Invoke endpoint (only beside the embedded S3 and a chosen TMDB)."""


def airflow_home(local: Path) -> Path:
    return local / "airflow"


def cluster_folder(local: Path) -> Path:
    """The Celery cluster's credentials and server data."""
    return local / "cluster"


def rate_limit_folder(local: Path) -> Path:
    """The host-local TMDB budget's state files (``datalake.tmdb.rate_limit``), kept while a stack runs."""
    return local / "rate-limit"


def private_folders(local: Path) -> None:
    """``local`` and the folders in it that hold secrets (the Airflow home: ``airflow.cfg``'s keys, the admin
    password; the cluster's credentials) or what its processes print, created owner-only (0700) and made so
    again when an older run left them open to others: the files in them are reachable by no one else."""
    for folder in (local, airflow_home(local), local / "logs"):
        folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        folder.chmod(PRIVATE_FOLDER)
    if cluster_folder(local).exists():
        cluster_folder(local).chmod(PRIVATE_FOLDER)


def metadata_db(home: Path) -> Path:
    """The SQLite file that the settings point Airflow at and that ``stack.migrate`` checks."""
    return home / "airflow.db"


def api_url(port: int) -> str:
    """Where a stack's API server (UI, REST and Execution API) listens."""
    return f"http://{HOST}:{port}"


def search_path(folders: list[Path], environ: Mapping[str, str]) -> str:
    """``PYTHONPATH``: ``folders`` first, then the user's own."""
    return os.pathsep.join(filter(None, [*map(str, folders), environ.get("PYTHONPATH")]))


def airflow_settings(home: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Airflow configuration for a project-local home with a SQLite metadata DB."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{metadata_db(home)}",
        # Task logs owner-only, not Airflow's group-writable default (0o775 folders, 0o664 files).
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": oct(PRIVATE_FOLDER),
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": oct(PRIVATE_FILE),
        "PYTHONPATH": search_path([PLUGINS], environ),
    }


def lineage_events(local: Path) -> Path:
    """The folder the local runners' OpenLineage events go to, one JSON file per event."""
    return local / "openlineage"


def lineage_settings(local: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The OpenLineage provider's file transport into ``lineage_events(local)``, and the namespace, each
    unless the environment configures it: a user's transport (or ``OPENLINEAGE_URL``) wins."""
    chosen: dict[str, str] = {}
    if not any(environ.get(key) for key in ("AIRFLOW__OPENLINEAGE__NAMESPACE", "OPENLINEAGE_NAMESPACE")):
        chosen["AIRFLOW__OPENLINEAGE__NAMESPACE"] = LINEAGE_NAMESPACE
    if not any(key.startswith(USER_LINEAGE_SETTINGS) and value for key, value in environ.items()):
        path = str(lineage_events(local) / "event")
        chosen["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps({"type": "file", "log_file_path": path})
    return chosen


def dataset_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """``MOVIES_CSV=...`` and ``SERIES_CSV=...`` become the Airflow Variables the DAG reads."""
    return {
        f"AIRFLOW_VAR_{csv_file.variable.upper()}": str(Path(environ[csv_file.variable.upper()]).resolve())
        for csv_file in CSV_FILES
        if environ.get(csv_file.variable.upper())
    }


def connections(services: Services, environ: Mapping[str, str]) -> dict[str, str]:
    """The connections to the chosen services and the Variables that go with them."""
    chosen = {f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}": services.bucket}
    if services.tmdb:
        chosen[TMDB_CONNECTION] = services.tmdb.airflow_connection()
    if services.s3:
        chosen[AWS_CONNECTION] = services.s3.airflow_connection(services.lambda_endpoint)
    if services.lambda_endpoint and services.tmdb:
        if LAMBDA_NAME_VARIABLE not in environ:
            chosen[LAMBDA_NAME_VARIABLE] = LAMBDA_NAME
        # The real TMDB's answers move between two fetches; the sandbox's never do.
        chosen["AIRFLOW_VAR_LAMBDA_PARITY_COMPARE_BYTES"] = str(services.tmdb.base_url != DEFAULT_BASE_URL)
    return chosen


def warning_filters(environ: Mapping[str, str]) -> dict[str, str]:
    """``PYTHONWARNINGS`` with ``NOISE_FILTERS`` added (the user's own entries kept, and applied last, so
    they win), for the children of a runner whose output goes to its run log."""
    entries = [*NOISE_FILTERS, *filter(None, environ.get("PYTHONWARNINGS", "").split(","))]
    return {"PYTHONWARNINGS": ",".join(dict.fromkeys(entries))}


def local_environment(
    local: Path, services: Services, environ: Mapping[str, str], quiet: bool = False
) -> dict[str, str]:
    """What every local Airflow runs with, ``local`` being the runner's (resolved) ``--local`` folder;
    ``quiet`` adds the ``warning_filters``."""
    return {
        **airflow_settings(airflow_home(local), environ),
        **lineage_settings(local, environ),
        **dataset_variables(environ),
        **connections(services, environ),
        RATE_LIMIT_DIR_ENV: str(rate_limit_folder(local)),
        **(warning_filters(environ) if quiet else {}),
    }


def api_settings(port: int) -> dict[str, str]:
    """Where every process of a stack finds its API server."""
    url = api_url(port)
    return {
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
    }


def standalone_environment(
    local: Path, services: Services, environ: Mapping[str, str], port: int, quiet: bool = False
) -> dict[str, str]:
    """``local_stack.standalone``'s Airflow with its API server on ``port``."""
    return {
        **local_environment(local, services, environ, quiet),
        **api_settings(port),
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": environ.get(
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", EXECUTION_API_SECONDS
        ),
        # Airflow's own generated JWT secret is 16 bytes, below what PyJWT asks for HS512 (it warns at each
        # token); this one lives in the components' environment only, never on disk.
        "AIRFLOW__API_AUTH__JWT_SECRET": environ.get("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(64)),
        # An `airflow` that a component or a task starts from PATH is this venv's.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")]),
    }


def cluster_environment(
    local: Path,
    services: Services,
    environ: Mapping[str, str],
    database: str,
    broker: str,
    secret: Mapping[str, str],
    api_port: int,
    quiet: bool = False,
) -> dict[str, str]:
    """Every process of the Celery cluster: ``database`` is its PostgreSQL as ``user:password@host:port/db``,
    ``broker`` its Redis URL (also the workers' one TMDB budget), ``secret`` its Fernet key and JWT secret."""
    return {
        **local_environment(local, services, environ, quiet),
        **api_settings(api_port),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{database}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__CORE__FERNET_KEY": secret["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secret["jwt_secret"],
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{worker_hostname.__module__}.{worker_hostname.__name__}",
        RATE_LIMIT_REDIS_URL_ENV: broker,
        # local_stack.hostname must import in every process, the task processes too.
        "PYTHONPATH": search_path([PLUGINS, REPO], environ),
        **LOST_WORKER_SETTINGS,
    }


def worker_environment(worker: str) -> dict[str, str]:
    """What one Celery worker of the cluster adds to the cluster's environment: its name. (It serves no
    logs: ``--skip-serve-logs``, the API server reads them from their files.)"""
    return {WORKER_HOSTNAME_ENV: worker}


def apply(chosen: Mapping[str, str]) -> None:
    """``chosen`` into this process's environment, which every Airflow process the runner starts inherits
    (and its own in-process hooks read)."""
    os.environ.update(chosen)

"""``make run``: start what is missing and a scheduler-driven Airflow (``airflow standalone``, or the Celery
cluster with ``EXECUTOR=celery``), trigger the raw DAG for one partition through the REST API, follow it and
the report run its asset event starts, show what landed, stop everything.

Whatever the environment already configures wins: ``AIRFLOW_CONN_AWS_DEFAULT`` replaces the
embedded S3 server, ``AIRFLOW_CONN_TMDB_DEFAULT`` or ``TMDB_API_TOKEN`` the TMDB sandbox.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datalake import run_params as params
from datalake import settings
from datalake.csvs.files import CSV_FILES
from datalake.settings import RAW_DAG_ID, REPORT_DAG_ID
from datalake.tmdb.client import DEFAULT_BASE_URL
from lambda_function import build
from local_stack import processes, run_log
from local_stack.airflow_api import AirflowApi, Watcher, run_after_for
from local_stack.processes import Interrupted, during
from local_stack.progress import Follower
from local_stack.services import (
    LocalS3,
    LocalTmdb,
    ServiceError,
    check_lake,
    local_lambda,
    rclone_s3,
    tmdb_sandbox,
)
from local_stack.summary import report_summary, summary

if TYPE_CHECKING:
    from local_stack.standalone import Stack

REPO = Path(__file__).resolve().parents[1]
LAMBDA_NAME = "tmdb_ingest"
LAMBDA_ZIP = build.OUTPUT
REPORT_START_SECONDS = 120.0
"""How long the report run may take to appear once the raw run succeeded (the scheduler starts it)."""


def airflow_settings(home: Path) -> dict[str, str]:
    """Airflow configuration for a project-local home with a SQLite metadata DB."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{metadata_db(home)}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "plugins"), os.environ.get("PYTHONPATH")])),
    }


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


def metadata_db(home: Path) -> Path:
    """The SQLite file that the settings point Airflow at and that ``migrate`` checks."""
    return home / "airflow.db"


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


def dataset_variables(environ: dict[str, str]) -> dict[str, str]:
    """``MOVIES_CSV=...`` and ``SERIES_CSV=...`` become the Airflow Variables the DAG reads."""
    return {
        f"AIRFLOW_VAR_{dataset.variable.upper()}": str(Path(environ[dataset.variable.upper()]).resolve())
        for dataset in CSV_FILES
        if environ.get(dataset.variable.upper())
    }


def start_tmdb(stack: ExitStack, logs: Path) -> LocalTmdb | None:
    """The TMDB to use when the environment names none: the real one with TMDB_API_TOKEN, else the sandbox."""
    if "AIRFLOW_CONN_TMDB_DEFAULT" in os.environ:
        return None
    if token := os.environ.get("TMDB_API_TOKEN"):
        print(f"TMDB: {DEFAULT_BASE_URL}")
        return LocalTmdb(DEFAULT_BASE_URL, token, token)
    tmdb = stack.enter_context(tmdb_sandbox(logs / "tmdb-sandbox.log"))
    print(f"TMDB sandbox: {tmdb.base_url}")
    return tmdb


def start_lambda(stack: ExitStack, s3: LocalS3, tmdb: LocalTmdb, bucket: str, local: Path) -> str:
    """The Lambda stand-in running the built zip against the same S3 and TMDB; returns its endpoint."""
    if not LAMBDA_ZIP.exists():
        build.build(LAMBDA_ZIP)
    environment = {
        **s3.lambda_environment(bucket), "TMDB_BASE_URL": tmdb.base_url, "TMDB_API_TOKEN": tmdb.credential,
    }
    endpoint = stack.enter_context(
        local_lambda(LAMBDA_NAME, LAMBDA_ZIP, environment, local / "logs" / "lambda.log", local / "lambda")
    )
    print(f"Local Lambda: {endpoint} running {LAMBDA_ZIP.relative_to(REPO)} as '{LAMBDA_NAME}'")
    return endpoint


def add_location_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lake", type=Path, default=REPO / ".lake", help="folder the embedded S3 server serves"
    )
    parser.add_argument("--local", type=Path, default=REPO / ".local", help="Airflow home and service logs")


@contextmanager
def local_airflow(
    lake: Path, local: Path, holder: str = "a local runner", database: str | None = None
) -> Iterator[tuple[LocalS3 | None, str]]:
    """Airflow's settings in this process's environment, a migrated metadata DB, and the embedded
    services that the environment does not replace, until exit. Yields the embedded S3 (or None) and
    the bucket. ``database``, a SQLAlchemy URL, replaces the SQLite file (a cluster's PostgreSQL).

    The runners that share a metadata DB (one ``--local``) hold its lock throughout, one at a time, the
    others waiting with a message naming ``holder`` and its pid: two ``dags test`` of one date on one
    SQLite DB delete each other's task instances.
    """
    bucket = local_bucket()
    local = local.resolve()
    home = local / "airflow"
    with ExitStack() as stack:  # unwinds in reverse: the services stop, then the lock is released
        with during("waiting for the metadata DB's lock"):
            stack.enter_context(processes.exclusive_use(metadata_lock(home), holder))
        os.environ.update(airflow_settings(home))
        os.environ.update(lineage_settings(local, os.environ))
        lineage_events(local).mkdir(parents=True, exist_ok=True)
        if database:
            os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database
        os.environ.update(dataset_variables(dict(os.environ)))
        os.environ[f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}"] = bucket
        with during("starting the embedded services"):
            s3 = start_services(stack, lake.resolve(), local, bucket)
        with during("migrating the metadata DB"):
            if database:
                if airflow("db", "migrate") != 0:
                    raise SystemExit("airflow db migrate failed; see above.")
            else:
                migrate(metadata_db(home))
        yield s3, bucket


def start_services(stack: ExitStack, lake: Path, local: Path, bucket: str) -> LocalS3 | None:
    """The embedded services the environment does not replace, their connections in the environment."""
    logs = local / "logs"
    embedded_s3 = check_embedded_lake(lake, bucket)
    tmdb = start_tmdb(stack, logs)
    if tmdb:
        os.environ["AIRFLOW_CONN_TMDB_DEFAULT"] = tmdb.airflow_connection()
    if not embedded_s3:
        return None
    s3 = stack.enter_context(rclone_s3(lake, bucket, logs / "rclone.log"))
    print(f"Embedded S3: {s3.endpoint_url} serving {lake}")
    lambda_endpoint = start_lambda(stack, s3, tmdb, bucket, local) if tmdb else None
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = s3.airflow_connection(lambda_endpoint)
    if lambda_endpoint:
        os.environ.setdefault("AIRFLOW_VAR_LAMBDA_FUNCTION_NAME", LAMBDA_NAME)
        # The real TMDB's answers move between two fetches; the sandbox's never do.
        os.environ["AIRFLOW_VAR_LAMBDA_PARITY_COMPARE_BYTES"] = str(tmdb.base_url != DEFAULT_BASE_URL)
    return s3


def local_bucket() -> str:
    """The bucket a local run fills: ``$DATALAKE_BUCKET``, else the default."""
    return os.environ.get("DATALAKE_BUCKET") or settings.DEFAULT_BUCKET


def check_embedded_lake(lake: Path, bucket: str) -> bool:
    """Whether the embedded S3 serves the lake (the environment names no S3 of its own); if so, fails
    unless ``lake`` can hold it (``services.check_lake``)."""
    embedded = "AIRFLOW_CONN_AWS_DEFAULT" not in os.environ
    if embedded:
        check_lake(lake, bucket)
    return embedded


def airflow(*args: str) -> int:
    """``airflow <args>`` in a child that ends with this process (see ``local_stack.processes``)."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    return processes.run_child(command, stdin=subprocess.DEVNULL)


def guarded(runner: str, body: Callable[[], int]) -> int:
    """Run a runner's ``body`` so that SIGINT, SIGTERM and SIGHUP stop everything it started and exit with
    128 + the signal, saying what was interrupted; a service that fails to start is told in one line."""
    try:
        with processes.stop_on_signals():
            return body()
    except Interrupted as interruption:
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


def run_date(text: str) -> date:
    """``DATE``: a calendar date as YYYY-MM-DD; empty means today (UTC)."""
    if not text:
        return datetime.now(UTC).date()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"DATE must be a date as YYYY-MM-DD; got {text!r}.")


def run_conf(text: str) -> str:
    """``CONF``: the run's parameters as a JSON object; empty means none. Each key must be a parameter of
    the raw DAG and each value within its schema: refused here, before anything starts."""
    try:
        conf = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"CONF is not JSON ({error}); got {text!r}.") from None
    if not isinstance(conf, dict):
        raise argparse.ArgumentTypeError(
            f"CONF must be a JSON object such as '{{\"top_n\": 20}}'; got {text!r}."
        )
    try:
        params.check_known(conf)
        params.query_from(conf)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"CONF: {error}") from None
    return json.dumps(conf)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--date", type=run_date, default="", help="the partition, YYYY-MM-DD (default: today, UTC)"
    )
    add_location_arguments(parser)
    parser.add_argument(
        "--conf", type=run_conf, default="", help="the run's params as JSON, e.g. '{\"top_n\": 20}'"
    )
    add_executor_argument(parser)
    args = parser.parse_args(argv)
    runner = "make run" + (" EXECUTOR=celery" if args.executor == "celery" else "")

    def body() -> int:
        with airflow_stack(args.executor, args.lake, args.local, f"{runner} for {args.date}") as stack:
            return run_partition(stack, args.date, json.loads(args.conf), celery=args.executor == "celery")

    return guarded(runner, body)


def add_executor_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=["local", "celery"],
        default=os.environ.get("EXECUTOR") or "local",
        help="local: airflow standalone; celery: the Celery cluster of `make cluster`, started for the "
        "purpose (default: $EXECUTOR, else local)",
    )


@contextmanager
def airflow_stack(executor: str, lake: Path, local: Path, holder: str) -> Iterator[Stack]:
    """A scheduler-driven Airflow started for one job and stopped after it: ``airflow standalone`` on free
    loopback ports, or the Celery cluster; yields its ``standalone.Stack``, once its DAGs import.

    Everything its processes print goes to the run's log file (``run_log``), whose path is printed at the
    start and at the end; ``VERBOSE=1`` streams it too. The Celery cluster logs each component to a file of
    its own under ``logs/cluster/``."""
    from local_stack.standalone import ADMIN, import_errors, standalone_stack

    check_embedded_lake(lake.resolve(), local_bucket())
    log_path = run_log.run_log_path(local.resolve())
    print(f"Log: {log_path}", flush=True)
    try:
        with run_log.RunLog(log_path, echo=run_log.verbose()) as log, processes.children_write_to(log.sink):
            os.environ.update(run_log.quiet_environment(os.environ))
            if executor == "celery":
                from local_stack.cluster import celery_cluster

                stack_context = celery_cluster(lake, local)
            else:
                from local_stack.services import free_port

                stack_context = standalone_stack(lake, local, free_port(), holder)
            with stack_context as stack:
                kind = "CeleryExecutor" if executor == "celery" else "standalone"
                print(f"Airflow ({kind}): {stack.client.url}  (login: {ADMIN} / {stack.client.password})",
                      flush=True)
                if import_errors(stack.client):
                    raise SystemExit(f"The DAGs do not import (see above); the full log: {log_path}")
                yield stack
    finally:
        print(f"Log: {log_path}", flush=True)


def task_follower(client: AirflowApi) -> Follower:
    """Prints each task instance of the runs it sees as it finishes (a failed one with its error lines and
    its log file under this Airflow home), and a long CSV landing's progress."""
    return Follower(client.api, logs=Path(os.environ["AIRFLOW_HOME"]) / "logs")


def run_and_report(
    client: AirflowApi, day: date, conf: dict, watch: Watcher | None = None
) -> tuple[dict, dict | None]:
    """Trigger the raw DAG for the partition ``day``, follow it, then the report run that its asset event
    starts for the same partition (None if none started); both runs' final JSON. ``watch`` sees every poll's
    task instances (by default one ``task_follower`` prints both runs' tasks, aligned)."""
    watch = watch or task_follower(client).follow
    key = day.isoformat()
    client.set_paused(RAW_DAG_ID, True)  # until the run is queued: see AirflowApi.unpaused
    client.set_paused(REPORT_DAG_ID, False)
    reports_before = client.run_ids(REPORT_DAG_ID)
    with during(f"the run of {RAW_DAG_ID} for {key}"):
        run_id = client.trigger(RAW_DAG_ID, key, conf, run_after=run_after_for(day))["dag_run_id"]
        print(f"Triggered {RAW_DAG_ID} for partition {key}: run {run_id}", flush=True)
        with client.unpaused(RAW_DAG_ID) as stop_unasked_runs:
            runs = client.follow([(RAW_DAG_ID, run_id)], watch, while_waiting=stop_unasked_runs)
            raw = runs[RAW_DAG_ID, run_id]
    if raw["state"] != "success":
        return raw, None
    with during(f"the run of {REPORT_DAG_ID} for {key}"):
        report = client.new_runs(REPORT_DAG_ID, reports_before, [key], REPORT_START_SECONDS).get(key)
        if report is None:
            return raw, None
        report_id = report["dag_run_id"]
        print(f"{REPORT_DAG_ID} started from its asset schedule for partition {key}: run {report_id} "
              f"({report['run_type']})", flush=True)
        return raw, client.follow([(REPORT_DAG_ID, report_id)], watch)[REPORT_DAG_ID, report_id]


def run_partition(stack: Stack, day: date, conf: dict, celery: bool = False) -> int:
    """``make run`` on a started stack: both runs for ``day``, then what they wrote; 1 if either failed,
    naming the run and the logs' folder."""
    raw, report = run_and_report(stack.client, day, conf)
    logs = stack.local / "logs"
    if raw["state"] != "success":
        print(f"The run {raw['dag_run_id']} of {RAW_DAG_ID} for {day} ended {raw['state']}; logs: {logs}",
              file=sys.stderr)
        return 1
    with during(f"the summary of what landed for {day}"):
        s3 = stack.s3.client() if stack.s3 else user_s3_client()
        report_ran = report is not None and report["state"] == "success"
        print(summary(s3, stack.bucket, day, ranking=not report_ran))
        if celery:
            from local_stack.cluster import per_worker

            print(f"Task instances per worker: {per_worker(stack.client, raw['dag_run_id'])}")
        if not report_ran:
            state = f"run {report['dag_run_id']} ended {report['state']}" if report else "never started"
            print(f"The run of {REPORT_DAG_ID} for {day}: {state}; logs: {logs}", file=sys.stderr)
            return 1
        print(report_summary(s3, stack.bucket, day, stack.lake if stack.s3 else None))
    return 0


def user_s3_client() -> Any:
    """The S3 client of the user's own ``aws_default`` connection, e.g. real AWS."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.AWS_CONN_ID).get_conn()


if __name__ == "__main__":
    sys.exit(main())

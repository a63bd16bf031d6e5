"""``make run``: start what is missing and a scheduler-driven Airflow (``local_stack.standalone``, or the
Celery cluster with ``EXECUTOR=celery``), trigger the raw DAG for one partition through the REST API, follow
it and the report run its asset event starts, show what landed, stop everything.

Whatever the environment already configures wins: ``AIRFLOW_CONN_AWS_DEFAULT`` replaces the
embedded S3 server, ``AIRFLOW_CONN_TMDB_DEFAULT`` or ``TMDB_API_TOKEN`` the TMDB sandbox.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from datalake import run_params, settings
from datalake.settings import RAW_DAG_ID, REPORT_DAG_ID
from local_stack import processes, run_log
from local_stack.airflow_api import ADMIN, AirflowApi, Watcher, run_after_for
from local_stack.cluster import celery_cluster, per_worker
from local_stack.processes import during
from local_stack.progress import Follower
from local_stack.services import free_port
from local_stack.stack import Stack, add_location_arguments, check_embedded_lake, guarded, local_bucket
from local_stack.standalone import import_errors, standalone_stack
from local_stack.summary import report_summary, summary

REPORT_START_SECONDS = 120.0
"""How long the report run may take to appear once the raw run succeeded (the scheduler starts it)."""


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
        run_params.check_known(conf)
        run_params.query_from(conf)
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
        help="local: the standalone stack of `make airflow`; celery: the Celery cluster of `make cluster`, "
        "started for the purpose (default: $EXECUTOR, else local)",
    )


@contextmanager
def airflow_stack(executor: str, lake: Path, local: Path, holder: str) -> Iterator[Stack]:
    """A scheduler-driven Airflow started for one job and stopped after it: ``standalone_stack`` on free
    loopback ports, or the Celery cluster; yields its ``stack.Stack``, once its DAGs import.

    Everything its processes print goes to the run's log file (``run_log``), whose path is printed at the
    start and at the end; ``VERBOSE=1`` streams it too. The Celery cluster logs each component to a file of
    its own under ``logs/cluster/``."""
    check_embedded_lake(lake.resolve(), local_bucket())
    log_path = run_log.run_log_path(local.resolve())
    print(f"Log: {log_path}", flush=True)
    try:
        with (
            run_log.RunLog(log_path, echo=run_log.verbose()) as log,
            processes.children_write_to(log.sink, log_path),
        ):
            if executor == "celery":
                stack_context = celery_cluster(lake, local, quiet=True)
            else:
                stack_context = standalone_stack(lake, local, free_port(), holder, quiet=True)
            with stack_context as stack:
                kind = "CeleryExecutor" if executor == "celery" else "standalone"
                print(
                    f"Airflow ({kind}): {stack.client.url}  (login: {ADMIN} / {stack.client.password})",
                    flush=True,
                )
                if import_errors(stack.client):
                    raise SystemExit(f"The DAGs do not import (see above); the full log: {log_path}")
                yield stack
    finally:
        print(f"Log: {log_path}", flush=True)


def task_follower(client: AirflowApi) -> Follower:
    """Prints each task instance of the runs it sees as it finishes (a failed one with its error lines and
    its log file under this Airflow home), and a long CSV landing's progress."""
    return Follower(client.api, logs=Path(os.environ["AIRFLOW_HOME"]) / "logs")


ORPHANED_NOTE = (
    "Left queued or running by a runner of this project that stopped before it finished (interrupted, or a "
    "component of its stack died): marked failed by the next runner on this metadata DB."
)


def fail_orphaned_runs(client: AirflowApi) -> None:
    """Mark failed the runs of both DAGs that an earlier runner left queued or running. The runner holds the
    metadata DB's lock, so no other Airflow is left to finish them; kept, they would hold back the new run
    (``max_active_runs=1``), or a backfill of one that will never be marked completed."""
    for dag_id in (RAW_DAG_ID, REPORT_DAG_ID):
        for run in client.dag_runs(dag_id, state=["queued", "running"]):
            run_id = run["dag_run_id"]
            client.checked(
                "PATCH",
                f"/dags/{dag_id}/dagRuns/{run_id}",
                f"Marking the orphaned run {run_id} of {dag_id} failed",
                json={"state": "failed", "note": ORPHANED_NOTE},
            )
            print(
                f"Marked {run_id} of {dag_id} failed: an earlier runner left it {run['state']}.",
                file=sys.stderr,
                flush=True,
            )


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
    fail_orphaned_runs(client)
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
        print(
            f"{REPORT_DAG_ID} started from its asset schedule for partition {key}: run {report_id} "
            f"({report['run_type']})",
            flush=True,
        )
        return raw, client.follow([(REPORT_DAG_ID, report_id)], watch)[REPORT_DAG_ID, report_id]


def run_partition(stack: Stack, day: date, conf: dict, celery: bool = False) -> int:
    """``make run`` on a started stack: both runs for ``day``, then what they wrote; 1 if either failed,
    naming the run and the logs' folder."""
    raw, report = run_and_report(stack.client, day, conf)
    logs = stack.logs
    if raw["state"] != "success":
        print(
            f"The run {raw['dag_run_id']} of {RAW_DAG_ID} for {day} ended {raw['state']}; logs: {logs}",
            file=sys.stderr,
        )
        return 1
    with during(f"the summary of what landed for {day}"):
        s3 = stack.s3.client() if stack.s3 else user_s3_client()
        report_ran = report is not None and report["state"] == "success"
        print(summary(s3, stack.bucket, day, ranking=not report_ran))
        if celery:
            print(f"Task instances per worker: {per_worker(stack.client, raw['dag_run_id'])}")
        if not report_ran:
            state = f"run {report['dag_run_id']} ended {report['state']}" if report else "never started"
            print(f"The run of {REPORT_DAG_ID} for {day}: {state}; logs: {logs}", file=sys.stderr)
            return 1
        print(report_summary(s3, stack.bucket, day, stack.lake if stack.s3 else None))
    return 0


def user_s3_client() -> Any:
    """The S3 client of the user's own ``aws_default`` connection, e.g. real AWS. (Airflow's provider is
    imported here, the only place the runner itself needs it: it costs seconds at every start otherwise.)"""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.AWS_CONN_ID).get_conn()


if __name__ == "__main__":
    sys.exit(main())

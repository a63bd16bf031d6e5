"""``make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD [CONF=...] [EXECUTOR=celery]``: an Airflow backfill of the
raw DAG over the partitions FROM to TO (inclusive), on a stack started for the purpose (``make
airflow``'s, or the Celery cluster), each partition's report started by its asset event; one line per
partition, then everything stopped. Exit status 1 if any run failed, 2 for a range refused before anything
started.

The backfill reprocesses completed partitions (``reprocess_behavior="completed"``): backfilling a range
again runs every partition again and rewrites the same keys, rather than skipping those that already ran.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, date, datetime, timedelta

from datalake.settings import RAW_DAG_ID, REPORT_DAG_ID
from local_stack.airflow_api import AirflowApi, Watcher
from local_stack.processes import during
from local_stack.run import (
    REPORT_START_SECONDS,
    add_executor_argument,
    airflow_stack,
    fail_orphaned_runs,
    run_conf,
    task_follower,
    user_s3_client,
)
from local_stack.stack import Stack, add_location_arguments, guarded
from local_stack.summary import partition_line

MAX_DAYS = 31
REPROCESS = "completed"
"""Airflow's reprocess behaviour for a partition that already has a run: run it again (see the docstring)."""
MAX_ACTIVE_RUNS = 1
"""One partition at a time, as the DAG's own ``max_active_runs``: the partitions share one TMDB budget, and
on the local stack one SQLite metadata DB (Airflow's default for a backfill is 10 at once)."""
CREATED_SECONDS = 30.0
BACKFILL_DONE_SECONDS = 90.0
"""The scheduler marks a backfill whose runs have finished completed every 30 s."""


def backfill_day(name: str, text: str) -> date:
    """``FROM`` or ``TO``: a calendar date as YYYY-MM-DD."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date as YYYY-MM-DD; got {text!r}.")


def backfill_range(first_text: str, last_text: str, today: date | None = None) -> list[date]:
    """The days FROM to TO, inclusive; a malformed date, an inverted range, a range of more than
    ``MAX_DAYS`` days or one reaching past today (UTC) is refused, naming the values."""
    first, last = backfill_day("FROM", first_text), backfill_day("TO", last_text)
    today = today or datetime.now(UTC).date()
    if last < first:
        raise ValueError(f"TO ({last_text}) is before FROM ({first_text}).")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise ValueError(
            f"FROM={first_text} TO={last_text} spans {days} days; a backfill covers at most {MAX_DAYS}."
        )
    if last > today:
        raise ValueError(f"TO ({last_text}) is after today ({today}): a partition of the future has no data.")
    return [first + timedelta(days=offset) for offset in range(days)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="first", default="", help="first partition, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", default="", help="last partition, YYYY-MM-DD (inclusive)")
    parser.add_argument(
        "--conf", type=run_conf, default="", help="every run's params as JSON, e.g. '{\"top_n\": 20}'"
    )
    add_location_arguments(parser)
    add_executor_argument(parser)
    args = parser.parse_args(argv)
    try:
        days = backfill_range(args.first, args.last)
    except ValueError as error:
        parser.error(str(error))  # exit status 2, before anything starts
    runner = "make backfill" + (" EXECUTOR=celery" if args.executor == "celery" else "")

    def body() -> int:
        holder = f"{runner} from {days[0]} to {days[-1]}"
        with airflow_stack(args.executor, args.lake, args.local, holder) as stack:
            return backfill(stack, days, json.loads(args.conf))

    return guarded(runner, body)


def run_backfill(
    client: AirflowApi, days: list[date], conf: dict, watch: Watcher | None = None
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Create the backfill of the raw DAG over ``days`` and follow it: every raw run, then the report run
    each successful partition's asset event started. The raw runs and the report runs, by partition key.
    ``watch`` sees every poll's task instances (by default ``run.task_follower`` prints them)."""
    follower = task_follower(client)
    watch = watch or follower.follow
    keys = [day.isoformat() for day in days]
    body = client.backfill_body(RAW_DAG_ID, days[0], days[-1], conf, REPROCESS, MAX_ACTIVE_RUNS)
    planned = client.backfill_partitions(body)
    if sorted(planned) != keys:
        raise SystemExit(f"Airflow would backfill the partitions {planned}, not {keys}.")
    client.set_paused(REPORT_DAG_ID, False)
    fail_orphaned_runs(client)
    with during(f"waiting for an earlier backfill of {RAW_DAG_ID} to be marked completed"):
        # Airflow runs one backfill per DAG at once.
        client.wait_for_backfills(RAW_DAG_ID, BACKFILL_DONE_SECONDS)
    raw_before, reports_before = client.run_ids(RAW_DAG_ID), client.run_ids(REPORT_DAG_ID)
    span = f"{days[0]} to {days[-1]}"
    backfilling = during(f"the backfill of {RAW_DAG_ID} from {span}")
    with backfilling, client.unpaused(RAW_DAG_ID) as stop_unasked_runs:
        backfill = client.create_backfill(body)
        print(
            f"Backfill {backfill['id']} of {RAW_DAG_ID}: {len(keys)} partitions, {span} "
            f"(reprocess_behavior={REPROCESS})",
            flush=True,
        )
        raws = client.new_runs(RAW_DAG_ID, raw_before, keys, CREATED_SECONDS, run_type="backfill")
        if missing := [key for key in keys if key not in raws]:
            raise SystemExit(f"The backfill created no run for {', '.join(missing)} (one still running?).")
        follower.run_labels.update({run["dag_run_id"]: key for key, run in raws.items()})
        finished = client.follow(
            [(RAW_DAG_ID, run["dag_run_id"]) for run in raws.values()], watch, while_waiting=stop_unasked_runs
        )
    raws = {key: finished[RAW_DAG_ID, run["dag_run_id"]] for key, run in raws.items()}
    with during(f"waiting for the backfill of {RAW_DAG_ID} to be marked completed"):
        client.wait_for_backfills(RAW_DAG_ID, BACKFILL_DONE_SECONDS)  # so the next one may start at once
    landed = [key for key in keys if raws[key]["state"] == "success"]
    with during(f"the reports of {span}"):
        reports = client.new_runs(REPORT_DAG_ID, reports_before, landed, REPORT_START_SECONDS)
        follower.run_labels.update({run["dag_run_id"]: key for key, run in reports.items()})
        finished = client.follow([(REPORT_DAG_ID, run["dag_run_id"]) for run in reports.values()], watch)
    return raws, {key: finished[REPORT_DAG_ID, run["dag_run_id"]] for key, run in reports.items()}


def backfill(stack: Stack, days: list[date], conf: dict) -> int:
    """``make backfill`` on a started stack: one line per partition; 1 if any run failed, naming it and the
    logs' folder."""
    raws, reports = run_backfill(stack.client, days, conf)
    logs = stack.logs
    s3 = stack.s3.client() if stack.s3 else user_s3_client()
    failed = 0
    print(f"\nPartitions of {RAW_DAG_ID} backfilled:")
    for day in days:
        key = day.isoformat()
        raw, report = raws[key], reports.get(key)
        if raw["state"] != "success":
            run = f"run {raw['dag_run_id']} of {RAW_DAG_ID}"
            print(f"{key}  FAILED: {run} ended {raw['state']}; logs: {logs}")
        elif report is None or report["state"] != "success":
            state = f"run {report['dag_run_id']} ended {report['state']}" if report else "never started"
            print(f"{key}  FAILED: the report ({REPORT_DAG_ID}): {state}; logs: {logs}")
        else:
            print(partition_line(s3, stack.bucket, day, stack.lake if stack.s3 else None))
            continue
        failed += 1
    if failed:
        print(f"{failed} of {len(days)} partitions failed; logs: {logs}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

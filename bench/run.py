"""The benchmark: each stage of the job beside its bare baseline, measured in the same run.

Stages and what they are compared with:

* CSV landing (the operator's own ``land_checked_csv``: contract check, upload, verification) against a
  bare ``boto3`` ``upload_file`` of the same file to the same ``rclone serve s3``, each building its
  client first, as a task or a script does once per upload;
* the contract check alone, in MB/s;
* the landing's peak RSS at each size, each in a fresh interpreter, against the smallest size's;
* the DAG file's import in a fresh interpreter against a one-task DAG's;
* the TMDB stage through the Lambda entry point against the floor that the rate limit and the
  sandbox's injected latency allow, and the DAG's mapped tasks under ``airflow dags test`` beside it, and
  on the 2-worker Celery cluster of ``make cluster`` beside both;
* ``make run``, warm (this checkout) and cold (a fresh ``git clone``).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import requests

from bench.data import synthetic_csv
from datalake import settings
from datalake.csvs.files import MOVIES, SERIES, CsvFile
from datalake.settings import RAW_DAG_ID
from datalake.tmdb.rate_limit import DEFAULT_PER_SECOND
from local_stack.cluster import WORKERS, celery_cluster
from local_stack.databases import INSTALL, missing_binaries
from local_stack.environment import WORKER_CONCURRENCY, airflow_settings
from local_stack.run import run_and_report
from local_stack.services import LocalS3, LocalTmdb, free_port, rclone_s3, tmdb_sandbox
from local_stack.stack import local_airflow

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".bench"
BUCKET = "bench"
LATENCY = 0.05
"""Seconds the TMDB sandbox waits before each answer: about a real round trip to TMDB."""
PAGE_SIZE = 20
"""Results per TMDB discover page."""
ONE_TASK_DAG = """from airflow.sdk import dag, task
import pendulum


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def one_task():
    @task
    def only() -> None:
        pass

    only()


one_task()
"""


@dataclass(frozen=True)
class Sizes:
    """The CSVs to land, as (csv_file, MB): the real files' sizes and 1 GB; small ones with --quick."""

    files: tuple[tuple[CsvFile, int], ...]
    top_ns: tuple[int, ...]
    parse_repeats: int

    @property
    def smallest(self) -> tuple[CsvFile, int]:
        return min(self.files, key=lambda item: item[1])


FULL = Sizes(files=((SERIES, 77), (MOVIES, 165), (MOVIES, 1000)), top_ns=(10, 100), parse_repeats=5)
QUICK = Sizes(files=((SERIES, 4), (MOVIES, 8), (MOVIES, 32)), top_ns=(10,), parse_repeats=1)


@dataclass
class Row:
    """One line of the table: ``ratio`` is figure / baseline; ``met`` is None when there is no target;
    ``figure`` is None for a row that was skipped (its target says why)."""

    stage: str
    figure: float | None
    unit: str
    baseline: float | None
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of ``action()`` and its result.

    A full garbage collection first: otherwise one owed to the bench's earlier garbage (about 0.4 s with
    Airflow's ~200,000 objects in the heap) falls into whichever side happens to allocate next.
    """
    gc.collect()
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def process_cpu() -> float:
    """CPU seconds (user + system) this process has used so far, in all its threads (boto3 uploads parts
    from a thread pool): unlike wall time, it does not grow when other processes take the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_timed(action: Callable[[], Any]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds of ``action()``, after a full collection (``timed``)."""
    gc.collect()
    cpu_start, start = process_cpu(), time.perf_counter()
    action()
    return time.perf_counter() - start, process_cpu() - cpu_start


# --- CSV landing, contract check, peak memory ---------------------------------------------------------

LANDING_CPU_TARGET = 2.0
"""The most CPU the landing's checks may add to a bare upload's, in ms per MB."""


def csv_rows(s3: LocalS3, sizes: Sizes, landing_only: bool = False) -> list[Row]:
    """Landing vs bare upload per size (throughput, then CPU per MB), the contract check alone, and peak RSS
    per size; only the two landing rows per size with ``landing_only``."""
    from datalake.airflow.operators import land_checked_csv
    from datalake.csvs.contract import check_csv

    client = s3.client()
    rows: list[Row] = []
    check_rates: list[float] = []
    for csv_file, megabytes in sizes.files:
        path = synthetic_csv(OUT / "data", csv_file, megabytes)
        size_mb = path.stat().st_size / 1e6
        key = f"bench/{path.name}"
        bare = landing = bare_cpu = landing_cpu = math.inf
        for _ in range(3 if megabytes < 500 else 1):  # best of three where it is cheap: noise only slows
            wall, cpu = cpu_timed(partial(bare_upload, s3, path, key))
            bare, bare_cpu = min(bare, wall), min(bare_cpu, cpu)
            client.delete_object(Bucket=BUCKET, Key=key)
            wall, cpu = cpu_timed(
                partial(land_checked_csv, path, csv_file, BUCKET, key, aws_conn_id=settings.AWS_CONN_ID)
            )
            landing, landing_cpu = min(landing, wall), min(landing_cpu, cpu)
            client.delete_object(Bucket=BUCKET, Key=key)
        ratio = bare / landing
        rows.append(
            Row(
                f"CSV landing {megabytes} MB ({csv_file.filename})",
                size_mb / landing,
                "MB/s",
                size_mb / bare,
                ratio,
                ">= 0.8 x bare upload_file",
                ratio >= 0.8,
            )
        )
        bare_per_mb, landing_per_mb = bare_cpu * 1000 / size_mb, landing_cpu * 1000 / size_mb
        extra = landing_per_mb - bare_per_mb
        rows.append(
            Row(
                f"CSV landing CPU {megabytes} MB, over bare",
                extra,
                "ms/MB",
                bare_per_mb,
                None,
                f"<= {LANDING_CPU_TARGET:g} ms/MB over bare",
                extra <= LANDING_CPU_TARGET,
                f"this process's user+sys CPU: landing {landing_per_mb:.2f} ms/MB, bare upload_file "
                f"{bare_per_mb:.2f} ms/MB (baseline column); fixed costs included",
            )
        )
        if not landing_only:
            check_rates.append(size_mb / timed(partial(check_csv, path, csv_file))[0])
    if landing_only:
        return rows
    rate = statistics.median(check_rates)
    rows.append(
        Row(
            "contract check alone",
            rate,
            "MB/s",
            None,
            None,
            ">= 300 MB/s",
            rate >= 300,
            f"median over the {len(check_rates)} files",
        )
    )
    rows += peak_rows(s3, sizes)
    return rows


def bare_upload(s3: LocalS3, path: Path, key: str) -> None:
    """What a plain script does: a client from a fresh boto3 session (as the operator's hook builds one),
    then ``upload_file``; no check, no verification."""
    s3.client(boto3.session.Session()).upload_file(str(path), BUCKET, key)


def peak_rows(s3: LocalS3, sizes: Sizes) -> list[Row]:
    """Peak RSS of one landing per size, each in a fresh interpreter, against the smallest size's."""
    peaks: dict[int, float] = {}
    for csv_file, megabytes in sizes.files:
        path = synthetic_csv(OUT / "data", csv_file, megabytes)
        key = f"bench/peak/{path.name}"
        output = subprocess.run(
            [sys.executable, "-m", "bench.peak", str(path), csv_file.name, BUCKET, key],
            env=os.environ.copy(),
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        peaks[megabytes] = float(output.split()[-1])
        s3.client().delete_object(Bucket=BUCKET, Key=key)
    smallest = peaks[sizes.smallest[1]]
    rows = []
    for megabytes, peak in peaks.items():
        if megabytes == sizes.smallest[1]:
            rows.append(Row(f"peak RSS, landing {megabytes} MB", peak, "MB", None, None, "baseline", None))
        else:
            rows.append(
                Row(
                    f"peak RSS, landing {megabytes} MB",
                    peak,
                    "MB",
                    smallest,
                    peak / smallest,
                    f"<= {smallest:.0f} + 50 MB",
                    peak - smallest <= 50,
                    f"{peak - smallest:+.1f} MB over {sizes.smallest[1]} MB",
                )
            )
    return rows


# --- DAG parse time ----------------------------------------------------------------------------------


def parse_rows(repeats: int) -> list[Row]:
    """Import of the DAG file in a fresh interpreter (as the DAG processor does) vs a one-task DAG's."""
    one_task = OUT / "one_task_dag.py"
    one_task.write_text(ONE_TASK_DAG)
    dag_file = REPO / "dags" / "datalake_raw_ingest.py"

    def parse(path: Path) -> float:
        code = f"import runpy; runpy.run_path({str(path)!r}, run_name='bench_dag')"
        command = [sys.executable, "-c", code]
        return timed(lambda: subprocess.run(command, env=os.environ.copy(), check=True))[0]

    parse(one_task)  # first run warms the page cache for both, not just the one that runs first
    ours, baseline = [], []
    for _ in range(repeats):  # interleaved, so drift on the machine hits both alike
        ours.append(parse(dag_file))
        baseline.append(parse(one_task))
    figure, base = statistics.median(ours), statistics.median(baseline)
    return [
        Row(
            "DAG parse (datalake_raw_ingest.py)",
            figure,
            "s",
            base,
            figure / base,
            "<= 1.5 x one-task DAG",
            figure / base <= 1.5,
            f"median of {repeats} fresh interpreters",
        )
    ]


# --- TMDB stage --------------------------------------------------------------------------------------


def pages_needed(tmdb: LocalTmdb, top_n: int) -> int:
    """Discover pages a correct client must read: until the n-th score is strictly above a page's lowest.

    Worked out here from the sandbox's answers, independently of ``datalake.tmdb.ranking``, so the count
    checks that code rather than repeating it.
    """
    from datalake.tmdb.ranking import DiscoverQuery

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tmdb.credential}"
    scores: list[float] = []
    page = 0
    while True:
        page += 1
        answer = session.get(
            f"{tmdb.base_url}/discover/tv", params=DiscoverQuery(top_n=top_n).params(page)
        ).json()
        results = answer["results"]
        scores += [float(series["vote_average"]) for series in results]
        if page >= answer["total_pages"] or not results:
            return page
        if len(scores) >= top_n and min(float(s["vote_average"]) for s in results) < sorted(scores)[-top_n]:
            return page


def sandbox_admin(tmdb: LocalTmdb) -> str:
    """The sandbox's test API (faults, request log), beside its ``/3``."""
    return tmdb.base_url.removesuffix("/3") + "/_sandbox"


def tmdb_rows(tmdb: LocalTmdb, s3: LocalS3, top_ns: tuple[int, ...], with_dag: bool) -> list[Row]:
    """The Lambda entry point at each top_n against its floor; the DAG's mapped tasks beside it, under
    ``dags test`` and on the Celery cluster, all with the same injected latency."""
    from lambda_function import handler

    admin = sandbox_admin(tmdb)
    needed = {top_n: pages_needed(tmdb, top_n) for top_n in top_ns}
    fault = [{"path": "/3/*", "fault": "slow", "delay": LATENCY, "probability": 1.0}]
    requests.put(f"{admin}/faults", json=fault).raise_for_status()
    environment = {
        **s3.lambda_environment(BUCKET),
        "TMDB_BASE_URL": tmdb.base_url,
        "TMDB_API_TOKEN": tmdb.credential,
    }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    rows: list[Row] = []
    try:
        # A warm container: imports done, boto3's models loaded; that is what every later invocation sees.
        handler.lambda_handler({"top_n": 1, "prefix": "Bench/Warmup/"}, None)
        for top_n in top_ns:
            requests.delete(f"{admin}/requests").raise_for_status()
            wall, answer = timed(
                partial(handler.lambda_handler, {"top_n": top_n, "prefix": "Bench/Lambda/"}, None)
            )
            made = len(requests.get(f"{admin}/requests").json())
            ids = len(answer["ids"])
            expected = needed[top_n] + ids
            rows.append(
                Row(
                    f"TMDB requests, top_n {top_n}",
                    made,
                    "requests",
                    expected,
                    made / expected,
                    "= pages needed + 1 per id",
                    made == expected,
                    f"{needed[top_n]} page(s) + {ids} ids",
                )
            )
            floor = tmdb_floor(needed[top_n], ids, handler.DETAIL_WORKERS)
            rows.append(
                Row(
                    f"TMDB Lambda wall, top_n {top_n}",
                    wall,
                    "s",
                    floor,
                    wall / floor,
                    "<= 1.5 x floor",
                    wall / floor <= 1.5,
                    f"floor: {needed[top_n]} sequential page(s) x {LATENCY * 1000:.0f} ms, then details "
                    f"paced at {DEFAULT_PER_SECOND:.0f}/s by {handler.DETAIL_WORKERS} workers",
                )
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if with_dag:
        rows += dag_test_rows(tmdb, top_ns)
        rows += cluster_rows(top_ns, rows)
    requests.delete(f"{admin}/faults").raise_for_status()
    return rows


def tmdb_floor(pages: int, ids: int, workers: int) -> float:
    """The least wall time any client could take under the rate limit and the injected latency.

    Each discover page decides whether the next is needed, so pages go one after another, one latency
    each. Details are independent: ``workers`` in flight could finish one latency apart per batch, but
    the shared limiter releases one start every 1/35 s, so the last starts (ids - 1)/35 s after the first
    and answers one latency later; whichever bound is larger holds.
    """
    rate_bound = (ids - 1) / DEFAULT_PER_SECOND + LATENCY if ids else 0.0
    latency_bound = math.ceil(ids / workers) * LATENCY
    return pages * LATENCY + max(rate_bound, latency_bound)


def dag_test_rows(tmdb: LocalTmdb, top_ns: tuple[int, ...]) -> list[Row]:
    """``airflow dags test`` per top_n; the span of its mapped ``fetch_series_details`` tasks, from the DB."""
    rows = []
    os.environ["AIRFLOW_CONN_TMDB_DEFAULT"] = tmdb.airflow_connection()
    os.environ["DATALAKE_BUCKET"] = BUCKET
    with local_airflow(OUT / "lake", OUT / "local"):
        database = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
        for offset, top_n in enumerate(top_ns):
            day = date(2026, 1, 1 + offset).isoformat()
            command = [
                str(Path(sys.executable).parent / "airflow"),
                "dags",
                "test",
                "datalake_raw_ingest",
                day,
                "--conf",
                json.dumps({"top_n": top_n}),
            ]
            wall, done = timed(
                partial(subprocess.run, command, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            )
            if done.returncode != 0:
                raise RuntimeError(f"airflow dags test failed:\n{done.stdout.decode()[-3000:]}")
            span, count = mapped_span(database, day)
            rows.append(
                Row(
                    f"TMDB DAG mapped tasks, top_n {top_n}",
                    span,
                    "s",
                    None,
                    None,
                    "reported",
                    None,
                    f"{count} mapped tasks, first start to last end; whole dags test {wall:.1f} s",
                )
            )
    return rows


def mapped_span(database: Path, day: str) -> tuple[float, int]:
    """Seconds from the first mapped detail task's start to the last one's end, in the run for ``day``."""
    with sqlite3.connect(database) as connection:
        first, last, count = connection.execute(
            "select min(ti.start_date), max(ti.end_date), count(*) from task_instance ti "
            "join dag_run r on r.run_id = ti.run_id and r.dag_id = ti.dag_id "
            "where ti.dag_id = 'datalake_raw_ingest' and ti.task_id = 'fetch_series_details' "
            "and date(r.logical_date) = ? and r.id = (select max(id) from dag_run where dag_id = ti.dag_id "
            "and date(logical_date) = ?)",
            (day, day),
        ).fetchone()
    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds(), count


DETAIL_TASK = "fetch_series_details"


def cluster_rows(top_ns: tuple[int, ...], earlier: list[Row]) -> list[Row]:
    """The mapped detail tasks per top_n on ``make cluster``'s topology, beside the ``dags test`` and Lambda
    figures in ``earlier``; skipped rows, not a failure, when PostgreSQL or Redis is not installed."""
    stages = [f"TMDB cluster mapped tasks, top_n {top_n}" for top_n in top_ns]
    if missing := missing_binaries():
        return [
            Row(
                stage,
                None,
                "s",
                None,
                None,
                f"skipped: {INSTALL}",
                None,
                f"not installed: {', '.join(missing)}",
            )
            for stage in stages
        ]
    figures = {row.stage: row.figure for row in earlier}
    # PostgreSQL runs as its own user, which must reach its data folder: not under a private folder.
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    root.chmod(0o755)
    saved = dict(os.environ)  # the cluster puts its settings in this process's environment
    rows = []
    try:
        with celery_cluster(root / "lake", root / "local", free_port()) as cluster:
            for offset, (top_n, stage) in enumerate(zip(top_ns, stages, strict=True)):
                day = date(2026, 2, 1 + offset)
                raw, _ = run_and_report(cluster.client, day, {"top_n": top_n}, watch=lambda tasks: None)
                if raw["state"] != "success":
                    ended = f"{RAW_DAG_ID} on the cluster ended {raw['state']}"
                    raise RuntimeError(f"{ended}; see {root}/local/logs")
                instances = cluster.client.task_instances(RAW_DAG_ID, raw["dag_run_id"])
                mapped = [ti for ti in instances if ti["task_id"] == DETAIL_TASK]
                span = task_span(mapped)
                dags_test = figures[f"TMDB DAG mapped tasks, top_n {top_n}"]
                note = cluster_note(mapped, dags_test, figures[f"TMDB Lambda wall, top_n {top_n}"])
                rows.append(
                    Row(
                        stage,
                        span,
                        "s",
                        dags_test,
                        span / dags_test,
                        "reported (baseline: dags test)",
                        None,
                        note,
                    )
                )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)
    return rows


def cluster_note(mapped: list[dict], dags_test: float, lambda_wall: float) -> str:
    """Where the cluster's mapped tasks ran, how long each took, and the figures to compare them with."""
    slots = len(WORKERS) * WORKER_CONCURRENCY
    per_host = sorted(Counter(ti["hostname"] for ti in mapped).items())
    hosts = ", ".join(f"{host} {count}" for host, count in per_host)
    median_task = statistics.median(ti["duration"] for ti in mapped)
    return (
        f"{len(mapped)} mapped tasks ({hosts}; {slots} slots), first start to last end (REST API); "
        f"median task {median_task:.2f} s; dags test {dags_test:.2f} s, Lambda {lambda_wall:.2f} s; "
        f"rate-limit floor of the details alone {tmdb_floor(0, len(mapped), slots):.2f} s"
    )


def task_span(task_instances: list[dict]) -> float:
    """Seconds from the first task instance's start to the last one's end, from the REST API's ISO stamps."""
    starts = [datetime.fromisoformat(ti["start_date"]) for ti in task_instances]
    ends = [datetime.fromisoformat(ti["end_date"]) for ti in task_instances]
    return (max(ends) - min(starts)).total_seconds()


# --- make run ----------------------------------------------------------------------------------------


def make_run_rows(clean_env: dict[str, str]) -> list[Row]:
    """``make run`` here with the venv present, then in a fresh clone (committed files only)."""
    rows = []
    warm = make_run(REPO, clean_env)
    rows.append(
        Row(
            "make run, warm",
            warm[0],
            "s",
            None,
            None,
            "<= 45 s",
            warm[1] and warm[0] <= 45,
            "" if warm[1] else "FAILED",
        )
    )
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as folder:
        clone = Path(folder) / "repo"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        seconds, ok = make_run(clone, clean_env)
    rows.append(
        Row(
            "make run, cold (fresh clone)",
            seconds,
            "s",
            None,
            None,
            "<= 240 s",
            ok and seconds <= 240,
            "" if ok else "FAILED",
        )
    )
    return rows


def make_run(folder: Path, env: dict[str, str]) -> tuple[float, bool]:
    """Wall seconds of ``make run`` in ``folder`` and whether it succeeded; its output goes to ``.bench/``."""
    log = OUT / f"make-run-{folder.name}.log"
    with log.open("wb") as out:
        seconds, done = timed(
            lambda: subprocess.run(
                ["make", "-C", str(folder), "run"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        )
    return seconds, done.returncode == 0


# --- the table ---------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    """A Markdown table, so the same text goes to the terminal and into docs/benchmarks.md; notes below it."""

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"

    header = ("stage", "figure", "baseline", "ratio", "target", "met?")
    met = {True: "yes", False: "NO", None: "-"}
    lines = [
        [
            row.stage,
            "-" if row.figure is None else f"{number(row.figure)} {row.unit}",
            number(row.baseline),
            number(row.ratio),
            row.target,
            met[row.met],
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [list(header), *lines]) for i in range(len(header))]
    out = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    out += [f"- {row.stage}: {row.note}" for row in rows if row.note]
    return "\n".join(out)


@contextmanager
def services() -> Iterator[tuple[LocalS3, LocalTmdb]]:
    """The bench's own S3 server (over ``.bench/lake``) and TMDB sandbox, apart from ``make run``'s."""
    logs = OUT / "logs"
    with (
        rclone_s3(OUT / "lake", BUCKET, logs / "rclone.log") as s3,
        tmdb_sandbox(logs / "tmdb-sandbox.log") as tmdb,
    ):
        yield s3, tmdb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small files, top_n 10 only, no airflow dags test, no cluster, no make run: under a minute",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--landing-only",
        action="store_true",
        help="only the CSV landing rows (throughput and CPU per MB against a bare upload)",
    )
    only.add_argument(
        "--tmdb-only",
        action="store_true",
        help="only the TMDB rows: the Lambda, airflow dags test, the 2-worker Celery cluster",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    OUT.mkdir(exist_ok=True)
    clean_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "DATALAKE_", "TMDB_")) and name not in ("MOVIES_CSV", "SERIES_CSV")
    }
    os.environ.update(airflow_settings(OUT / "local" / "airflow"))
    rows: list[Row] = []
    with services() as (s3, tmdb):
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = s3.airflow_connection()
        if not args.tmdb_only:
            rows += csv_rows(s3, sizes, landing_only=args.landing_only)
        if not args.landing_only:
            if not args.tmdb_only:
                rows += parse_rows(sizes.parse_repeats)
            rows += tmdb_rows(tmdb, s3, sizes.top_ns, with_dag=not args.quick)
    if not args.quick and not args.landing_only and not args.tmdb_only:
        rows += make_run_rows(clean_env)
    print(table(rows))
    name = (
        "results"
        + ("-quick" if args.quick else "")
        + ("-landing" if args.landing_only else "")
        + ("-tmdb" if args.tmdb_only else "")
    )
    results = OUT / f"{name}.json"
    results.write_text(
        json.dumps(
            {
                "quick": args.quick,
                "landing_only": args.landing_only,
                "tmdb_only": args.tmdb_only,
                "rows": [asdict(row) for row in rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nWritten to {results.relative_to(REPO)}")
    return 0

"""``make run``: start what is missing, run the DAG for one date, show what landed.

Whatever the environment already configures wins: ``AIRFLOW_CONN_AWS_DEFAULT`` replaces the
embedded S3 server, ``AIRFLOW_CONN_TMDB_DEFAULT`` or ``TMDB_API_TOKEN`` the TMDB sandbox.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from datalake import layout, settings  # noqa: E402
from datalake.datasets import DATASETS  # noqa: E402
from datalake.ranking import DiscoverQuery, rank  # noqa: E402
from datalake.tmdb import DEFAULT_BASE_URL  # noqa: E402
from sandbox.services import rclone_s3, tmdb_sandbox  # noqa: E402

DAG_ID = "datalake_raw_ingest"


def airflow_settings(home: Path) -> dict[str, str]:
    """Airflow configuration for a project-local home with a SQLite metadata DB."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "plugins"), os.environ.get("PYTHONPATH")])),
    }


def dataset_variables(environ: dict[str, str]) -> dict[str, str]:
    """``MOVIES_CSV=...`` and ``SERIES_CSV=...`` become the Airflow Variables the DAG reads."""
    return {
        f"AIRFLOW_VAR_{dataset.variable.upper()}": str(Path(environ[dataset.variable.upper()]).resolve())
        for dataset in DATASETS
        if environ.get(dataset.variable.upper())
    }


def start_tmdb(stack: ExitStack, logs: Path) -> str | None:
    """The TMDB connection to use, starting the sandbox unless the environment names a real TMDB."""
    if "AIRFLOW_CONN_TMDB_DEFAULT" in os.environ:
        return None
    if token := os.environ.get("TMDB_API_TOKEN"):
        print(f"TMDB: {DEFAULT_BASE_URL}")
        return json.dumps({"conn_type": "http", "host": DEFAULT_BASE_URL, "password": token})
    tmdb = stack.enter_context(tmdb_sandbox(logs / "tmdb-sandbox.log"))
    print(f"TMDB sandbox: {tmdb.base_url}")
    return tmdb.airflow_connection()


def airflow(*args: str) -> int:
    return subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], stdin=subprocess.DEVNULL).returncode


def summary(client: Any, bucket: str, day: date) -> str:
    """The objects of the day's partition and the top series they describe."""
    keys = [layout.csv_key(dataset, day) for dataset in DATASETS]
    listing = client.list_objects_v2(Bucket=bucket, Prefix=layout.tmdb_prefix(day)).get("Contents", [])
    sizes = {obj["Key"]: obj["Size"] for obj in listing}
    sizes.update({key: client.head_object(Bucket=bucket, Key=key)["ContentLength"] for key in keys})
    lines = [f"Objects in s3://{bucket}/ for {day}:"]
    lines += [f"  {size:>12,}  {key}" for key, size in sorted(sizes.items())]

    def read(key: str) -> dict:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())

    pages = [read(key)["results"] for key in sorted(sizes) if "/discover_tv_p" in key]
    top = rank([series for page in pages for series in page], DiscoverQuery().top_n)
    lines += ["", f"{'rank':>4}  {'tmdb id':>8}  {'name':<40} {'vote avg':>8} {'votes':>7} {'seasons':>7} {'episodes':>8}"]
    for position, series in enumerate(top, start=1):
        details = read(layout.details_key(day, series["id"]))
        lines.append(
            f"{position:>4}  {details['id']:>8}  {details['name'][:40]:<40} {details['vote_average']:>8.3f} "
            f"{details['vote_count']:>7} {details['number_of_seasons']:>7} {details['number_of_episodes']:>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--date", type=date.fromisoformat, default=datetime.now(timezone.utc).date(),
                        help="logical date, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--lake", type=Path, default=REPO / ".lake", help="folder the embedded S3 server serves")
    parser.add_argument("--local", type=Path, default=REPO / ".local", help="Airflow home and service logs")
    parser.add_argument("--conf", default="{}", help='the run\'s params as JSON, e.g. \'{"top_n": 20}\'')
    args = parser.parse_args(argv)
    day = args.date
    bucket = os.environ.get("DATALAKE_BUCKET") or settings.DEFAULT_BUCKET
    logs = args.local.resolve() / "logs"
    os.environ.update(airflow_settings(args.local.resolve() / "airflow"))
    os.environ.update(dataset_variables(dict(os.environ)))
    os.environ[f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}"] = bucket
    with ExitStack() as stack:
        s3 = None
        if "AIRFLOW_CONN_AWS_DEFAULT" not in os.environ:
            s3 = stack.enter_context(rclone_s3(args.lake.resolve(), bucket, logs / "rclone.log"))
            os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = s3.airflow_connection()
            print(f"Embedded S3: {s3.endpoint_url} serving {args.lake.resolve()}")
        if tmdb_connection := start_tmdb(stack, logs):
            os.environ["AIRFLOW_CONN_TMDB_DEFAULT"] = tmdb_connection
        if airflow("db", "migrate") != 0:
            print("airflow db migrate failed", file=sys.stderr)
            return 1
        if airflow("dags", "test", DAG_ID, day.isoformat(), "--conf", args.conf) != 0:
            print(f"The run of {DAG_ID} for {day} failed; see the task logs above.", file=sys.stderr)
            return 1
        print(summary(s3.client() if s3 else user_s3_client(), bucket, day))
    return 0


def user_s3_client() -> Any:
    """The S3 client of the user's own ``aws_default`` connection, e.g. real AWS."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.AWS_CONN_ID).get_conn()


if __name__ == "__main__":
    sys.exit(main())

"""Every key of the lake is computed here, and nowhere else.

Keys are partitioned by the run's date (its Airflow partition key), not the load time, so re-running a
date overwrites the same keys instead of adding new ones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from datalake.csvs.files import CsvFile
from datalake.errors import InvalidParameter

CSV_ROOT = "Raw/Local/CSV"
TMDB_ROOT = "Raw/TMDB/JSON"
MANIFEST_ROOT = "Raw/_manifests"
REPORT_ROOT = "Refined/Reports/AnimeTop10"


PARTITION_KEY_FORMAT = "%Y-%m-%d"
"""How Airflow names a date partition (a run's and an asset event's partition key): the lake's day."""


def partition_key(day: date) -> str:
    """The partition key of ``day``: ``YYYY-MM-DD``, the day ``partition_path`` writes as ``YYYY/MM/DD``."""
    return day.strftime(PARTITION_KEY_FORMAT)


def day_of_partition_key(key: str) -> date:
    """The day a partition key names; anything but a ``YYYY-MM-DD`` date is refused, naming the key."""
    try:
        day = datetime.strptime(key, PARTITION_KEY_FORMAT).date()
    except ValueError:
        day = None
    if day is None or partition_key(day) != key:
        raise InvalidParameter(
            f"Partition key {key!r} is not a day of the lake: expected YYYY-MM-DD, e.g. 2026-11-27."
        )
    return day


def day_of_run(logical_date: datetime | None, run_after: datetime, partition_key: str | None = None) -> date:
    """The UTC date a run writes under: the day of its partition key; a run without one (``airflow dags
    test``, a trigger that named none) falls back to its logical date, or run_after for a manual run."""
    if partition_key is not None:
        return day_of_partition_key(partition_key)
    moment = logical_date if logical_date is not None else run_after
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def utc_timestamp(epoch: float | None = None) -> str:
    """ISO-8601 in UTC, to the millisecond: how the manifest writes every moment (default: now)."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds")


def partition_path(day: date) -> str:
    """The date partition as it appears in a key: ``YYYY/MM/DD``."""
    return f"{day:%Y/%m/%d}"


def csv_root(csv_file: CsvFile) -> str:
    return f"{CSV_ROOT}/{csv_file.name}"


def csv_key(csv_file: CsvFile, day: date, prefix: str = "") -> str:
    return f"{prefix}{csv_root(csv_file)}/{partition_path(day)}/{csv_file.filename}"


def tmdb_prefix(day: date, prefix: str = "") -> str:
    return f"{prefix}{TMDB_ROOT}/{partition_path(day)}/"


def discover_key(day: date, page: int, prefix: str = "") -> str:
    return f"{tmdb_prefix(day, prefix)}discover_tv_p{page:03d}.json"


def details_key(day: date, series_id: int, prefix: str = "") -> str:
    return f"{tmdb_prefix(day, prefix)}tv_{series_id}.json"


def manifest_key(day: date, dag_id: str, prefix: str = "") -> str:
    """The run manifest: its presence marks the partition complete."""
    return f"{prefix}{MANIFEST_ROOT}/{partition_path(day)}/{dag_id}.json"


def manifest_day(key: str, dag_id: str) -> date | None:
    """The partition whose manifest ``key`` is (the inverse of ``manifest_key``); None for any other key."""
    head, _, name = key.rpartition("/")
    if name != f"{dag_id}.json" or not head.startswith(f"{MANIFEST_ROOT}/"):
        return None
    try:
        return datetime.strptime(head.removeprefix(f"{MANIFEST_ROOT}/"), "%Y/%m/%d").date()
    except ValueError:
        return None


def report_prefix(day: date) -> str:
    """The refined zone's anime top-N report for one partition: every format sits under it."""
    return f"{REPORT_ROOT}/{partition_path(day)}/"


def report_key(day: date, extension: str) -> str:
    """One format of the report: ``top10.parquet``, ``top10.csv``, ``top10.md``, ``top10.html``."""
    return f"{report_prefix(day)}top10.{extension}"


def history_key(extension: str) -> str:
    """The ranking across every reported partition: ``history.parquet``, ``history.html``."""
    return f"{REPORT_ROOT}/history.{extension}"

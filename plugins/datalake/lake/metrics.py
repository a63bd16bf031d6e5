"""What the history-based checks measure: one number per metric and partition, read from the manifest's
entries (no object is read again), so that any earlier manifest is a point of the metric's history.

Volume: each CSV's rows and bytes, TMDB's discover total (the first page's ``total_results``) and the
number of detail bodies. Completeness: each CSV column's null rate (``\\N`` or empty), from the ``profile``
the landing records. Uniqueness: each CSV's exact duplicate rows, from the same profile. A manifest without
the entry or the field (an older run) has no value for the metric: it is no point of its history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from datalake import layout
from datalake.csvs.files import CSV_FILES, CsvFile
from datalake.run_params import SCHEMAS as QUERY_SCHEMAS

Document = Mapping[str, Any]

SPREAD_FLOOR_FRACTION = 0.01
"""The spread floor is at least this fraction of the history's mean (and at least one unit)."""


def csv_entry(document: Document, csv_file: CsvFile) -> Mapping[str, Any] | None:
    """The CSV's entry in the manifest, or None when the partition has no such object."""
    key = layout.csv_key(csv_file, date.fromisoformat(document["partition"]))
    return next((entry for entry in document["objects"] if entry["key"] == key), None)


def _entry(document: Document, key: str) -> Mapping[str, Any] | None:
    return next((entry for entry in document["objects"] if entry["key"] == key), None)


def same_query(document: Document, other: Document) -> bool:
    """Whether two runs asked TMDB the same query: only then are their TMDB volumes comparable."""
    return all(document["params"].get(name) == other["params"].get(name) for name in QUERY_SCHEMAS)


@dataclass(frozen=True)
class Metric:
    """One number per partition and how its check reads it."""

    name: str
    """Also the check's name, e.g. ``series.csv rows``."""
    value: Callable[[Document], float | None]
    unit: str = ""
    """What the number counts (``rows``, ``bytes``, ``series``, ``details``); empty for a rate."""
    rate_over: CsvFile | None = None
    """For a rate: the CSV whose rows it is a fraction of (one row's worth is its unit)."""
    rises_only: bool = False
    """Only a rise is an anomaly (duplicates: fewer is never worse)."""
    same_query_only: bool = False
    """Compared only with partitions of the same TMDB query (``run_params.SCHEMAS``)."""
    csv_file: CsvFile | None = None
    """The CSV it describes, if any."""

    def shown(self, value: float, precise: bool = False) -> str:
        """The value as the checks write it; ``precise`` for a spread (a decimal more)."""
        if self.rate_over:
            return f"{value:.3%}" if precise else f"{value:.2%}"
        return f"{value:,.1f} {self.unit}" if precise else f"{value:,.0f} {self.unit}"

    def unit_size(self, document: Document) -> float:
        """One unit: one row's worth of a rate (in ``document``), else 1."""
        if self.rate_over is None:
            return 1.0
        entry = csv_entry(document, self.rate_over)
        records = int(entry["records"]) if entry else 0
        return 1 / records if records else 1.0

    def floor(self, mean: float, document: Document) -> float:
        """The least spread the z-score divides by: an unchanging history would otherwise make any move,
        however small, an anomaly."""
        return max(SPREAD_FLOOR_FRACTION * abs(mean), self.unit_size(document))

    def bounded(self, low: float, high: float) -> tuple[float, float]:
        """The band within the values the metric can take: no count below 0, no rate above 1."""
        low = 0.0 if self.rises_only else max(low, 0.0)
        return low, min(high, 1.0) if self.rate_over else high


def _csv_field(csv_file: CsvFile, field: str) -> Callable[[Document], float | None]:
    def read(document: Document) -> float | None:
        entry = csv_entry(document, csv_file)
        return None if entry is None else float(entry[field])

    return read


def _null_rate(csv_file: CsvFile, column: str) -> Callable[[Document], float | None]:
    def read(document: Document) -> float | None:
        entry = csv_entry(document, csv_file)
        if entry is None or "profile" not in entry or not int(entry["records"]):
            return None
        count = entry["profile"].get("null_counts", {}).get(column)
        return None if count is None else int(count) / int(entry["records"])

    return read


def _duplicate_rows(csv_file: CsvFile) -> Callable[[Document], float | None]:
    def read(document: Document) -> float | None:
        entry = csv_entry(document, csv_file)
        if entry is None or "duplicate_rows" not in entry.get("profile", {}):
            return None
        return float(entry["profile"]["duplicate_rows"])

    return read


def discover_total(document: Document) -> float | None:
    """TMDB's count of series matching the query, as the first discover page's entry records it."""
    entry = _entry(document, layout.discover_key(date.fromisoformat(document["partition"]), 1))
    total = None if entry is None else entry.get("total_results")
    return None if total is None else float(total)


def details_count(document: Document) -> float:
    """How many ranked series have their ``/tv/{id}`` body in the partition."""
    day = date.fromisoformat(document["partition"])
    keys = {entry["key"] for entry in document["objects"]}
    return float(sum(layout.details_key(day, int(series["id"])) in keys for series in document["ranking"]))


VOLUME: tuple[Metric, ...] = (
    *(
        Metric(f"{csv_file.filename} {unit}", _csv_field(csv_file, field), unit, csv_file=csv_file)
        for csv_file in CSV_FILES
        for field, unit in (("records", "rows"), ("bytes", "bytes"))
    ),
    Metric("TMDB discover total", discover_total, "series", same_query_only=True),
    Metric("TMDB details", details_count, "details", same_query_only=True),
)


def completeness(csv_file: CsvFile) -> tuple[Metric, ...]:
    """The null rate of each of the CSV's columns."""
    return tuple(
        Metric(
            f"{csv_file.filename} {column} null rate",
            _null_rate(csv_file, column),
            rate_over=csv_file,
            csv_file=csv_file,
        )
        for column in csv_file.columns
    )


def duplicates(csv_file: CsvFile) -> Metric:
    return Metric(
        f"{csv_file.filename} duplicate rows",
        _duplicate_rows(csv_file),
        "rows",
        rises_only=True,
        csv_file=csv_file,
    )


METRICS: tuple[Metric, ...] = (
    *VOLUME,
    *(metric for csv_file in CSV_FILES for metric in completeness(csv_file)),
    *(duplicates(csv_file) for csv_file in CSV_FILES),
)
"""Every metric with a history, in the order of their checks."""


def values(document: Document) -> dict[str, float]:
    """Each metric's value in one manifest (the ones it records), by name: a column of the history page."""
    return {metric.name: value for metric in METRICS if (value := metric.value(document)) is not None}

"""Data checks: a new partition's manifest against the history of the last complete partitions.

Pure (no S3): the manifest and its history (the last ``history_partitions`` complete partitions before it,
oldest first) in, a list of checks out. Each check records its ``method``, the ``partitions`` it was
compared with and its ``band`` (``datalake.lake.outcome.Check``):

* history-based (``datalake.lake.metrics``: volume, null rates, duplicate rows): with at least
  ``history_min_partitions`` partitions holding the metric, a z-score, ``(x - mean) / max(std, floor)``
  where the floor is the larger of 1% of the mean and one unit (a row, a byte, one row's worth of a null
  rate), warning at ``|z| >= 3`` (Elementary's default); with fewer, the percent band
  (±``max_change_percent``, at least one unit) around the latest of them.
* schema drift of the TMDB bodies (``datalake.lake.schema``), against the latest partition recording it.
* freshness: the age of each source's newest landed object at run time, failing beyond ``max_age_days``.
* uniqueness: a series twice in the ranking fails.
* the ranking against the previous partition's: who entered or left the top N, who moved, and the votes.

A header or column-count change is no check: the CSV contract refuses it before upload.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from datalake import layout
from datalake.csvs.files import CSV_FILES
from datalake.lake import metrics
from datalake.lake.metrics import Document, Metric
from datalake.lake.outcome import FAIL, PASS, WARN, Check, listed
from datalake.lake.schema import schema_checks

Z_THRESHOLD = 3.0
"""A metric whose z-score against its history reaches this warns (Elementary's default)."""

VOTE_AVERAGE_MOVE = 0.3
"""The largest move of a series' TMDB vote average between two partitions that is no warning."""

TMDB_SOURCE = "TMDB"


@dataclass(frozen=True)
class Thresholds:
    """The run parameters the checks take (``datalake.run_params``)."""

    max_change_percent: float = 10
    history_min_partitions: int = 7
    max_age_days: float = 7

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Thresholds:
        return cls(
            float(params["max_change_percent"]),
            int(params["history_min_partitions"]),
            float(params["max_age_days"]),
        )


def _percent_change(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else float("inf")
    return (after - before) / before * 100


def _band(low: float, high: float) -> dict[str, float]:
    return {"low": round(low, 9), "high": round(high, 9)}


def history_check(
    metric: Metric, current: Document, history: Sequence[Document], thresholds: Thresholds
) -> Check | None:
    """``metric`` of ``current`` against the partitions of ``history`` that hold it; None when ``current``
    does not hold it."""
    observed = metric.value(current)
    if observed is None:
        return None
    past = [
        (document["partition"], value)
        for document in history
        if (not metric.same_query_only or metrics.same_query(document, current))
        and (value := metric.value(document)) is not None
    ]
    shown = metric.shown
    if not past:
        return Check(
            metric.name,
            PASS,
            shown(observed),
            f"nothing to compare: none of the {len(history)} earlier partition(s) read records it"
            + (" for the same query" if metric.same_query_only else ""),
            None,
        )
    days = tuple(day for day, _ in past)
    values = [value for _, value in past]
    if len(past) >= thresholds.history_min_partitions:
        mean, std = statistics.fmean(values), statistics.stdev(values)
        floor = metric.floor(mean, current)
        spread = max(std, floor)
        z = (observed - mean) / spread
        low, high = metric.bounded(mean - Z_THRESHOLD * spread, mean + Z_THRESHOLD * spread)
        anomalous = z >= Z_THRESHOLD if metric.rises_only else abs(z) >= Z_THRESHOLD
        spread_said = f"σ {shown(std, True)}"
        if std < floor:
            spread_said += f", below the floor {shown(floor, True)}"
        expected = (
            f"{shown(low)} to {shown(high)}: z-score over {len(past)} partitions, |z| < {Z_THRESHOLD:g} "
            f"(mean {shown(mean)}, {spread_said})"
        )
        if metric.rises_only:
            expected = f"at most {shown(high)}: z-score over {len(past)} partitions, z < {Z_THRESHOLD:g} "
            expected += f"(mean {shown(mean)}, {spread_said})"
        return Check(
            metric.name,
            WARN if anomalous else PASS,
            f"{shown(observed)} (z {z:+.1f})",
            expected,
            days[-1],
            "z-score",
            days,
            _band(low, high),
        )
    previous = values[-1]
    half = max(abs(previous) * thresholds.max_change_percent / 100, metric.unit_size(current))
    low, high = metric.bounded(previous - half, previous + half)
    tolerance = 1e-9 * max(1.0, abs(previous))
    beyond = observed - high if metric.rises_only else max(low - observed, observed - high)
    history_said = f"history of {len(past)} partition{'s' if len(past) > 1 else ''}"
    return Check(
        metric.name,
        WARN if beyond > tolerance else PASS,
        f"{shown(observed)} ({_percent_change(previous, observed):+.1f}%)",
        f"{history_said}, fewer than {thresholds.history_min_partitions}: percent band, {shown(previous)} "
        f"±{thresholds.max_change_percent:g}% ({shown(low)} to {shown(high)})",
        days[-1],
        "percent band",
        days[-1:],
        _band(low, high),
    )


def volume_checks(current: Document, history: Sequence[Document], thresholds: Thresholds) -> list[Check]:
    """Rows and bytes of each CSV, TMDB's discover total and details; a CSV missing from ``current`` fails."""
    found = []
    for metric in metrics.VOLUME:
        check = history_check(metric, current, history, thresholds)
        if check is None and metric.csv_file is not None:
            check = Check(metric.name, FAIL, "not in this partition", "a landed file", None)
        elif check is None:
            check = Check(metric.name, PASS, "not recorded", "a value recorded by the run", None)
        found.append(check)
    return found


def profile_checks(current: Document, history: Sequence[Document], thresholds: Thresholds) -> list[Check]:
    """Each CSV column's null rate and each CSV's duplicate rows against their history; one pass per CSV
    saying "no profile recorded" where the landing recorded none."""
    found = []
    for csv_file in CSV_FILES:
        entry = metrics.csv_entry(current, csv_file)
        if entry is None:
            continue
        if "profile" not in entry:
            found.append(
                Check(
                    f"{csv_file.filename} profile",
                    PASS,
                    "no profile recorded",
                    "the landing's null counts and duplicate rows",
                    None,
                )
            )
            continue
        for metric in (*metrics.completeness(csv_file), metrics.duplicates(csv_file)):
            check = history_check(metric, current, history, thresholds)
            found.append(check or Check(metric.name, PASS, "not recorded", "a value in the profile", None))
    return found


def ranking_uniqueness(current: Document) -> Check:
    """A series ranked twice fails: the ranking takes each id once, so a repeat is a broken manifest."""
    counts = Counter(int(series["id"]) for series in current["ranking"])
    repeated = [f"{series_id} ×{count}" for series_id, count in sorted(counts.items()) if count > 1]
    return Check(
        "TMDB ranking ids unique",
        FAIL if repeated else PASS,
        listed(repeated),
        "each series once in the ranking",
        None,
        "uniqueness",
    )


def _age_days(now: datetime, fetched_at: str) -> float:
    return max((now - datetime.fromisoformat(fetched_at)).total_seconds() / 86_400, 0.0)


def _newest_fetch(document: Document, source: str) -> str | None:
    day = date.fromisoformat(document["partition"])
    if source == TMDB_SOURCE:
        moments = [
            entry["fetched_at"]
            for entry in document["objects"]
            if entry["key"].startswith(layout.tmdb_prefix(day)) and entry.get("fetched_at")
        ]
        return max(moments, key=datetime.fromisoformat, default=None)
    csv_file = next(csv_file for csv_file in CSV_FILES if csv_file.filename == source)
    entry = metrics.csv_entry(document, csv_file)
    return entry.get("fetched_at") if entry else None


def freshness(current: Document, history: Sequence[Document], now: datetime) -> dict[str, dict[str, Any]]:
    """Each source's newest complete partition holding it (``current`` first), when its newest object there
    was fetched (a CSV: last modified) and its age in days at ``now``, as the manifest records it."""
    record = {}
    for source in (*(csv_file.filename for csv_file in CSV_FILES), TMDB_SOURCE):
        for document in (current, *reversed(history)):
            if (fetched_at := _newest_fetch(document, source)) is not None:
                record[source] = {
                    "partition": document["partition"],
                    "fetched_at": fetched_at,
                    "age_days": round(_age_days(now.astimezone(UTC), fetched_at), 3),
                }
                break
    return record


def freshness_checks(
    current: Document, recorded: Mapping[str, Mapping[str, Any]], max_age_days: float
) -> list[Check]:
    """Each source's age (``freshness``'s record) within ``max_age_days``, else a failure."""
    found = []
    for source in (*(csv_file.filename for csv_file in CSV_FILES), TMDB_SOURCE):
        name = f"{source} freshness"
        fresh = recorded.get(source)
        if fresh is None:
            found.append(Check(name, FAIL, "never landed", "a landed object", None, "freshness"))
            continue
        elsewhere = fresh["partition"] if fresh["partition"] != current["partition"] else None
        found.append(
            Check(
                name,
                FAIL if fresh["age_days"] > max_age_days else PASS,
                f"{fresh['age_days']:.1f} days old (fetched {fresh['fetched_at']}"
                + (f", in partition {elsewhere})" if elsewhere else ")"),
                f"at most {max_age_days:g} days old",
                elsewhere,
                "freshness",
                (fresh["partition"],),
                _band(0, max_age_days),
            )
        )
    return found


def _label(series: Mapping[str, Any]) -> str:
    return f"{series['id']} {series.get('name') or '?'}"


def tmdb_checks(current: Document, previous: Document) -> list[Check]:
    """The ranking against the previous partition's: who entered or left the top N, who moved, and the
    votes of the series in both."""
    compared_with = previous["partition"]
    now = {int(series["id"]): series for series in current["ranking"]}
    before = {int(series["id"]): series for series in previous["ranking"]}
    top_n = current["params"].get("top_n", len(now))
    both = [series_id for series_id in now if series_id in before]
    entered = [_label(now[series_id]) for series_id in now if series_id not in before]
    left = [_label(before[series_id]) for series_id in before if series_id not in now]
    moves = [
        f"{_label(now[series_id])} {before[series_id]['rank']}→{now[series_id]['rank']}"
        for series_id in both
        if now[series_id]["rank"] != before[series_id]["rank"]
    ]
    fewer_votes = [
        f"{_label(now[series_id])} {before[series_id]['vote_count']:,}→{now[series_id]['vote_count']:,}"
        for series_id in both
        if None not in (now[series_id].get("vote_count"), before[series_id].get("vote_count"))
        and int(now[series_id]["vote_count"]) < int(before[series_id]["vote_count"])
    ]
    average_moves = []
    for series_id in both:
        after, earlier = now[series_id].get("vote_average"), before[series_id].get("vote_average")
        if None not in (after, earlier) and round(abs(float(after) - float(earlier)), 6) > VOTE_AVERAGE_MOVE:
            average_moves.append(
                f"{_label(now[series_id])} {float(earlier):.3f}→{float(after):.3f} "
                f"({float(after) - float(earlier):+.3f})"
            )

    def check(name: str, found: list[str], level: str, expected: str) -> Check:
        return Check(
            name,
            level if found else PASS,
            listed(found),
            expected,
            compared_with,
            "previous partition",
            (compared_with,),
        )

    return [
        check("TMDB top N entered", entered, WARN, f"the same series as that partition's top {top_n}"),
        check("TMDB top N left", left, WARN, f"the same series as that partition's top {top_n}"),
        check("TMDB rank moves", moves, WARN, "every series at its earlier rank"),
        check("TMDB vote_count down", fewer_votes, FAIL, "no vote count lower than before"),
        check(
            "TMDB vote_average moves", average_moves, WARN, f"each vote average within ±{VOTE_AVERAGE_MOVE}"
        ),
    ]


def data_checks(
    current: Document,
    history: Sequence[Document],
    thresholds: Thresholds,
    recorded_freshness: Mapping[str, Mapping[str, Any]],
) -> list[Check]:
    """Every check of ``current`` against ``history`` (the last complete partitions before it, oldest
    first), with the freshness ``freshness`` recorded for it."""
    unique = ranking_uniqueness(current)
    fresh = freshness_checks(current, recorded_freshness, thresholds.max_age_days)
    if not history:
        first = Check("previous partition", PASS, "first partition", "an earlier complete partition", None)
        return [first, unique, *fresh]
    return [
        *volume_checks(current, history, thresholds),
        *profile_checks(current, history, thresholds),
        unique,
        *schema_checks(current, history),
        *fresh,
        *tmdb_checks(current, history[-1]),
    ]


def strict_failure(checks: Sequence[Check]) -> str | None:
    """Why ``strict_checks`` fails the run, naming each check that did not pass; None if all passed."""
    failed = [check for check in checks if check.level != PASS]
    if not failed:
        return None
    return (
        f"strict_checks: {len(failed)} of {len(checks)} data checks did not pass, so the partition "
        "is not marked complete: " + "; ".join(str(check) for check in failed)
    )


def compared_span(check: Mapping[str, Any]) -> str:
    """The partitions a recorded check was compared with, in a few words (an older check: its one date)."""
    partitions = check.get("partitions")
    if partitions is None:
        return check.get("compared_with") or ""
    if len(partitions) > 1:
        return f"{len(partitions)} partitions, {partitions[0]} to {partitions[-1]}"
    return partitions[0] if partitions else ""


def band_text(check: Mapping[str, Any]) -> str:
    """A recorded check's band as ``low to high`` (rates in %, as its metric shows them); empty if none."""
    band = check.get("band")
    if not band:
        return ""
    rate = check["name"].endswith(" null rate")
    return " to ".join(f"{band[side]:.2%}" if rate else f"{band[side]:,.6g}" for side in ("low", "high"))


def to_html_table(checks: Sequence[Mapping[str, Any]], table_id: str) -> str:
    """The checks as an HTML table (one row each, the level as a class for its colour)."""
    labels = ("Check", "Level", "Observed", "Expected", "Method", "Compared with", "Band")
    head = "".join(f"<th>{label}</th>" for label in labels)

    def cells(check: Mapping[str, Any]) -> tuple[str, ...]:
        return (
            check["name"],
            check["level"],
            check["observed"],
            check["expected"],
            check.get("method") or "",
            compared_span(check),
            band_text(check),
        )

    rows = "\n".join(
        f'<tr class="check-{html.escape(check["level"])}">'
        + "".join(f"<td>{html.escape(str(cell or ''))}</td>" for cell in cells(check))
        + "</tr>"
        for check in checks
    )
    return (
        f'<table id="{table_id}" class="checks">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody>\n</table>"
    )


CHECKS_STYLE = """
table.checks { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1rem; }
table.checks th, table.checks td { border: 1px solid #ddd; padding: 0.2rem 0.4rem; text-align: left; }
table.checks tr.check-warn td { background: #fff4d6; }
table.checks tr.check-fail td { background: #fde0e0; }
"""
"""The checks tables' look, shared by the partition's page and the history page."""

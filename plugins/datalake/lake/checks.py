"""Day-over-day checks: a new partition's manifest against the previous complete partition's.

Pure (no S3): two manifests in, a list of checks out. What they compare is what a manifest
records: each CSV's rows (``records``) and bytes, and the TMDB ranking (id, name, vote average and count
per rank). A header or column-count change is no check: the CSV contract refuses it before upload.

Levels: ``pass``; ``warn`` for a change worth a look (a row count beyond the threshold, a series entering
or leaving the top N, a rank move, a vote average moving by more than ``VOTE_AVERAGE_MOVE``); ``fail`` for
what TMDB never does unless something is wrong (a vote count going down) or a file gone missing. The
checks never stop a run by themselves: ``strict_checks`` turns any that is not ``pass`` into a failed run.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from datalake import layout
from datalake.csvs.files import CSV_FILES, CsvFile

PASS, WARN, FAIL = "pass", "warn", "fail"

VOTE_AVERAGE_MOVE = 0.3
"""The largest move of a series' TMDB vote average between two partitions that is no warning."""


@dataclass(frozen=True)
class Check:
    """One check's outcome, as the manifest records it."""

    name: str
    level: str
    observed: str
    expected: str
    compared_with: str | None
    """The earlier partition's date (ISO), or None when there is none."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.name}: {self.level} (observed {self.observed}; expected {self.expected})"


def _percent_change(before: int, after: int) -> float:
    if before == 0:
        return 0.0 if after == 0 else float("inf")
    return (after - before) / before * 100


def _csv_entry(document: Mapping[str, Any], csv_file: CsvFile) -> Mapping[str, Any] | None:
    key = layout.csv_key(csv_file, date.fromisoformat(document["partition"]))
    return next((entry for entry in document["objects"] if entry["key"] == key), None)


def csv_checks(
    current: Mapping[str, Any], previous: Mapping[str, Any], max_change_percent: float
) -> list[Check]:
    """Rows and bytes of each CSV against the previous partition's, within ±``max_change_percent``."""
    compared_with = previous["partition"]
    checks = []
    for csv_file in CSV_FILES:
        now, before = _csv_entry(current, csv_file), _csv_entry(previous, csv_file)
        for field, unit in (("records", "rows"), ("bytes", "bytes")):
            name = f"{csv_file.filename} {unit}"
            if now is None:
                checks.append(Check(name, FAIL, "not in this partition", "a landed file", compared_with))
                continue
            observed = int(now[field])
            if before is None:
                checks.append(
                    Check(
                        name,
                        PASS,
                        f"{observed:,} {unit}",
                        "nothing to compare: not in that partition",
                        compared_with,
                    )
                )
                continue
            earlier = int(before[field])
            change = _percent_change(earlier, observed)
            low, high = earlier * (1 - max_change_percent / 100), earlier * (1 + max_change_percent / 100)
            checks.append(
                Check(
                    name,
                    WARN if round(abs(change), 6) > max_change_percent else PASS,
                    f"{observed:,} {unit} ({change:+.1f}%)",
                    f"{earlier:,} ±{max_change_percent:g}% ({max(low, 0):,.0f} to {high:,.0f} {unit})",
                    compared_with,
                )
            )
    return checks


def _label(series: Mapping[str, Any]) -> str:
    return f"{series['id']} {series.get('name') or '?'}"


def _listed(parts: Sequence[str]) -> str:
    return f"{len(parts)}: {'; '.join(parts)}" if parts else "none"


def tmdb_checks(current: Mapping[str, Any], previous: Mapping[str, Any]) -> list[Check]:
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
        return Check(name, level if found else PASS, _listed(found), expected, compared_with)

    return [
        check("TMDB top N entered", entered, WARN, f"the same series as that partition's top {top_n}"),
        check("TMDB top N left", left, WARN, f"the same series as that partition's top {top_n}"),
        check("TMDB rank moves", moves, WARN, "every series at its earlier rank"),
        check("TMDB vote_count down", fewer_votes, FAIL, "no vote count lower than before"),
        check(
            "TMDB vote_average moves", average_moves, WARN, f"each vote average within ±{VOTE_AVERAGE_MOVE}"
        ),
    ]


def day_over_day(
    current: Mapping[str, Any], previous: Mapping[str, Any] | None, max_change_percent: float
) -> list[Check]:
    """Every check of ``current`` against ``previous`` (the last complete partition before it, or None)."""
    if previous is None:
        return [Check("previous partition", PASS, "first partition", "an earlier complete partition", None)]
    return [*csv_checks(current, previous, max_change_percent), *tmdb_checks(current, previous)]


def strict_failure(checks: Sequence[Check]) -> str | None:
    """Why ``strict_checks`` fails the run, naming each check that did not pass; None if all passed."""
    failed = [check for check in checks if check.level != PASS]
    if not failed:
        return None
    return (
        f"strict_checks: {len(failed)} of {len(checks)} day-over-day checks did not pass, so the partition "
        "is not marked complete: " + "; ".join(str(check) for check in failed)
    )


def to_html_table(checks: Sequence[Mapping[str, Any]], table_id: str) -> str:
    """The checks as an HTML table (one row each, the level as a class for its colour)."""
    labels = ("Check", "Level", "Observed", "Expected", "Compared with")
    head = "".join(f"<th>{label}</th>" for label in labels)
    rows = "\n".join(
        f'<tr class="check-{html.escape(check["level"])}">'
        + "".join(
            f"<td>{html.escape(str(check[field] or ''))}</td>"
            for field in ("name", "level", "observed", "expected", "compared_with")
        )
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

"""The ranking over time: every reported partition's top series, and the day-over-day checks of each.

Built from what is already refined, never from the raw bodies again: each complete
partition's manifest (its checks) and its report's ``top10.parquet`` (its ranked rows). A complete partition
whose report is not written yet is named on the page and left out of the rows. Both files are rendered in
memory before the first PUT, so a failure while rendering writes nothing, and each run replaces both.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from datalake import layout, settings
from datalake.errors import CorruptRead
from datalake.lake import checks, manifest
from datalake.lake.storage import S3ObjectStore, StoredObject, read_object
from datalake.report import files as report_files

SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "rank": pl.Int32(),
    "tmdb_id": pl.Int64(),
    "name": pl.String(),
    "tmdb_vote_average": pl.Float64(),
    "tmdb_vote_count": pl.Int64(),
    "imdb_rating": pl.Float64(),
    "imdb_votes": pl.Int64(),
}
"""One row per partition and ranked series, as ``history.parquet`` stores it."""


@dataclass(frozen=True)
class History:
    table: pl.DataFrame
    """The rows, by date then rank."""
    checks: Mapping[date, Sequence[Mapping[str, Any]]]
    """Each reported partition's day-over-day checks, as its manifest records them."""
    unreported: tuple[date, ...] = ()
    """Complete partitions without a report yet: not in the rows."""

    @property
    def days(self) -> list[date]:
        return sorted(self.checks)

    @property
    def read_keys(self) -> list[str]:
        """The objects it was built from: each reported partition's manifest and report table."""
        return [
            key
            for day in self.days
            for key in (layout.manifest_key(day, settings.RAW_DAG_ID), layout.report_key(day, "parquet"))
        ]


def history_rows(tables: Mapping[date, pl.DataFrame]) -> pl.DataFrame:
    """The history's rows from each partition's report table (``report.SCHEMA`` columns)."""
    columns = [column for column in SCHEMA if column != "date"]
    frames = [table.select(columns).with_columns(date=pl.lit(day)) for day, table in tables.items()]
    if not frames:
        return pl.DataFrame(schema=SCHEMA)
    return pl.concat(frames).select(list(SCHEMA)).cast(SCHEMA).sort("date", "rank")


def _report_table(client: Any, bucket: str, day: date) -> pl.DataFrame | None:
    try:
        body = read_object(client, bucket, layout.report_key(day, "parquet"))
    except CorruptRead as error:
        raise CorruptRead(
            f"{error}; the report of partition {day} cannot be read "
            f"(if this persists, run {settings.REPORT_DAG_ID} for it again)."
        ) from None
    return None if body is None else pl.read_parquet(io.BytesIO(body))


def read_history(client: Any, bucket: str) -> History:
    """Every complete partition's checks and report rows, from the lake."""
    tables: dict[date, pl.DataFrame] = {}
    partition_checks: dict[date, list[dict[str, Any]]] = {}
    unreported = []
    for day in manifest.complete_partitions(client, bucket, settings.RAW_DAG_ID):
        table = _report_table(client, bucket, day)
        if table is None:
            unreported.append(day)
            continue
        tables[day] = table
        document = manifest.read_manifest(client, bucket, day, settings.RAW_DAG_ID)
        partition_checks[day] = document.get("checks", [])
    return History(history_rows(tables), partition_checks, tuple(unreported))


def _per_series(table: pl.DataFrame, days: list[date], column: str) -> list[tuple[str, list[float]]]:
    """Each series (by TMDB id, named as on its latest date) with its ``column`` per date, NaN (a gap in
    the line) where it is not ranked or has no value."""
    position = {day: index for index, day in enumerate(days)}
    lines = []
    for (_,), rows in table.sort("date").group_by("tmdb_id", maintain_order=True):
        values = [float("nan")] * len(days)
        for day, value in zip(rows["date"], rows[column], strict=True):
            if value is not None:
                values[position[day]] = float(value)
        lines.append((rows["name"][-1] or str(rows["tmdb_id"][0]), values))
    return lines


def _date_axis(axes: Any, days: list[date], right: float = 0.3) -> None:
    """Dates evenly spaced, ``right`` (a fraction of the span) left free after the last."""
    axes.set_xticks(range(len(days)), [day.isoformat() for day in days], rotation=30, ha="right")
    axes.set_xlim(-0.3, len(days) - 1 + 0.3 + right * (len(days) - 1))


def bump_chart(table: pl.DataFrame, days: list[date]) -> bytes:
    """Rank per series across the dates, best on top; a gap where a series was out of the ranking."""
    lines = _per_series(table, days, "rank")
    top = max(int(table["rank"].max() or 1), 1)
    figure = report_files.agg_figure(1.5 + 0.4 * top)
    axes = figure.subplots()
    for index, (name, ranks) in enumerate(lines):
        colour = f"C{index % 10}"
        axes.plot(range(len(days)), ranks, marker="o", color=colour, linewidth=2)
        last = max(position for position, rank in enumerate(ranks) if not math.isnan(rank))
        axes.annotate(
            name[:24],
            (last, ranks[last]),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=colour,
        )
    _date_axis(axes, days, right=0.3)  # room for the names at the lines' ends
    axes.set_ylim(top + 0.5, 0.5)
    axes.set_yticks(range(1, top + 1))
    axes.set_ylabel("rank")
    axes.grid(axis="y", alpha=0.3)
    figure.suptitle("Rank per series (TMDB)")
    return report_files.png_bytes(figure)


def vote_average_chart(table: pl.DataFrame, days: list[date]) -> bytes:
    """TMDB's vote average per series across the dates."""
    figure = report_files.agg_figure(5)
    axes = figure.subplots()
    for index, (name, averages) in enumerate(_per_series(table, days, "tmdb_vote_average")):
        axes.plot(range(len(days)), averages, marker="o", color=f"C{index % 10}", label=name[:30])
    _date_axis(axes, days, right=0)
    axes.set_ylabel("TMDB vote average (out of 10)")
    axes.grid(axis="y", alpha=0.3)
    figure.legend(loc="outside right upper", fontsize=8)
    figure.suptitle("TMDB vote average over time")
    return report_files.png_bytes(figure)


def to_parquet(history: History) -> bytes:
    buffer = io.BytesIO()
    history.table.write_parquet(buffer)
    return buffer.getvalue()


def _figure_html(chart_id: str, caption: str, png: bytes) -> str:
    return (
        f'<figure><img id="{chart_id}" alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def to_html(history: History) -> bytes:
    """One self-contained page: both charts (or why there are none yet) and each partition's checks."""
    days = history.days
    if len(days) >= 2:
        charts = "\n".join(
            (
                _figure_html(
                    "chart-bump", "Rank per series across partitions", bump_chart(history.table, days)
                ),
                _figure_html(
                    "chart-vote-average",
                    "TMDB vote average per series over time",
                    vote_average_chart(history.table, days),
                ),
            )
        )
    elif days:
        charts = (
            f'<p id="history-single">Only one partition so far ({days[0].isoformat()}): the charts need two '
            "to compare.</p>"
        )
    else:
        charts = '<p id="history-single">No partition has a report yet.</p>'
    unreported = (
        f"<p>Complete but not reported yet, so not in the history: "
        f"{html.escape(', '.join(day.isoformat() for day in history.unreported))}.</p>"
        if history.unreported
        else ""
    )
    sections = "\n".join(
        f'<section id="checks-{day.isoformat()}"><h3>{day.isoformat()}</h3>\n'
        + (
            checks.to_html_table(history.checks[day], f"checks-table-{day.isoformat()}")
            if history.checks[day]
            else "<p>No checks recorded for this partition.</p>"
        )
        + "</section>"
        for day in reversed(days)
    )
    span = f"{days[0].isoformat()} to {days[-1].isoformat()}" if days else "no partition"
    title = f"Anime top {history.table['rank'].max() or 0}: history, {span}"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
figure {{ margin: 1.5rem 0; }}
img {{ max-width: 100%; height: auto; }}
{checks.CHECKS_STYLE}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{len(days)} reported partition(s), {history.table.height} rows; read from each complete partition's
manifest under {layout.MANIFEST_ROOT}/ and its report's top10.parquet.</p>
{unreported}
{charts}
<h2>Day-over-day checks per partition</h2>
{sections}
</body>
</html>
"""
    return page.encode()


def write_history(store: S3ObjectStore, history: History) -> list[StoredObject]:
    """Render both files first, then one PUT each (a re-run replaces them)."""
    rendered = {
        "parquet": (report_files.FORMATS["parquet"][0], to_parquet(history)),
        "html": (report_files.FORMATS["html"][0], to_html(history)),
    }
    built_at = layout.utc_timestamp()
    return [
        store.put(
            layout.history_key(extension),
            body,
            source=f"{layout.MANIFEST_ROOT}/ and {layout.REPORT_ROOT}/",
            records=history.table.height,
            fetched_at=built_at,
            content_type=content_type,
        )
        for extension, (content_type, body) in rendered.items()
    ]

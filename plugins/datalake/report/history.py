"""The ranking over time: every reported partition's top series, and the data checks of each.

Built from what is already refined, never from the raw bodies again: each complete
partition's manifest (its checks, and the metrics the checks follow: ``datalake.lake.metrics``) and its
report's ``top10.parquet`` (its ranked rows). A complete partition whose report is not written yet is named
on the page and left out of the rows. The page shows each metric's recent history with the band its
check used, and a chart of each CSV's rows and bytes within their bands. Both files are rendered in memory
before the first PUT, so a failure while rendering writes nothing, and each run replaces both.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from datalake import layout, settings
from datalake.csvs.files import CSV_FILES, CsvFile
from datalake.errors import CorruptRead
from datalake.lake import checks, manifest, metrics
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
    """Each reported partition's data checks, as its manifest records them."""
    unreported: tuple[date, ...] = ()
    """Complete partitions without a report yet: not in the rows."""
    metric_values: Mapping[date, Mapping[str, float]] = field(default_factory=dict)
    """Each reported partition's metrics (``datalake.lake.metrics.values``), by name."""

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
    partition_metrics: dict[date, dict[str, float]] = {}
    unreported = []
    for day in manifest.complete_partitions(client, bucket, settings.RAW_DAG_ID):
        table = _report_table(client, bucket, day)
        if table is None:
            unreported.append(day)
            continue
        tables[day] = table
        document = manifest.read_manifest(client, bucket, day, settings.RAW_DAG_ID)
        partition_checks[day] = document.get("checks", [])
        partition_metrics[day] = metrics.values(document)
    return History(history_rows(tables), partition_checks, tuple(unreported), partition_metrics)


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


RECENT = 14
"""How many of the latest partitions the metric table and the CSV charts show: the default history."""


def _check_named(history: History, day: date, name: str) -> Mapping[str, Any] | None:
    return next((check for check in history.checks.get(day, ()) if check["name"] == name), None)


def csv_chart(history: History, csv_file: CsvFile, days: list[date]) -> bytes:
    """The CSV's rows and bytes per partition, each day's band shaded, a red ring where its check did not
    pass."""
    figure = report_files.agg_figure(2.6)
    panels = figure.subplots(1, 2)
    for axes, unit in zip(panels, ("rows", "bytes"), strict=True):
        name = f"{csv_file.filename} {unit}"
        observed = [history.metric_values.get(day, {}).get(name, math.nan) for day in days]
        recorded = [_check_named(history, day, name) for day in days]
        bands = [check.get("band") if check else None for check in recorded]
        low = [band["low"] if band else math.nan for band in bands]
        high = [band["high"] if band else math.nan for band in bands]
        positions = range(len(days))
        axes.fill_between(positions, low, high, color="#4c72b0", alpha=0.18, step="mid", label="band")
        axes.plot(positions, observed, marker="o", color="#4c72b0", label=unit)
        flagged = [
            (position, value)
            for position, value, check in zip(positions, observed, recorded, strict=True)
            if check and check["level"] != checks.PASS
        ]
        if flagged:
            axes.scatter(
                *zip(*flagged, strict=True), s=120, facecolors="none", edgecolors="#c44e52", zorder=3
            )
        axes.set_xticks(
            list(positions), [day.strftime("%m-%d") for day in days], rotation=45, ha="right", fontsize=7
        )
        axes.set_title(name, fontsize=9)
        axes.grid(axis="y", alpha=0.3)
    figure.suptitle(f"{csv_file.filename}: volume within its bands", fontsize=10)
    return report_files.png_bytes(figure)


def metric_table(history: History, days: list[date]) -> str:
    """Each metric's value per partition (newest last), the cell coloured by its check's level, with the
    newest partition's method and band."""
    newest = days[-1]
    head = "".join(f"<th>{day.strftime('%m-%d')}</th>" for day in days)
    rows = []
    for metric in metrics.METRICS:
        if not any(metric.name in history.metric_values.get(day, {}) for day in days):
            continue
        cells = []
        for day in days:
            value = history.metric_values.get(day, {}).get(metric.name)
            check = _check_named(history, day, metric.name)
            level = f' class="check-{html.escape(check["level"])}"' if check else ""
            cells.append(f"<td{level}>{'' if value is None else html.escape(metric.shown(value))}</td>")
        latest = _check_named(history, newest, metric.name) or {}
        rows.append(
            f"<tr><th>{html.escape(metric.name)}</th>{''.join(cells)}"
            f"<td>{html.escape(latest.get('method') or '')}</td>"
            f"<td>{html.escape(checks.band_text(latest))}</td></tr>"
        )
    return (
        f'<table id="metric-history" class="metrics">\n<thead><tr><th>Metric</th>{head}'
        f"<th>Method ({newest.isoformat()})</th><th>Band ({newest.isoformat()})</th></tr></thead>\n"
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>"
    )


METRICS_STYLE = """
table.metrics { border-collapse: collapse; font-size: 0.75rem; margin: 0.5rem 0 1rem; }
table.metrics th, table.metrics td { border: 1px solid #ddd; padding: 0.15rem 0.35rem; text-align: right; }
table.metrics th:first-child { text-align: left; }
table.metrics td.check-warn { background: #fff4d6; }
table.metrics td.check-fail { background: #fde0e0; }
"""


def metrics_section(history: History) -> str:
    """The metrics of the latest partitions: a chart per CSV (with two partitions or more) and the table;
    empty when no manifest records a metric (older runs)."""
    days = [day for day in history.days if history.metric_values.get(day)][-RECENT:]
    if not days:
        return ""
    charts = (
        "\n".join(
            _figure_html(
                f"chart-{csv_file.name.lower()}",
                f"{csv_file.filename}: rows and bytes per partition, within each day's band",
                csv_chart(history, csv_file, days),
            )
            for csv_file in CSV_FILES
        )
        if len(days) >= 2
        else ""
    )
    return (
        f'<section id="metrics"><h2>Metrics of the last {len(days)} partition(s) and their bands</h2>\n'
        f"{charts}\n{metric_table(history, days)}</section>"
    )


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
    """One self-contained page: both charts (or why there are none yet), the metrics' recent history and
    each partition's checks."""
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
{checks.CHECKS_STYLE}{METRICS_STYLE}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{len(days)} reported partition(s), {history.table.height} rows; read from each complete partition's
manifest under {layout.MANIFEST_ROOT}/ and its report's top10.parquet.</p>
{unreported}
{charts}
{metrics_section(history)}
<h2>Data checks per partition</h2>
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

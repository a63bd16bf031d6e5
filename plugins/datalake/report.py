"""The question the lake exists for: how do the top-ranked anime series compare, on TMDB and on IMDb?

Pure (no Airflow), so it runs in a task, a test or a notebook alike: it reads one partition's raw
objects (the manifest's ranking, the ``tv_{id}.json`` bodies, ``series.csv``) through any boto3 S3
client, joins them with polars, and renders the table as Parquet, CSV, Markdown and one
self-contained HTML page with two matplotlib charts, the partition's day-over-day checks and a link to
the history (``datalake.history``). Every format is built in memory before the
first PUT, so a failure while rendering writes nothing, and a re-run replaces all four.
"""

from __future__ import annotations

import base64
import html
import io
import json
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from datalake import checks, layout, settings
from datalake.csv_files import DELIMITER, NULL_MARKER, SERIES

# PartitionChanged and PartitionIncomplete: what read_partition raises, named here for the report's callers.
from datalake.manifest import PartitionChanged, PartitionIncomplete, read_listed, read_manifest  # noqa: F401
from datalake.storage import S3ObjectStore, StoredObject

SCHEMA: dict[str, pl.DataType] = {
    "rank": pl.Int32(),
    "tmdb_id": pl.Int64(),
    "imdb_id": pl.String(),
    "name": pl.String(),
    "original_name": pl.String(),
    "tmdb_vote_average": pl.Float64(),
    "tmdb_vote_count": pl.Int64(),
    "imdb_rating": pl.Float64(),
    "imdb_votes": pl.Int64(),
    "imdb_matched": pl.Boolean(),
    "first_air_year": pl.Int32(),
    "last_air_year": pl.Int32(),
    "status": pl.String(),
    "seasons": pl.Int32(),
    "episodes": pl.Int32(),
    "episode_run_time_min": pl.Int32(),
    "total_runtime_hours": pl.Float64(),
    "genres": pl.String(),
    "networks": pl.String(),
    "production_companies": pl.String(),
}
"""The comparison table's columns and types, as the Parquet stores them."""

_TMDB_SCHEMA: dict[str, pl.DataType] = {
    **{column: SCHEMA[column] for column in (
        "rank", "tmdb_id", "imdb_id", "name", "original_name", "tmdb_vote_average", "tmdb_vote_count",
        "status", "seasons", "episodes",
    )},
    "first_air_date": pl.String(),
    "last_air_date": pl.String(),
    "episode_run_time": pl.List(pl.Int32()),
    **{column: pl.List(pl.String()) for column in ("genres", "networks", "production_companies")},
}
"""What the report takes from a ``/tv/{id}`` body, before the join derives years, run time and joined
lists."""

_IMDB_TYPES: dict[str, pl.DataType] = {
    "anoLancamento": pl.Int32(),
    "anoTermino": pl.Int32(),
    "tempoMinutos": pl.Int32(),
    "notaMedia": pl.Float64(),
    "numeroVotos": pl.Int64(),
}
"""The IMDb columns the report uses, typed; ``series.csv`` holds every field as text."""


@dataclass(frozen=True)
class RawPartition:
    """What the raw zone holds for one date, as the report needs it."""

    day: date
    manifest: Mapping[str, Any]
    details: list[Mapping[str, Any]]
    """The ``/tv/{id}`` bodies, in ranking order."""
    series_csv: bytes

    @property
    def read_keys(self) -> list[str]:
        """The raw keys the report is built from (the manifest aside)."""
        ids = [entry["id"] for entry in self.manifest["ranking"]]
        return [layout.details_key(self.day, series_id) for series_id in ids] + [
            layout.csv_key(SERIES, self.day)
        ]


@dataclass(frozen=True)
class Report:
    """The comparison table and where it came from."""

    table: pl.DataFrame
    day: date
    run_id: str
    params: Mapping[str, Any]
    fetched_at: tuple[str, str] | None
    """Earliest and latest ``fetched_at`` of the raw objects read, from the manifest."""
    checks: tuple[Mapping[str, Any], ...] = ()
    """The partition's day-over-day checks, as its manifest records them."""

    @property
    def unmatched(self) -> list[str]:
        """Names of the series with no IMDb title: their rows stay, with empty IMDb fields."""
        return self.table.filter(~pl.col("imdb_matched"))["name"].to_list()

    @property
    def title(self) -> str:
        return f"Anime top {self.table.height}: TMDB and IMDb, {self.day.isoformat()}"

    @property
    def provenance(self) -> str:
        fetched = (
            f"fetched {self.fetched_at[0]} to {self.fetched_at[1]}" if self.fetched_at else "nothing fetched"
        )
        ranked_by = ", ".join(f"{name}={value}" for name, value in sorted(self.params.items()))
        return (
            f"Partition {self.day.isoformat()}, raw run {self.run_id} ({ranked_by}); sources {fetched}; "
            f"read from {layout.manifest_key(self.day, settings.RAW_DAG_ID)} and the objects it lists."
        )

    @property
    def match_summary(self) -> str:
        matched = self.table.height - len(self.unmatched)
        missing = f" No IMDb title for: {', '.join(self.unmatched)}." if self.unmatched else ""
        return f"IMDb match: {matched} of {self.table.height} series.{missing}"


def read_partition(client: Any, bucket: str, day: date) -> RawPartition:
    """The partition's manifest, the details of its ranking and ``series.csv``, from the lake.

    Only a complete partition is read, and only as its manifest records it: a missing manifest, or an
    object that differs from its entry (a later run that failed half-way overwrote it), is refused.
    """
    document = read_manifest(client, bucket, day, settings.RAW_DAG_ID)
    details = [
        json.loads(read_listed(client, bucket, document, layout.details_key(day, entry["id"])))
        for entry in document["ranking"]
    ]
    series_csv = read_listed(client, bucket, document, layout.csv_key(SERIES, day))
    return RawPartition(day, document, details, series_csv)


def imdb_titles(series_csv: bytes) -> pl.DataFrame:
    """One row per IMDb title id: the file repeats each title once per artist, with the same title fields."""
    frame = pl.read_csv(
        series_csv,
        separator=DELIMITER,
        null_values=NULL_MARKER,
        quote_char=None,
        infer_schema=False,
    )
    if tuple(frame.columns) != SERIES.columns:
        found = DELIMITER.join(frame.columns)
        raise ValueError(f"{SERIES.filename}: expected the columns {SERIES.header}, found {found}")
    return frame.select("id", *_IMDB_TYPES).unique(subset="id", keep="first", maintain_order=True)


def _names(items: Sequence[Mapping[str, Any]] | None) -> list[str]:
    return [item["name"] for item in items or []]


def tmdb_series(ranking: Sequence[Mapping[str, Any]], details: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """The fields the report compares, one row per ranked series, from TMDB's raw ``/tv/{id}`` bodies."""
    rows = [
        {
            "rank": entry["rank"],
            "tmdb_id": body["id"],
            "imdb_id": (body.get("external_ids") or {}).get("imdb_id") or None,
            "name": body.get("name"),
            "original_name": body.get("original_name"),
            "tmdb_vote_average": body.get("vote_average"),
            "tmdb_vote_count": body.get("vote_count"),
            "first_air_date": body.get("first_air_date") or None,
            "last_air_date": body.get("last_air_date") or None,
            "status": body.get("status"),
            "seasons": body.get("number_of_seasons"),
            "episodes": body.get("number_of_episodes"),
            "episode_run_time": body.get("episode_run_time") or [],
            "genres": _names(body.get("genres")),
            "networks": _names(body.get("networks")),
            "production_companies": _names(body.get("production_companies")),
        }
        for entry, body in zip(ranking, details, strict=True)
    ]
    return pl.DataFrame(rows, schema=_TMDB_SCHEMA)


def comparison(tmdb: pl.DataFrame, imdb: pl.DataFrame) -> pl.DataFrame:
    """The comparison table: every ranked series, joined on its IMDb id where ``series.csv`` has it.

    Years come from TMDB's air dates, else IMDb's ``anoLancamento``/``anoTermino``; the episode run
    time is TMDB's (the mean of its list), else IMDb's ``tempoMinutos``.
    """
    imdb = imdb.filter(pl.col("id").is_in(tmdb["imdb_id"].drop_nulls().implode())).with_columns(
        *(pl.col(column).cast(dtype) for column, dtype in _IMDB_TYPES.items()),
        _matched=pl.lit(True),
    )
    joined = tmdb.join(
        imdb, left_on="imdb_id", right_on="id", how="left", validate="m:1", maintain_order="left"
    )
    run_time = pl.coalesce(pl.col("episode_run_time").list.mean().round(0).cast(pl.Int32), "tempoMinutos")

    def year(column: str) -> pl.Expr:
        return pl.col(column).str.to_date("%Y-%m-%d").dt.year()

    return (
        joined.select(
            "rank",
            "tmdb_id",
            "imdb_id",
            "name",
            "original_name",
            "tmdb_vote_average",
            "tmdb_vote_count",
            pl.col("notaMedia").alias("imdb_rating"),
            pl.col("numeroVotos").alias("imdb_votes"),
            pl.col("_matched").fill_null(False).alias("imdb_matched"),
            pl.coalesce(year("first_air_date"), "anoLancamento").alias("first_air_year"),
            pl.coalesce(year("last_air_date"), "anoTermino").alias("last_air_year"),
            "status",
            "seasons",
            "episodes",
            run_time.alias("episode_run_time_min"),
            (pl.col("episodes") * run_time / 60).round(1).alias("total_runtime_hours"),
            *(pl.col(column).list.join(", ") for column in ("genres", "networks", "production_companies")),
        )
        .cast(SCHEMA)
        .sort("rank")
    )


def comparison_report(raw: RawPartition) -> Report:
    """The table of the partition's ranking, with the run and fetch times the page cites as its source."""
    ranking = raw.manifest["ranking"]
    table = comparison(tmdb_series(ranking, raw.details), imdb_titles(raw.series_csv))
    read = set(raw.read_keys)
    moments = sorted(entry["fetched_at"] for entry in raw.manifest["objects"] if entry["key"] in read)
    return Report(
        table=table,
        day=raw.day,
        run_id=raw.manifest["run_id"],
        params=raw.manifest["params"],
        fetched_at=(moments[0], moments[-1]) if moments else None,
        checks=tuple(raw.manifest.get("checks", ())),
    )


def _cell(spec: str = "") -> Callable[[Any], str]:
    return lambda value: "" if value is None else format(value, spec)


_DISPLAY: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("rank", "Rank", _cell("d")),
    ("name", "Name", _cell()),
    ("original_name", "Original name", _cell()),
    ("tmdb_vote_average", "TMDB rating", _cell(".3f")),
    ("tmdb_vote_count", "TMDB votes", _cell(",d")),
    ("imdb_rating", "IMDb rating", _cell(".1f")),
    ("imdb_votes", "IMDb votes", _cell(",d")),
    ("first_air_year", "First aired", _cell("d")),
    ("last_air_year", "Last aired", _cell("d")),
    ("status", "Status", _cell()),
    ("seasons", "Seasons", _cell("d")),
    ("episodes", "Episodes", _cell("d")),
    ("episode_run_time_min", "Episode (min)", _cell("d")),
    ("total_runtime_hours", "Total (h)", _cell(".1f")),
    ("genres", "Genres", _cell()),
    ("networks", "Networks", _cell()),
    ("production_companies", "Production companies", _cell()),
)
"""What a reader sees of the table, in order: label and formatting per column (empty for a null)."""

LOCALIZED = frozenset({"name", "genres"})
"""The columns TMDB translates into the run's ``language``; the rest of the page is in English."""


def _run_language(report: Report) -> str | None:
    """The language TMDB answered in (the run's ``language`` param), if the manifest records it."""
    return report.params.get("language")


def display_rows(table: pl.DataFrame, language: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Header labels and cells of the Markdown table and the page; the name's label names its language."""
    labels = [
        f"{label} ({language})" if column == "name" and language else label for column, label, _ in _DISPLAY
    ]
    rows = [[show(row[column]) for column, _, show in _DISPLAY] for row in table.iter_rows(named=True)]
    return labels, rows


def to_parquet(report: Report) -> bytes:
    buffer = io.BytesIO()
    report.table.write_parquet(buffer)
    return buffer.getvalue()


def to_csv(report: Report) -> bytes:
    return report.table.write_csv().encode()


def to_markdown(report: Report) -> bytes:
    labels, rows = display_rows(report.table, _run_language(report))

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    table = [line(labels), "|" + "|".join("---" for _ in labels) + "|", *(line(row) for row in rows)]
    text = [f"# {report.title}", "", report.provenance, "", report.match_summary, "", *table, ""]
    return "\n".join(text).encode()


def agg_figure(height: float) -> Any:
    """A matplotlib figure on the Agg canvas, without pyplot's global state; imported here to keep DAG
    parsing fast."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _series_axis(axes: Any, table: pl.DataFrame) -> list[int]:
    """One row per series on the y axis, best-ranked on top; returns the rows' positions."""
    positions = list(range(table.height))
    axes.set_yticks(
        positions, [f"{rank}. {name}" for rank, name in zip(table["rank"], table["name"], strict=True)]
    )
    axes.set_ylim(max(table.height, 1) - 0.5, -0.5)
    return positions


def _present(positions: list[int], values: pl.Series) -> tuple[list[int], list[Any]]:
    """The positions and values of the rows that have a value."""
    pairs = [
        (position, value) for position, value in zip(positions, values, strict=True) if value is not None
    ]
    return [position for position, _ in pairs], [value for _, value in pairs]


def episodes_chart(table: pl.DataFrame) -> bytes:
    """Episodes and seasons per series, side by side, best-ranked on top."""
    figure = agg_figure(1.2 + 0.45 * max(table.height, 1))
    episodes, seasons = figure.subplots(1, 2, sharey=True, width_ratios=(3, 1))
    positions = _series_axis(episodes, table)
    for axes, column, title, colour in (
        (episodes, "episodes", "Episodes", "#4c72b0"),
        (seasons, "seasons", "Seasons", "#dd8452"),
    ):
        bars = axes.barh(*_present(positions, table[column]), color=colour)
        axes.bar_label(bars, padding=3)
        axes.set_title(title)
        axes.margins(x=0.15)
    figure.suptitle("Episodes and seasons per series (TMDB)")
    return png_bytes(figure)


def ratings_chart(table: pl.DataFrame) -> bytes:
    """TMDB's vote average against IMDb's rating per series, on one 0-10 scale; no dot for a missing
    rating."""
    figure = agg_figure(1.2 + 0.45 * max(table.height, 1))
    axes = figure.subplots()
    positions = _series_axis(axes, table)
    for position, tmdb, imdb in zip(positions, table["tmdb_vote_average"], table["imdb_rating"], strict=True):
        if tmdb is not None and imdb is not None:
            axes.plot([tmdb, imdb], [position, position], color="#bbbbbb", zorder=1)
    tmdb_rows, tmdb_ratings = _present(positions, table["tmdb_vote_average"])
    axes.scatter(tmdb_ratings, tmdb_rows, label="TMDB vote average", color="#01b4e4", zorder=2)
    imdb_rows, imdb_ratings = _present(positions, table["imdb_rating"])
    axes.scatter(imdb_ratings, imdb_rows, label="IMDb rating", color="#f5c518", marker="D", zorder=2)
    axes.set_xlabel("rating (out of 10)")
    figure.legend(loc="outside lower center", ncols=2)
    axes.grid(axis="x", alpha=0.3)
    figure.suptitle("TMDB against IMDb rating")
    return png_bytes(figure)


_STYLE = """
:root { --rank-width: 3rem; --name-width: 10rem; }
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.6rem; }
.provenance { color: #555; font-size: 0.85rem; overflow-wrap: anywhere; }
.table-scroll {
  overflow-x: auto; border: 1px solid #ccc;
  scroll-padding-left: calc(var(--rank-width) + var(--name-width));
}
table { border-collapse: separate; border-spacing: 0; font-size: 0.8rem; line-height: 1.3; }
th, td {
  border-right: 1px solid #ddd; border-bottom: 1px solid #ddd; padding: 0.25rem 0.4rem;
  text-align: left; vertical-align: top; background: #fff;
}
th { background: #f0f0f0; font-weight: 600; min-width: 3.5rem; }
tbody tr:nth-child(even) td { background: #f8f8f8; }
td.number { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.list { min-width: 9rem; }
th.rank, td.rank, th.name, td.name { position: sticky; z-index: 1; box-sizing: border-box; }
th.rank, td.rank {
  left: 0; width: var(--rank-width); min-width: var(--rank-width); max-width: var(--rank-width);
}
th.name, td.name {
  left: var(--rank-width); width: var(--name-width); min-width: var(--name-width);
  max-width: var(--name-width); border-right: 2px solid #999;
}
figure { margin: 1.5rem 0; }
img { max-width: 100%; height: auto; }
@page { size: landscape; margin: 10mm; }
@media print {
  body { margin: 0; font-size: 9pt; }
  h1 { font-size: 14pt; margin: 0 0 4pt; }
  .table-scroll { overflow: visible; border: 0; }
  table { width: 100%; font-size: 6pt; border-top: 1px solid #999; border-left: 1px solid #999; }
  th, td { padding: 1pt 1.5pt; overflow-wrap: break-word; border-color: #999; }
  th, td.list { min-width: 0; }
  th.rank, td.rank, th.name, td.name { position: static; width: auto; min-width: 0; max-width: none; }
  thead { display: table-header-group; }
  tr, figure { break-inside: avoid; }
  figure { margin: 8pt 0; }
  img { max-height: 150mm; width: auto; }
}
@media print and (min-width: 240mm) {
  table { font-size: 7.5pt; }
}
"""
"""Compact and wrapping, the table scrolls sideways in its own box with rank and name held in view; printed,
it fits the page instead, and no row or chart is split across pages."""

_CELL_CLASSES = {
    "rank": "rank number",
    "name": "name",
    "genres": "list",
    "networks": "list",
    "production_companies": "list",
}
"""What a column's cells need beyond their type: the two held in view; lists wide enough to wrap briefly."""


def _class_attribute(table: pl.DataFrame, column: str) -> str:
    classes = _CELL_CLASSES.get(column) or ("number" if table.schema[column].is_numeric() else "")
    return f' class="{classes}"' if classes else ""


def to_html(report: Report) -> bytes:
    """One page that needs nothing else: the table, both charts as base64 PNG, and where the data came from.

    The page's own text is English; the cells TMDB translated carry the run's language, so that browsers
    pick fitting fonts and screen readers the right voice.
    """
    language = _run_language(report)
    labels, rows = display_rows(report.table, language)
    classes = [_class_attribute(report.table, column) for column, _, _ in _DISPLAY]
    lang = f' lang="{html.escape(language)}"' if language else ""
    cell_attributes = [
        attribute + (lang if column in LOCALIZED else "")
        for (column, _, _), attribute in zip(_DISPLAY, classes, strict=True)
    ]
    head = "".join(
        f"<th{attribute}>{html.escape(label)}</th>" for label, attribute in zip(labels, classes, strict=True)
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            f"<td{attribute}>{html.escape(cell)}</td>"
            for cell, attribute in zip(row, cell_attributes, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    charts = (
        ("chart-episodes", "Episodes and seasons per series", episodes_chart(report.table)),
        ("chart-ratings", "TMDB vote average against IMDb rating per series", ratings_chart(report.table)),
    )
    figures = "\n".join(
        f'<figure><img id="{chart_id}" alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        for chart_id, caption, png in charts
    )
    title = html.escape(report.title)
    history_link = posixpath.relpath(layout.history_key("html"), layout.report_prefix(report.day))
    recorded = (
        checks.to_html_table(report.checks, "checks") if report.checks else "<p>No checks recorded.</p>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{_STYLE}{checks.CHECKS_STYLE}</style>
</head>
<body>
<h1>{title}</h1>
<p class="provenance">{html.escape(report.provenance)}</p>
<p>{html.escape(report.match_summary)}</p>
<div class="table-scroll" role="region" aria-label="The comparison table, scrolls sideways" tabindex="0">
<table id="top10">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</div>
{figures}
<h2>Day-over-day checks</h2>
{recorded}
<p><a id="history-link" href="{history_link}">The ranking across every partition</a></p>
</body>
</html>
"""
    return page.encode()


FORMATS: dict[str, tuple[str, Callable[[Report], bytes]]] = {
    "parquet": ("application/vnd.apache.parquet", to_parquet),
    "csv": ("text/csv; charset=utf-8", to_csv),
    "md": ("text/markdown; charset=utf-8", to_markdown),
    "html": ("text/html; charset=utf-8", to_html),
}
"""Each format's extension (its key under ``layout.report_prefix``), content type and renderer."""


def write_report(store: S3ObjectStore, report: Report) -> list[StoredObject]:
    """Render every format first, then one PUT each under the partition's report prefix (a re-run replaces
    them)."""
    rendered = {
        extension: (content_type, render(report)) for extension, (content_type, render) in FORMATS.items()
    }
    built_at = layout.utc_timestamp()
    source = layout.manifest_key(report.day, settings.RAW_DAG_ID)
    return [
        store.put(
            layout.report_key(report.day, extension),
            body,
            source=source,
            records=report.table.height,
            fetched_at=built_at,
            content_type=content_type,
        )
        for extension, (content_type, body) in rendered.items()
    ]

"""The report's four files: Parquet, CSV, Markdown and one self-contained HTML page with two matplotlib
charts, the partition's data checks (with each one's method and band), each source's freshness and a link
to the history, where each metric's recent history is.

Every format is built in memory before the first PUT, so a failure while rendering
writes nothing, and a re-run replaces all four.
"""

from __future__ import annotations

import base64
import html
import io
import posixpath
from collections.abc import Callable
from typing import Any

import polars as pl

from datalake import layout, settings
from datalake.lake import checks
from datalake.lake.storage import S3ObjectStore, StoredObject
from datalake.report.comparison import DISPLAY, Report, display_rows

LOCALIZED = frozenset({"name", "genres"})
"""The columns TMDB translates into the run's ``language``; the rest of the page is in English."""


def _run_language(report: Report) -> str | None:
    """The language TMDB answered in (the run's ``language`` param), if the manifest records it."""
    return report.params.get("language")


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


def freshness_html(report: Report) -> str:
    """Each source's age at the run, as its manifest records it; a note for an older manifest."""
    if not report.freshness:
        return '<p id="freshness">No freshness recorded for this partition.</p>'
    items = "".join(
        f"<li>{html.escape(source)}: {fresh['age_days']:.1f} days old (fetched "
        f"{html.escape(fresh['fetched_at'])}, partition {html.escape(fresh['partition'])})</li>"
        for source, fresh in report.freshness.items()
    )
    return f'<ul id="freshness">{items}</ul>'


def to_html(report: Report) -> bytes:
    """One page that needs nothing else: the table, both charts as base64 PNG, and where the data came from.

    The page's own text is English; the cells TMDB translated carry the run's language, so that browsers
    pick fitting fonts and screen readers the right voice.
    """
    language = _run_language(report)
    labels, rows = display_rows(report.table, language)
    classes = [_class_attribute(report.table, column) for column, _, _ in DISPLAY]
    lang = f' lang="{html.escape(language)}"' if language else ""
    cell_attributes = [
        attribute + (lang if column in LOCALIZED else "")
        for (column, _, _), attribute in zip(DISPLAY, classes, strict=True)
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
<h2>Freshness at the run</h2>
{freshness_html(report)}
<h2>Data checks</h2>
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

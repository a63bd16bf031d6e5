"""The question the lake exists for: how do the top-ranked anime series compare, on TMDB and on IMDb?

It runs in a task, a test or a notebook alike: it reads one partition's raw
objects (the manifest's ranking, the ``tv_{id}.json`` bodies, ``series.csv``) through any boto3 S3
client, joins them with polars, and renders the table as Parquet, CSV, Markdown and one
self-contained HTML page with two matplotlib charts, the partition's data checks and freshness and a link
to the history (``datalake.report.history``): the files are ``datalake.report.files``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from datalake import layout, settings
from datalake.csvs.files import DELIMITER, NULL_MARKER, SERIES
from datalake.errors import InvalidInput
from datalake.lake.manifest import read_listed, read_manifest

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
    **{
        column: SCHEMA[column]
        for column in (
            "rank",
            "tmdb_id",
            "imdb_id",
            "name",
            "original_name",
            "tmdb_vote_average",
            "tmdb_vote_count",
            "status",
            "seasons",
            "episodes",
        )
    },
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
    """The partition's data checks, as its manifest records them."""
    freshness: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Each source's age at the run, as the manifest records it (``datalake.lake.checks.freshness``)."""

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
        raise InvalidInput(f"{SERIES.filename}: expected the columns {SERIES.header}, found {found}")
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
        freshness=raw.manifest.get("freshness", {}),
    )


def _cell(spec: str = "") -> Callable[[Any], str]:
    return lambda value: "" if value is None else format(value, spec)


DISPLAY: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
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


def display_rows(table: pl.DataFrame, language: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Header labels and cells of the Markdown table and the page; the name's label names its language."""
    labels = [
        f"{label} ({language})" if column == "name" and language else label for column, label, _ in DISPLAY
    ]
    rows = [[show(row[column]) for column, _, show in DISPLAY] for row in table.iter_rows(named=True)]
    return labels, rows

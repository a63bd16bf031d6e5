"""The comparison table: the join of TMDB details with the IMDb series file, and its four renderings."""

from __future__ import annotations

import base64
import io
import re

import polars as pl
import pytest

from datalake import layout, settings
from datalake.errors import InvalidInput
from datalake.report import comparison
from datalake.report import files as report_files
from tests.report_samples import BODIES, DAY, MANIFEST, RUN_ID, SERIES_CSV


@pytest.fixture(scope="module")
def built() -> comparison.Report:
    return comparison.comparison_report(comparison.RawPartition(DAY, MANIFEST, BODIES, SERIES_CSV))


def rows(built: comparison.Report) -> dict[int, dict]:
    return {row["tmdb_id"]: row for row in built.table.iter_rows(named=True)}


def test_every_ranked_series_has_one_row_in_rank_order(built):
    assert built.table["tmdb_id"].to_list() == [10, 20, 30, 40]
    assert built.table["rank"].to_list() == [1, 2, 3, 4]


def test_a_title_repeated_per_artist_joins_once_with_its_imdb_rating(built):
    first = rows(built)[10]
    assert (first["imdb_id"], first["imdb_rating"], first["imdb_votes"], first["imdb_matched"]) == (
        "tt0000001",
        9.1,
        1000,
        True,
    )
    assert (first["tmdb_vote_average"], first["tmdb_vote_count"]) == (8.9, 652)
    assert comparison.imdb_titles(SERIES_CSV)["id"].to_list() == ["tt0000001", "tt0000002", "tt0000009"]


def test_a_series_without_imdb_match_keeps_its_row_with_empty_imdb_fields_and_is_counted(built):
    for series_id in (20, 40):
        row = rows(built)[series_id]
        assert row["imdb_rating"] is None and row["imdb_votes"] is None and row["imdb_matched"] is False
        assert row["name"] == f"Série {series_id}" and row["seasons"] == 2
    assert built.unmatched == ["Série 20", "Série 40"]
    assert built.match_summary == "IMDb match: 2 of 4 series. No IMDb title for: Série 20, Série 40."


def test_tmdb_fields_are_taken_and_lists_joined(built):
    row = rows(built)[10]
    assert (row["first_air_year"], row["last_air_year"], row["status"]) == (2021, 2023, "Ended")
    assert (row["seasons"], row["episodes"]) == (2, 24)
    assert (row["episode_run_time_min"], row["total_runtime_hours"]) == (24, 9.6)
    assert (row["genres"], row["networks"], row["production_companies"]) == (
        "Animação, Drama",
        "Fuji TV, MBS",
        "MAPPA",
    )
    assert row["original_name"] == "シリーズ10"
    assert (rows(built)[40]["genres"], rows(built)[40]["networks"]) == ("", "")


def test_imdb_years_and_minutes_stand_in_when_tmdb_has_none(built):
    row = rows(built)[30]
    assert (row["first_air_year"], row["last_air_year"]) == (1999, 2005)
    assert (row["episode_run_time_min"], row["total_runtime_hours"]) == (23, round(100 * 23 / 60, 1))


def test_the_provenance_names_partition_run_and_the_fetch_times_of_what_was_read(built):
    assert built.fetched_at == ("2026-11-27T08:00:00.000+00:00", "2026-11-27T09:00:03.000+00:00")
    assert "Partition 2026-11-27" in built.provenance and RUN_ID in built.provenance
    assert layout.manifest_key(DAY, settings.RAW_DAG_ID) in built.provenance


def test_the_parquet_keeps_the_column_types(built):
    table = pl.read_parquet(io.BytesIO(report_files.to_parquet(built)))
    assert table.schema == pl.Schema(comparison.SCHEMA)
    assert table.schema["imdb_votes"] == pl.Int64 and table.schema["tmdb_vote_average"] == pl.Float64
    assert table.schema["first_air_year"] == pl.Int32 and table.schema["imdb_matched"] == pl.Boolean
    assert table.equals(built.table)
    assert table.filter(pl.col("tmdb_id") == 20)["imdb_rating"].to_list() == [None]


def test_the_csv_has_a_header_and_one_line_per_series(built):
    table = pl.read_csv(report_files.to_csv(built))
    assert table.columns == list(comparison.SCHEMA) and table.height == 4
    assert table["name"].to_list() == ["Série 10", "Série 20", "Série 30", "Série 40"]


def test_the_markdown_table_has_a_row_per_series_and_escapes_pipes(built):
    networks = built.table.with_columns(pl.lit("A|B").alias("networks"))
    piped = comparison.Report(networks, DAY, RUN_ID, {}, None)
    lines = report_files.to_markdown(piped).decode().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 4
    assert table[0].startswith("| Rank | Name | Original name | TMDB rating | TMDB votes | IMDb rating |")
    assert "A\\|B" in table[2]
    assert "| 1 | Série 10 | シリーズ10 | 8.900 | 652 | 9.1 | 1,000 |" in table[2]


def test_the_html_page_is_self_contained_with_the_table_and_two_png_charts(built):
    page = report_files.to_html(built).decode()
    assert page.count("<tr>") == 1 + 4
    images = re.findall(r'<img id="([\w-]+)"[^>]* src="data:image/png;base64,([^"]+)"', page)
    assert [chart_id for chart_id, _ in images] == ["chart-episodes", "chart-ratings"]
    for _, encoded in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")
    assert re.findall(r'(?:src|href)="(?!data:)([^"]+)', page) == ["../../../history.html"], (
        "nothing outside the page is referenced but a link to the history"
    )
    assert "Partition 2026-11-27" in page and RUN_ID in page and "2026-11-27T09:00:03.000+00:00" in page
    assert "IMDb match: 2 of 4 series." in page


def in_language(built: comparison.Report, language: str) -> comparison.Report:
    chosen = {**built.params, "language": language}
    return comparison.Report(built.table, DAY, RUN_ID, chosen, built.fetched_at)


def test_the_name_column_is_labelled_with_the_language_tmdb_answered_in(built):
    markdown = report_files.to_markdown(in_language(built, "ja")).decode()
    assert "| Rank | Name (ja) | Original name |" in markdown
    assert '<th class="name">Name (ja)</th>' in report_files.to_html(in_language(built, "ja")).decode()


def test_the_page_is_in_english_and_the_cells_tmdb_translated_in_the_runs_language(built):
    page = report_files.to_html(in_language(built, "ja")).decode()
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert '<td class="name" lang="ja">Série 10</td>' in page
    assert '<td class="list" lang="ja">Animação, Drama</td>' in page
    assert '<td class="list">Fuji TV, MBS</td>' in page, "network names are not translated"
    assert page.count(' lang="ja"') == 2 * 4


def test_a_manifest_without_language_leaves_the_tmdb_cells_untagged(built):
    page = report_files.to_html(built).decode()
    assert '<html lang="en">' in page and '<th class="name">Name</th>' in page
    assert page.count(" lang=") == 1


def test_the_table_scrolls_in_its_own_labelled_box_with_rank_and_name_marked_to_stay_in_view(built):
    page = report_files.to_html(built).decode()
    scroll_box = r'<div class="table-scroll" role="region" aria-label="[^"]+" tabindex="0">'
    box = re.search(scroll_box + r'\s*<table id="top10">.*?</table>\s*</div>', page, re.DOTALL)
    assert box, "the table sits in a focusable, labelled scroll box"
    assert re.search(r'<tr><td class="rank number">1</td><td class="name">Série 10</td><td>', page)
    assert '<th class="rank number">Rank</th><th class="name">Name</th><th>Original name</th>' in page


def test_an_empty_ranking_renders_an_empty_report():
    manifest = {**MANIFEST, "ranking": []}
    empty = comparison.comparison_report(comparison.RawPartition(DAY, manifest, [], SERIES_CSV))
    assert empty.table.height == 0 and empty.table.schema == pl.Schema(comparison.SCHEMA)
    for _, render in report_files.FORMATS.values():
        assert render(empty)


def test_a_series_file_with_another_header_is_refused():
    with pytest.raises(InvalidInput, match="series.csv: expected the columns id|tituloPincipal"):
        comparison.imdb_titles(b"id|name\ntt1|x\n")

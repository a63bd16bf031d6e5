"""Day-over-day checks over two manifests: each fires on its own change, and only then."""

from __future__ import annotations

from datetime import date

import pytest

from datalake import layout
from datalake.csvs.files import MOVIES, SERIES
from datalake.lake import checks

BEFORE, TODAY = date(2026, 3, 1), date(2026, 3, 2)


def series(series_id: int, rank: int, vote_average: float = 8.0, vote_count: int = 1000) -> dict:
    return {
        "id": series_id,
        "name": f"Series {series_id}",
        "rank": rank,
        "vote_average": vote_average,
        "vote_count": vote_count,
    }


def manifest(
    day: date,
    ranking: list[dict] | None = None,
    movies: int = 1000,
    series_rows: int = 500,
    movies_bytes: int = 100_000,
    series_bytes: int = 50_000,
    top_n: int = 3,
) -> dict:
    ranking = [series(1, 1), series(2, 2), series(3, 3)] if ranking is None else ranking
    return {
        "partition": day.isoformat(),
        "params": {"top_n": top_n},
        "ranking": ranking,
        "objects": [
            {"key": layout.csv_key(MOVIES, day), "records": movies, "bytes": movies_bytes},
            {"key": layout.csv_key(SERIES, day), "records": series_rows, "bytes": series_bytes},
            *({"key": layout.details_key(day, entry["id"]), "records": 1, "bytes": 10} for entry in ranking),
        ],
    }


def by_name(found: list[checks.Check]) -> dict[str, checks.Check]:
    return {check.name: check for check in found}


def not_passed(found: list[checks.Check]) -> dict[str, checks.Check]:
    return {check.name: check for check in found if check.level != checks.PASS}


def test_without_an_earlier_partition_the_one_check_says_first_partition():
    (only,) = checks.day_over_day(manifest(TODAY), None, 10)
    assert only.as_dict() == {
        "name": "previous partition",
        "level": "pass",
        "observed": "first partition",
        "expected": "an earlier complete partition",
        "compared_with": None,
    }


def test_the_same_data_passes_every_check_and_names_the_partition_compared_with():
    found = checks.day_over_day(manifest(TODAY), manifest(BEFORE), 10)
    assert {check.level for check in found} == {"pass"}
    assert {check.compared_with for check in found} == {BEFORE.isoformat()}
    assert set(by_name(found)) == {
        "movies.csv rows",
        "movies.csv bytes",
        "series.csv rows",
        "series.csv bytes",
        "TMDB top N entered",
        "TMDB top N left",
        "TMDB rank moves",
        "TMDB vote_count down",
        "TMDB vote_average moves",
    }


def test_a_row_count_drop_beyond_the_threshold_warns_with_the_change_and_the_band():
    found = checks.day_over_day(manifest(TODAY, series_rows=300), manifest(BEFORE), 10)
    assert list(not_passed(found)) == ["series.csv rows"]
    warned = by_name(found)["series.csv rows"]
    assert warned.level == "warn"
    assert warned.observed == "300 rows (-40.0%)"
    assert warned.expected == "500 ±10% (450 to 550 rows)"


@pytest.mark.parametrize(("rows", "level"), [(450, "pass"), (550, "pass"), (449, "warn"), (551, "warn")])
def test_the_row_threshold_is_inclusive(rows, level):
    assert (
        by_name(checks.day_over_day(manifest(TODAY, series_rows=rows), manifest(BEFORE), 10))[
            "series.csv rows"
        ].level
        == level
    )


def test_the_threshold_is_the_param():
    current, previous = manifest(TODAY, movies=1300), manifest(BEFORE)
    assert by_name(checks.day_over_day(current, previous, 10))["movies.csv rows"].level == "warn"
    assert by_name(checks.day_over_day(current, previous, 50))["movies.csv rows"].level == "pass"


def test_a_size_change_beyond_the_threshold_warns_on_its_own():
    found = checks.day_over_day(manifest(TODAY, movies_bytes=200_000), manifest(BEFORE), 10)
    assert list(not_passed(found)) == ["movies.csv bytes"]
    assert by_name(found)["movies.csv bytes"].observed == "200,000 bytes (+100.0%)"


def test_rows_appearing_in_a_file_that_was_empty_warn():
    found = checks.day_over_day(manifest(TODAY, movies=5), manifest(BEFORE, movies=0), 10)
    assert by_name(found)["movies.csv rows"].level == "warn"
    assert (
        by_name(checks.day_over_day(manifest(TODAY, movies=0), manifest(BEFORE, movies=0), 10))[
            "movies.csv rows"
        ].level
        == "pass"
    )


def test_a_csv_missing_from_the_new_partition_fails_and_one_new_to_it_passes():
    current, previous = manifest(TODAY), manifest(BEFORE)
    current["objects"] = [entry for entry in current["objects"] if "Movies" not in entry["key"]]
    assert not_passed(checks.day_over_day(current, previous, 10))["movies.csv rows"].level == "fail"
    current, previous = manifest(TODAY), manifest(BEFORE)
    previous["objects"] = [entry for entry in previous["objects"] if "Movies" not in entry["key"]]
    found = by_name(checks.day_over_day(current, previous, 10))
    assert "nothing to compare" in found["movies.csv rows"].expected
    assert not not_passed(checks.day_over_day(current, previous, 10))


def test_a_series_leaving_the_top_n_warns_for_entered_and_left_with_their_names():
    current = manifest(TODAY, [series(1, 1), series(2, 2), series(4, 3)])
    found = not_passed(checks.day_over_day(current, manifest(BEFORE), 10))
    assert set(found) == {"TMDB top N entered", "TMDB top N left"}
    assert found["TMDB top N left"].observed == "1: 3 Series 3"
    assert found["TMDB top N entered"].observed == "1: 4 Series 4"
    assert found["TMDB top N left"].expected == "the same series as that partition's top 3"


def test_rank_moves_warn_naming_each_move():
    current = manifest(TODAY, [series(2, 1), series(1, 2), series(3, 3)])
    found = not_passed(checks.day_over_day(current, manifest(BEFORE), 10))
    assert list(found) == ["TMDB rank moves"]
    assert found["TMDB rank moves"].observed == "2: 2 Series 2 2→1; 1 Series 1 1→2"


def test_a_vote_count_going_down_fails_and_one_going_up_passes():
    current = manifest(TODAY, [series(1, 1), series(2, 2, vote_count=999), series(3, 3, vote_count=5000)])
    found = not_passed(checks.day_over_day(current, manifest(BEFORE), 10))
    assert list(found) == ["TMDB vote_count down"]
    assert found["TMDB vote_count down"].level == "fail"
    assert found["TMDB vote_count down"].observed == "1: 2 Series 2 1,000→999"


@pytest.mark.parametrize(("average", "level"), [(8.3, "pass"), (7.7, "pass"), (8.31, "warn"), (7.6, "warn")])
def test_a_vote_average_moving_more_than_the_limit_warns(average, level):
    current = manifest(TODAY, [series(1, 1, vote_average=average), series(2, 2), series(3, 3)])
    found = by_name(checks.day_over_day(current, manifest(BEFORE), 10))
    assert found["TMDB vote_average moves"].level == level


def test_votes_of_a_series_new_to_the_top_are_not_compared():
    current = manifest(TODAY, [series(1, 1), series(2, 2), series(9, 3, vote_average=1.0, vote_count=1)])
    found = not_passed(checks.day_over_day(current, manifest(BEFORE), 10))
    assert set(found) == {"TMDB top N entered", "TMDB top N left"}


def test_strict_failure_names_each_check_that_did_not_pass_and_nothing_when_all_passed():
    assert checks.strict_failure(checks.day_over_day(manifest(TODAY), manifest(BEFORE), 10)) is None
    current = manifest(TODAY, [series(1, 1), series(2, 2), series(4, 3)], series_rows=100)
    message = checks.strict_failure(checks.day_over_day(current, manifest(BEFORE), 10))
    assert message.startswith("strict_checks: 3 of 9 day-over-day checks did not pass")
    for name in ("series.csv rows: warn", "TMDB top N entered: warn", "TMDB top N left: warn"):
        assert name in message
    assert "movies.csv rows" not in message


def test_the_checks_table_escapes_its_cells_and_marks_levels():
    table = checks.to_html_table(
        [{"name": "<b>", "level": "warn", "observed": "a&b", "expected": "x", "compared_with": None}], "c"
    )
    assert '<tr class="check-warn">' in table and "&lt;b&gt;" in table and "a&amp;b" in table
    assert "<td></td>" in table

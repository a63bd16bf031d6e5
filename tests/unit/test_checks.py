"""Data checks over a manifest and its history, with partitions made to vary the way real extracts do:
each check fires on its own change, and an ordinary day raises nothing."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from datalake import layout
from datalake.csvs.files import MOVIES, SERIES, CsvFile
from datalake.lake import checks, metrics
from datalake.lake.outcome import METHODS
from datalake.lake.schema import REPORT_FIELDS, body_schema

TODAY = date(2026, 3, 31)
NOW = datetime(2026, 3, 31, 6, tzinfo=UTC)
"""When today's run closes its partition: its objects were fetched just before."""
DEFAULTS = checks.Thresholds()
BODY = {
    "id": 1,
    "name": "x",
    "original_name": "x",
    "vote_average": 8.5,
    "vote_count": 900,
    "first_air_date": "2023-09-29",
    "last_air_date": None,
    "status": "Ended",
    "number_of_seasons": 1,
    "number_of_episodes": 28,
    "episode_run_time": [24],
    "genres": [],
    "networks": [],
    "production_companies": [],
    "external_ids": {"imdb_id": "tt1"},
    "popularity": 98.4,
    "adult": False,
}
SCHEMA = body_schema(BODY)


def days_before(count: int, day: date = TODAY) -> list[date]:
    return [day - timedelta(days=count - index) for index in range(count)]


def series(series_id: int, rank: int, vote_average: float = 8.0, vote_count: int = 1000) -> dict:
    return {
        "id": series_id,
        "name": f"Series {series_id}",
        "rank": rank,
        "vote_average": vote_average,
        "vote_count": vote_count,
    }


def null_counts(csv_file: CsvFile, rows: int, **counts: int) -> dict[str, int]:
    """Every column's null count (as the landing's profile has it): the extracts' own shape by default,
    most deaths unknown, a third of the series still running."""
    shape = {"anoFalecimento": round(rows * 0.87), "personagem": 1}
    if csv_file is SERIES:
        shape["anoTermino"] = round(rows * 0.3)
    return {column: {**shape, **counts}.get(column, 0) for column in csv_file.columns}


def manifest(
    day: date,
    ranking: list[dict] | None = None,
    movies: int = 312,
    series_rows: int = 316,
    movies_bytes: int | None = None,
    series_bytes: int | None = None,
    total_results: int | None = 120,
    nulls: dict[str, dict[str, int]] | None = None,
    duplicates: tuple[int, int] = (0, 0),
    profile: bool = True,
    schemas: dict[int, dict[str, str]] | None = None,
    fetched_at: dict[str, datetime] | None = None,
    top_n: int = 3,
) -> dict:
    """A manifest as close_partition writes it: both CSVs with their profile, the first discover page with
    TMDB's total, a detail body per ranked series with its schema; everything fetched on its day."""
    ranking = [series(1, 1), series(2, 2), series(3, 3)] if ranking is None else ranking
    landed = datetime(day.year, day.month, day.day, 5, tzinfo=UTC)
    fetched = {"movies.csv": landed, "series.csv": landed, "TMDB": landed, **(fetched_at or {})}
    nulls = nulls or {}

    def csv_entry(csv_file: CsvFile, rows: int, size: int | None, repeated: int) -> dict:
        entry = {
            "key": layout.csv_key(csv_file, day),
            "records": rows,
            "bytes": rows * 158 if size is None else size,
            "fetched_at": fetched[csv_file.filename].isoformat(),
        }
        if profile:
            counts = nulls.get(csv_file.filename) or null_counts(csv_file, rows)
            entry["profile"] = {"null_counts": counts, "duplicate_rows": repeated}
        return entry

    tmdb_at = fetched["TMDB"].isoformat()
    page = {"key": layout.discover_key(day, 1), "records": 20, "bytes": 9000, "fetched_at": tmdb_at}
    if total_results is not None:
        page["total_results"] = total_results
    details = [
        {
            "key": layout.details_key(day, entry["id"]),
            "records": 1,
            "bytes": 5000,
            "fetched_at": tmdb_at,
            "schema": (schemas or {}).get(entry["id"], SCHEMA),
        }
        for entry in ranking
    ]
    return {
        "partition": day.isoformat(),
        "params": {"top_n": top_n, "min_vote_count": 200, "language": "pt-BR", "genre_id": 16},
        "ranking": ranking,
        "objects": [
            csv_entry(MOVIES, movies, movies_bytes, duplicates[0]),
            csv_entry(SERIES, series_rows, series_bytes, duplicates[1]),
            page,
            *details,
        ],
    }


def run_checks(current: dict, history: list[dict], thresholds: checks.Thresholds = DEFAULTS) -> list:
    return checks.data_checks(current, history, thresholds, checks.freshness(current, history, NOW))


def by_name(found: list[checks.Check]) -> dict[str, checks.Check]:
    return {check.name: check for check in found}


def not_passed(found: list[checks.Check]) -> dict[str, checks.Check]:
    return {check.name: check for check in found if check.level != checks.PASS}


def jittered(count: int, seed: int, rows: int = 316, jitter: int = 3) -> list[dict]:
    """``count`` partitions before today whose series.csv holds ``rows`` give or take ``jitter`` rows (its
    size and null counts moving with it), the CSVs otherwise as landed."""
    draw = random.Random(seed)
    history = []
    for day in days_before(count):
        found = rows + draw.randint(-jitter, jitter)
        history.append(manifest(day, series_rows=found, series_bytes=found * 161 + draw.randint(-300, 300)))
    return history


def test_without_history_one_check_says_first_partition_and_uniqueness_and_freshness_still_run():
    found = run_checks(manifest(TODAY), [])
    assert [check.name for check in found] == [
        "previous partition",
        "TMDB ranking ids unique",
        "movies.csv freshness",
        "series.csv freshness",
        "TMDB freshness",
    ]
    first = found[0].as_dict()
    assert first == {
        "name": "previous partition",
        "level": "pass",
        "observed": "first partition",
        "expected": "an earlier complete partition",
        "compared_with": None,
        "method": None,
        "partitions": [],
        "band": None,
    }
    assert {check.level for check in found} == {"pass"}


def test_a_stable_history_with_small_jitter_warns_on_a_6_percent_drop_the_percent_band_missed():
    history = jittered(14, seed=1)
    current = manifest(TODAY, series_rows=297, series_bytes=297 * 161)  # 6% fewer rows than 316
    found = run_checks(current, history)
    assert set(not_passed(found)) == {"series.csv rows", "series.csv bytes"}
    rows = by_name(found)["series.csv rows"]
    assert rows.level == "warn" and rows.method == "z-score"
    assert rows.partitions == tuple(day.isoformat() for day in days_before(14))
    assert rows.compared_with == days_before(14)[-1].isoformat()
    assert 305 < rows.band["low"] < 313 and 319 < rows.band["high"] < 327
    assert rows.observed.startswith("297 rows (z -")
    assert rows.expected.startswith(f"{rows.band['low']:,.0f} rows to {rows.band['high']:,.0f} rows: z-score")
    percent_band = checks.Thresholds(history_min_partitions=15)
    assert "series.csv rows" not in not_passed(run_checks(current, history, percent_band)), (
        "the fixed ±10% band lets the 6% drop through"
    )


SWINGING = [1000, 1150, 880, 1100, 920, 1140, 860, 1050, 950, 1130, 870, 1000, 1120, 900]
"""A source that swings ±15% from day to day."""


def test_a_naturally_swinging_source_raises_nothing_on_an_ordinary_12_percent_day():
    history = [manifest(day, movies=rows) for day, rows in zip(days_before(14), SWINGING, strict=True)]
    current = manifest(TODAY, movies=1008)  # +12% on the day before
    found = run_checks(current, history)
    assert not not_passed(found)
    assert by_name(found)["movies.csv rows"].observed == "1,008 rows (z +0.0)"
    percent_band = checks.Thresholds(history_min_partitions=15)
    assert set(not_passed(run_checks(current, history, percent_band))) == {
        "movies.csv rows",
        "movies.csv bytes",
    }, "the fixed band warns on the swing every other day"


def ordinary_days(count: int, seed: int) -> list[dict]:
    """``count + 1`` partitions (the last one today) of ordinary variation in every metric: the extracts grow
    or shrink by a few rows, their sizes and null counts with them, now and then a repeated row; TMDB's total
    moves by a few series and every vote count grows, the averages drift by hundredths, the bodies keep their
    fields; every source is fetched on its day."""
    draw = random.Random(seed)
    documents = []
    for number, day in enumerate([*days_before(count), TODAY]):
        movies, series_rows = 312 + draw.randint(-4, 4), 316 + draw.randint(-4, 4)
        nulls = {
            "movies.csv": null_counts(
                MOVIES, movies, anoFalecimento=271 + draw.randint(-4, 4), personagem=draw.randint(0, 2)
            ),
            "series.csv": null_counts(
                SERIES, series_rows, anoTermino=95 + draw.randint(-3, 3), personagem=draw.randint(0, 2)
            ),
        }
        ranking = [
            series(1, 1, 8.80 + draw.uniform(-0.02, 0.02), 4000 + 9 * number),
            series(2, 2, 8.60 + draw.uniform(-0.02, 0.02), 2500 + 6 * number),
            series(3, 3, 8.40 + draw.uniform(-0.02, 0.02), 1800 + 4 * number),
        ]
        documents.append(
            manifest(
                day,
                ranking,
                movies=movies,
                series_rows=series_rows,
                movies_bytes=movies * 158 + draw.randint(-400, 400),
                series_bytes=series_rows * 161 + draw.randint(-400, 400),
                total_results=120 + draw.randint(-3, 3),
                nulls=nulls,
                duplicates=(draw.choice((0, 0, 0, 1)), draw.choice((0, 0, 1))),
            )
        )
    return documents


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_day_of_ordinary_variation_raises_nothing_across_every_check(seed):
    *history, current = ordinary_days(14, seed)
    found = run_checks(current, history)
    assert not_passed(found) == {}
    names = set(by_name(found))
    assert {metric.name for metric in metrics.METRICS} <= names
    assert {
        "TMDB ranking ids unique",
        "TMDB schema new fields",
        "TMDB schema missing fields",
        "TMDB schema type changes",
        "movies.csv freshness",
        "series.csv freshness",
        "TMDB freshness",
        "TMDB top N entered",
        "TMDB vote_count down",
    } <= names
    assert {check.method for check in found if check.name in {m.name for m in metrics.METRICS}} == {"z-score"}


def test_every_check_records_its_method_partitions_and_band():
    *history, current = ordinary_days(14, seed=4)
    for check in run_checks(current, history):
        recorded = check.as_dict()
        assert {"method", "partitions", "band"} <= recorded.keys()
        assert recorded["method"] in METHODS, check.name
        assert bool(recorded["partitions"]) == (recorded["method"] != "uniqueness"), check.name
        if recorded["method"] in ("z-score", "percent band", "freshness"):
            assert recorded["band"]["low"] <= recorded["band"]["high"], check.name


def test_an_unchanging_history_does_not_flag_a_one_row_move_thanks_to_the_floor():
    history = [manifest(day, movies=312, movies_bytes=49_466) for day in days_before(14)]
    found = by_name(run_checks(manifest(TODAY, movies=313, movies_bytes=49_466), history))
    rows = found["movies.csv rows"]
    assert rows.level == "pass" and rows.method == "z-score"
    assert "σ 0.0 rows, below the floor 3.1 rows" in rows.expected
    assert rows.band == {"low": pytest.approx(302.64), "high": pytest.approx(321.36)}
    small = [manifest(day, movies=50) for day in days_before(14)]
    assert by_name(run_checks(manifest(TODAY, movies=51), small))["movies.csv rows"].level == "pass"
    assert by_name(run_checks(manifest(TODAY, movies=47), small))["movies.csv rows"].level == "warn", (
        "the floor is one row there: three rows is z -3"
    )
    one_more_null = null_counts(MOVIES, 312, personagem=2)
    current = manifest(TODAY, nulls={"movies.csv": one_more_null})
    rate = by_name(run_checks(current, history))["movies.csv personagem null rate"]
    assert rate.level == "pass", "one row's worth of nulls is the floor of a null rate"


def test_with_fewer_than_7_partitions_the_checks_use_the_percent_band_and_say_so():
    history = [
        manifest(day, series_rows=rows) for day, rows in zip(days_before(3), (316, 320, 500), strict=True)
    ]
    found = by_name(run_checks(manifest(TODAY, series_rows=300), history))
    rows = found["series.csv rows"]
    assert rows.level == "warn" and rows.method == "percent band"
    assert (
        rows.expected
        == "history of 3 partitions, fewer than 7: percent band, 500 rows ±10% (450 rows to 550 rows)"
    )
    assert rows.observed == "300 rows (-40.0%)"
    assert rows.partitions == (days_before(3)[-1].isoformat(),)
    assert rows.band == {"low": 450, "high": 550}
    single = by_name(run_checks(manifest(TODAY), history[-1:]))["movies.csv rows"]
    assert single.expected.startswith("history of 1 partition, fewer than 7: percent band")


@pytest.mark.parametrize(("rows", "level"), [(450, "pass"), (550, "pass"), (449, "warn"), (551, "warn")])
def test_the_percent_band_is_inclusive(rows, level):
    history = [manifest(days_before(1)[0], series_rows=500)]
    assert by_name(run_checks(manifest(TODAY, series_rows=rows), history))["series.csv rows"].level == level


def test_the_percent_band_is_the_param_and_the_least_history_too():
    history = [manifest(day) for day in days_before(7)]
    current = manifest(TODAY, movies=400)
    assert by_name(run_checks(current, history))["movies.csv rows"].method == "z-score"
    wide = checks.Thresholds(max_change_percent=50, history_min_partitions=8)
    assert by_name(run_checks(current, history, wide))["movies.csv rows"].level == "pass"
    assert by_name(run_checks(current, history, wide))["movies.csv rows"].method == "percent band"


def test_the_tmdb_volumes_follow_the_history_and_only_that_of_the_same_query():
    history = [manifest(day, total_results=120 + (index % 3)) for index, day in enumerate(days_before(14))]
    found = by_name(run_checks(manifest(TODAY, total_results=60), history))
    assert found["TMDB discover total"].level == "warn" and found["TMDB discover total"].method == "z-score"
    assert found["TMDB details"].level == "pass" and found["TMDB details"].observed == "3 details (z +0.0)"
    other_query = manifest(TODAY, total_results=60)
    other_query["params"]["min_vote_count"] = 1000
    total = by_name(run_checks(other_query, history))["TMDB discover total"]
    assert total.level == "pass" and "for the same query" in total.expected
    assert total.method is None


def test_a_null_rate_that_jumps_warns_naming_the_column():
    history = [manifest(day) for day in days_before(14)]
    jumped = null_counts(SERIES, 316, anoTermino=160)  # from 95
    found = not_passed(run_checks(manifest(TODAY, nulls={"series.csv": jumped}), history))
    assert list(found) == ["series.csv anoTermino null rate"]
    assert found["series.csv anoTermino null rate"].observed.startswith("50.63% (z +")


def test_duplicate_rows_warn_when_they_rise_beyond_the_history_and_never_when_they_fall():
    history = [manifest(day) for day in days_before(14)]
    found = by_name(run_checks(manifest(TODAY, duplicates=(5, 0)), history))
    assert found["movies.csv duplicate rows"].level == "warn"
    assert found["movies.csv duplicate rows"].expected.startswith("at most 3 rows: z-score")
    assert by_name(run_checks(manifest(TODAY, duplicates=(2, 0)), history))[
        "movies.csv duplicate rows"
    ].level == ("pass"), "the floor: one or two repeats in a file that had none pass, counted"
    many = [manifest(day, duplicates=(40, 0)) for day in days_before(14)]
    assert by_name(run_checks(manifest(TODAY), many))["movies.csv duplicate rows"].level == "pass"


def test_a_partition_without_a_profile_is_skipped_saying_so_and_older_ones_are_no_history():
    history = [manifest(day) for day in days_before(14)]
    found = by_name(run_checks(manifest(TODAY, profile=False), history))
    assert found["series.csv profile"].observed == "no profile recorded"
    assert found["series.csv profile"].level == "pass"
    assert not [name for name in found if name.endswith("null rate")]
    old = [manifest(day, profile=False) for day in days_before(14)]
    rate = by_name(run_checks(manifest(TODAY), old))["series.csv anoTermino null rate"]
    assert rate.level == "pass" and rate.method is None
    assert rate.expected == "nothing to compare: none of the 14 earlier partition(s) read records it"


def test_a_csv_missing_from_the_new_partition_fails_its_volume_checks():
    current = manifest(TODAY)
    current["objects"] = [entry for entry in current["objects"] if "Movies" not in entry["key"]]
    found = not_passed(run_checks(current, [manifest(days_before(1)[0])]))
    assert found["movies.csv rows"].level == "fail" and found["movies.csv bytes"].level == "fail"


def test_a_series_twice_in_the_ranking_fails_uniqueness():
    ranking = [series(1, 1), series(2, 2), series(1, 3)]
    found = by_name(run_checks(manifest(TODAY, ranking), [manifest(days_before(1)[0])]))
    unique = found["TMDB ranking ids unique"]
    assert (unique.level, unique.observed, unique.method) == ("fail", "1: 1 ×2", "uniqueness")


def test_a_new_field_warns_naming_it_and_the_titles():
    previous = manifest(days_before(1)[0])
    current = manifest(TODAY, schemas={2: {**SCHEMA, "tagline_v2": "string"}})
    found = not_passed(run_checks(current, [previous]))
    assert list(found) == ["TMDB schema new fields"]
    assert found["TMDB schema new fields"].observed == "1: tagline_v2 (2 Series 2)"
    assert found["TMDB schema new fields"].method == "schema"
    assert found["TMDB schema new fields"].partitions == (previous["partition"],)


def test_a_missing_field_warns_naming_it_and_the_title():
    without = {name: kind for name, kind in SCHEMA.items() if name != "popularity"}
    found = not_passed(run_checks(manifest(TODAY, schemas={3: without}), [manifest(days_before(1)[0])]))
    assert list(found) == ["TMDB schema missing fields"]
    assert found["TMDB schema missing fields"].observed == "1: popularity (3 Series 3)"


def test_a_read_field_changing_type_fails_naming_field_and_title_and_an_unread_one_warns():
    previous = manifest(days_before(1)[0])
    assert "vote_count" in REPORT_FIELDS and "popularity" not in REPORT_FIELDS
    read = manifest(TODAY, schemas={2: {**SCHEMA, "vote_count": "string"}})
    changed = not_passed(run_checks(read, [previous]))["TMDB schema type changes"]
    assert changed.level == "fail"
    assert changed.observed == "1: vote_count (2 Series 2 number→string)"
    assert "the report reads fails: vote_count" in changed.expected
    unread = manifest(TODAY, schemas={2: {**SCHEMA, "popularity": "string"}})
    assert not_passed(run_checks(unread, [previous]))["TMDB schema type changes"].level == "warn"


def test_a_value_turning_null_is_no_type_change_and_a_new_title_is_held_to_every_earlier_body():
    previous = manifest(days_before(1)[0])
    aired = manifest(TODAY, schemas={1: {**SCHEMA, "last_air_date": "string", "first_air_date": "null"}})
    assert not not_passed(run_checks(aired, [previous]))
    newcomer = manifest(
        TODAY,
        [series(1, 1), series(2, 2), series(9, 3)],
        schemas={9: {**SCHEMA, "genres": "object"}},
    )
    found = not_passed(run_checks(newcomer, [previous]))
    assert found["TMDB schema type changes"].observed == "1: genres (9 Series 9 array→object)"


def test_schema_drift_compares_with_the_latest_partition_that_recorded_a_schema():
    older = manifest(days_before(2)[0])
    unrecorded = manifest(days_before(1)[0])
    for entry in unrecorded["objects"]:
        entry.pop("schema", None)
    current = manifest(TODAY, schemas={1: {**SCHEMA, "new_one": "number"}})
    found = by_name(run_checks(current, [older, unrecorded]))
    assert found["TMDB schema new fields"].compared_with == older["partition"]
    assert by_name(run_checks(current, [unrecorded]))["TMDB schema new fields"].expected == (
        "no earlier partition recorded a schema"
    )


def test_a_source_older_than_the_threshold_fails_its_freshness_check():
    stale = {"series.csv": NOW - timedelta(days=10)}
    found = by_name(run_checks(manifest(TODAY, fetched_at=stale), [manifest(days_before(1)[0])]))
    fresh = found["series.csv freshness"]
    assert fresh.level == "fail" and fresh.method == "freshness"
    assert fresh.observed.startswith("10.0 days old (fetched 2026-03-21T06:00:00+00:00")
    assert fresh.expected == "at most 7 days old" and fresh.band == {"low": 0, "high": 7}
    assert found["movies.csv freshness"].level == "pass" and found["TMDB freshness"].level == "pass"
    lenient = checks.Thresholds(max_age_days=14)
    assert by_name(run_checks(manifest(TODAY, fetched_at=stale), [], lenient))[
        "series.csv freshness"
    ].level == ("pass")


def test_freshness_records_each_source_and_takes_a_missing_one_from_the_newest_partition_holding_it():
    earlier = manifest(days_before(2)[0])
    current = manifest(TODAY)
    current["objects"] = [entry for entry in current["objects"] if "Movies" not in entry["key"]]
    recorded = checks.freshness(current, [earlier], NOW)
    assert recorded["series.csv"] == {
        "partition": TODAY.isoformat(),
        "fetched_at": "2026-03-31T05:00:00+00:00",
        "age_days": pytest.approx(1 / 24, abs=1e-3),
    }
    assert recorded["movies.csv"]["partition"] == earlier["partition"]
    assert recorded["movies.csv"]["age_days"] == pytest.approx(2 + 1 / 24, abs=1e-3)
    movies = by_name(checks.freshness_checks(current, recorded, 7))["movies.csv freshness"]
    assert movies.level == "pass" and movies.compared_with == earlier["partition"]


def test_a_series_leaving_the_top_n_warns_for_entered_and_left_with_their_names():
    current = manifest(TODAY, [series(1, 1), series(2, 2), series(4, 3)])
    found = not_passed(run_checks(current, [manifest(days_before(1)[0])]))
    assert set(found) == {"TMDB top N entered", "TMDB top N left"}
    assert found["TMDB top N left"].observed == "1: 3 Series 3"
    assert found["TMDB top N entered"].observed == "1: 4 Series 4"
    assert found["TMDB top N left"].expected == "the same series as that partition's top 3"
    assert found["TMDB top N left"].method == "previous partition"


def test_rank_moves_warn_naming_each_move():
    current = manifest(TODAY, [series(2, 1), series(1, 2), series(3, 3)])
    found = not_passed(run_checks(current, [manifest(days_before(1)[0])]))
    assert list(found) == ["TMDB rank moves"]
    assert found["TMDB rank moves"].observed == "2: 2 Series 2 2→1; 1 Series 1 1→2"


def test_a_vote_count_going_down_fails_and_one_going_up_passes():
    current = manifest(TODAY, [series(1, 1), series(2, 2, vote_count=999), series(3, 3, vote_count=5000)])
    found = not_passed(run_checks(current, [manifest(days_before(1)[0])]))
    assert list(found) == ["TMDB vote_count down"]
    assert found["TMDB vote_count down"].level == "fail"
    assert found["TMDB vote_count down"].observed == "1: 2 Series 2 1,000→999"


@pytest.mark.parametrize(("average", "level"), [(8.3, "pass"), (7.7, "pass"), (8.31, "warn"), (7.6, "warn")])
def test_a_vote_average_moving_more_than_the_limit_warns(average, level):
    current = manifest(TODAY, [series(1, 1, vote_average=average), series(2, 2), series(3, 3)])
    found = by_name(run_checks(current, [manifest(days_before(1)[0])]))
    assert found["TMDB vote_average moves"].level == level


def test_strict_failure_names_each_check_that_did_not_pass_and_nothing_when_all_passed():
    previous = [manifest(days_before(1)[0])]
    assert checks.strict_failure(run_checks(manifest(TODAY), previous)) is None
    current = manifest(
        TODAY, [series(1, 1), series(2, 2), series(4, 3)], series_rows=100, series_bytes=316 * 158
    )
    found = run_checks(current, previous)
    message = checks.strict_failure(found)
    assert message.startswith(f"strict_checks: 3 of {len(found)} data checks did not pass")
    for name in ("series.csv rows: warn", "TMDB top N entered: warn", "TMDB top N left: warn"):
        assert name in message
    assert "movies.csv rows" not in message


def test_the_checks_table_escapes_its_cells_marks_levels_and_shows_method_partitions_and_band():
    table = checks.to_html_table(
        [
            {"name": "<b>", "level": "warn", "observed": "a&b", "expected": "x", "compared_with": None},
            {
                "name": "series.csv rows",
                "level": "pass",
                "observed": "316 rows",
                "expected": "y",
                "compared_with": "2026-03-30",
                "method": "z-score",
                "partitions": ["2026-03-17", "2026-03-30"],
                "band": {"low": 300.5, "high": 331.25},
            },
            {
                "name": "series.csv anoTermino null rate",
                "level": "pass",
                "observed": "30%",
                "expected": "z",
                "compared_with": "2026-03-30",
                "method": "percent band",
                "partitions": ["2026-03-30"],
                "band": {"low": 0.27, "high": 0.33},
            },
        ],
        "c",
    )
    assert '<tr class="check-warn">' in table and "&lt;b&gt;" in table and "a&amp;b" in table
    assert "<th>Method</th><th>Compared with</th><th>Band</th>" in table
    assert "<td>z-score</td><td>2 partitions, 2026-03-17 to 2026-03-30</td><td>300.5 to 331.25</td>" in table
    assert "<td>percent band</td><td>2026-03-30</td><td>27.00% to 33.00%</td>" in table

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from datalake import layout
from datalake.csvs.files import MOVIES, SERIES

DAY = date(2026, 11, 27)


def test_csv_keys_follow_the_raw_layout():
    assert layout.csv_key(MOVIES, DAY) == "Raw/Local/CSV/Movies/2026/11/27/movies.csv"
    assert layout.csv_key(SERIES, DAY) == "Raw/Local/CSV/Series/2026/11/27/series.csv"


def test_tmdb_keys_follow_the_raw_layout():
    assert layout.discover_key(DAY, 1) == "Raw/TMDB/JSON/2026/11/27/discover_tv_p001.json"
    assert layout.discover_key(DAY, 12) == "Raw/TMDB/JSON/2026/11/27/discover_tv_p012.json"
    assert layout.details_key(DAY, 209867) == "Raw/TMDB/JSON/2026/11/27/tv_209867.json"


def test_report_keys_sit_in_the_refined_zone_under_the_partition():
    assert layout.report_prefix(DAY) == "Refined/Reports/AnimeTop10/2026/11/27/"
    assert layout.report_key(DAY, "html") == "Refined/Reports/AnimeTop10/2026/11/27/top10.html"


def test_a_prefix_roots_every_key_elsewhere():
    assert (
        layout.details_key(DAY, 1, prefix="Parity/Lambda/")
        == "Parity/Lambda/Raw/TMDB/JSON/2026/11/27/tv_1.json"
    )
    assert layout.csv_key(MOVIES, DAY, prefix="x/").startswith("x/Raw/Local/CSV/")


def test_partition_date_prefers_the_logical_date():
    logical = datetime(2026, 11, 27, tzinfo=UTC)
    assert layout.day_of_run(logical, datetime(2026, 11, 30, 8, tzinfo=UTC)) == DAY


def test_partition_date_falls_back_to_run_after_for_manual_runs():
    assert layout.day_of_run(None, datetime(2026, 11, 30, 8, tzinfo=UTC)) == date(2026, 11, 30)


def test_partition_date_is_taken_in_utc():
    late_evening_in_sao_paulo = datetime(2026, 11, 27, 22, tzinfo=timezone(timedelta(hours=-3)))
    assert layout.day_of_run(late_evening_in_sao_paulo, late_evening_in_sao_paulo) == date(2026, 11, 28)


def test_a_partition_key_is_the_day_of_the_partition_path():
    assert layout.partition_key(DAY) == "2026-11-27"
    assert layout.day_of_partition_key("2026-11-27") == DAY
    assert layout.partition_path(layout.day_of_partition_key(layout.partition_key(DAY))) == "2026/11/27"


def test_a_run_writes_under_its_partition_key_whatever_its_dates():
    logical = datetime(2026, 11, 1, tzinfo=UTC)
    assert layout.day_of_run(logical, datetime(2026, 11, 30, 8, tzinfo=UTC), "2026-11-27") == DAY
    assert layout.day_of_run(None, datetime(2026, 11, 30, 8, tzinfo=UTC), "2026-11-27") == DAY


@pytest.mark.parametrize(
    "key", ["2026-11-27T00:00:00", "2026/11/27", "2026-11-7", "20261127", "2026-02-30", ""]
)
def test_a_partition_key_that_is_no_day_is_refused_naming_it(key):
    with pytest.raises(
        ValueError, match=re.escape(f"Partition key {key!r} is not a day of the lake: expected YYYY-MM-DD")
    ):
        layout.day_of_run(None, datetime(2026, 11, 30, 8, tzinfo=UTC), key)

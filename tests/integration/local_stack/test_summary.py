"""``make run``'s summary describes the run that happened: its manifest, its parameters, its ranking."""

from __future__ import annotations

import json
from datetime import date

import pytest

from datalake import layout, settings
from local_stack import summary
from tests.conftest import TEST_BUCKET

DAY = date(2026, 11, 20)


def series(series_id: int, vote_average: float) -> dict:
    return {"id": series_id, "name": f"Series {series_id}", "vote_average": vote_average, "vote_count": 500}


@pytest.fixture
def partition(local_s3):
    """A partition landed with top_n 3: the discover page lists 12 series, details exist for the top 3
    only."""
    client = local_s3.client()
    page = [series(100 + n, 9.0 - n / 10) for n in range(12)]
    put = {layout.discover_key(DAY, 1): {"page": 1, "total_pages": 1, "results": page}}
    for entry in page[:3]:
        put[layout.details_key(DAY, entry["id"])] = {
            **entry,
            "number_of_seasons": 2,
            "number_of_episodes": 24,
        }
    for key, body in put.items():
        client.put_object(Bucket=TEST_BUCKET, Key=key, Body=json.dumps(body).encode())
    manifest = {
        "run_id": "manual__2026-11-20",
        "partition": DAY.isoformat(),
        "params": {"top_n": 3, "language": "pt-BR"},
        "ranking": [dict(entry, rank=rank) for rank, entry in enumerate(page[:3], start=1)],
        "objects": [{"key": key, "bytes": len(json.dumps(body))} for key, body in put.items()],
        "checks": [
            {
                "name": "TMDB top N left",
                "level": "warn",
                "observed": "1: 99 Gone",
                "expected": "the same series",
                "compared_with": "2026-11-19",
            },
            {
                "name": "TMDB rank moves",
                "level": "pass",
                "observed": "none",
                "expected": "the same ranks",
                "compared_with": "2026-11-19",
            },
            {
                "name": "series.csv rows",
                "level": "pass",
                "observed": "316 rows (z +0.4)",
                "expected": "305 rows to 327 rows: z-score over 14 partitions",
                "compared_with": "2026-11-19",
                "method": "z-score",
                "partitions": [f"2026-11-{day:02d}" for day in range(6, 20)],
                "band": {"low": 305.2, "high": 327.4},
            },
        ],
        "freshness": {
            "series.csv": {
                "partition": "2026-11-20",
                "fetched_at": "2026-11-12T08:00:00+00:00",
                "age_days": 8.1,
            }
        },
    }
    key = layout.manifest_key(DAY, settings.RAW_DAG_ID)
    client.put_object(Bucket=TEST_BUCKET, Key=key, Body=json.dumps(manifest))
    return client


def test_the_summary_ranks_as_the_run_did_with_its_own_top_n(partition):
    text = summary.summary(partition, TEST_BUCKET, DAY)
    assert '"top_n": 3' in text and "run manual__2026-11-20" in text
    rows = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit() and "Series" in line]
    assert [(row[0], row[1]) for row in rows] == [("1", "100"), ("2", "101"), ("3", "102")]


def test_without_ranking_the_summary_leaves_the_ranked_table_to_the_report(partition):
    """make run's summary when the report's table of the same series follows: one table, not two."""
    text = summary.summary(partition, TEST_BUCKET, DAY, ranking=False)
    assert not [line for line in text.splitlines() if line.strip()[:1].isdigit() and "Series" in line]
    assert layout.details_key(DAY, 102) in text, "the objects are still listed"


def test_the_summary_lists_the_manifest_and_every_object_it_records(partition):
    text = summary.summary(partition, TEST_BUCKET, DAY)
    assert layout.manifest_key(DAY, settings.RAW_DAG_ID) in text
    assert layout.discover_key(DAY, 1) in text and layout.details_key(DAY, 102) in text
    assert layout.details_key(DAY, 103) not in text


def test_the_summary_says_the_runs_freshness_counts_its_passed_checks_and_details_the_others(partition):
    lines = summary.summary(partition, TEST_BUCKET, DAY).splitlines()
    start = lines.index("Data checks against 2026-11-19: 2 of 3 passed; the others:")
    assert lines[start - 1] == "Freshness: series.csv 8.1 days old"
    assert lines[start + 1 :] == [
        "  warn  TMDB top N left: 1: 99 Gone (expected the same series)",
    ], "an older manifest's checks have no method, partitions or band: their lines say none"


def test_a_check_that_did_not_pass_is_told_with_its_method_partitions_and_band():
    manifest = {
        "checks": [
            {
                "name": "series.csv rows",
                "level": "warn",
                "observed": "296 rows (z -5.1)",
                "expected": "305 rows to 327 rows: z-score over 14 partitions",
                "compared_with": "2026-11-19",
                "method": "z-score",
                "partitions": [f"2026-11-{day:02d}" for day in range(6, 20)],
                "band": {"low": 305.2, "high": 327.4},
            }
        ]
    }
    assert summary.check_lines(manifest) == [
        "Data checks against 2026-11-19: 0 of 1 passed; the others:",
        "  warn  series.csv rows: 296 rows (z -5.1) "
        "(expected 305 rows to 327 rows: z-score over 14 partitions) "
        "[z-score, over 14 partitions, 2026-11-06 to 2026-11-19, band 305.2 to 327.4]",
    ]

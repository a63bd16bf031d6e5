"""The OpenLineage events of one `make run`: every landing task names what it read and wrote, and no event
holds the TMDB credential. Only what the run leaves in `<local>/openlineage/` is read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from datalake import layout, settings
from datalake.csvs.files import CSV_FILES, SERIES
from datalake.tmdb.ranking import DiscoverQuery
from local_stack.services import tmdb_sandbox
from tests.catalog import expected_top
from tests.e2e import lineage_events
from tests.e2e.test_make_run import make_run

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-26"
DATE = date.fromisoformat(DAY)
BUCKET = "s3://datalake"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One `make run` against a TMDB sandbox whose credential the test knows; its events and that
    credential."""
    local = tmp_path_factory.mktemp("local")
    lake = tmp_path_factory.mktemp("lake")
    with tmdb_sandbox(local / "tmdb.log") as tmdb:
        result = make_run(DAY, lake, local, AIRFLOW_CONN_TMDB_DEFAULT=tmdb.airflow_connection())
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    folder = local / "openlineage"
    return folder, lineage_events.read_events(folder), tmdb


def s3(key: str) -> tuple[str, str]:
    return (BUCKET, key)


def test_each_csv_landing_reads_its_local_file_and_writes_its_object(run):
    _, events, _ = run
    tasks = lineage_events.task_lineage(events, settings.RAW_DAG_ID)
    for csv_file in CSV_FILES:
        assert tasks[f"land_{csv_file.name.lower()}_csv"] == [
            (
                {("file", str(REPO / "include" / "data" / csv_file.filename))},
                {s3(layout.csv_key(csv_file, DATE))},
            )
        ]


def measured_line_by_line(path: Path) -> tuple[int, dict[str, int]]:
    """Data rows and nulls per column of a local CSV, counted here in plain Python."""
    header, *rows = path.read_bytes().removesuffix(b"\n").split(b"\n")
    columns = header.decode().split("|")
    nulls = dict.fromkeys(columns, 0)
    for row in rows:
        for column, field in zip(columns, row.removesuffix(b"\r").split(b"|"), strict=True):
            nulls[column] += field in (b"", b"\\N")
    return len(rows), nulls


def test_each_csv_landings_event_carries_its_data_quality_facets(run):
    _, events, _ = run
    for csv_file in CSV_FILES:
        path = REPO / "include" / "data" / csv_file.filename
        (facets,) = lineage_events.completed_input_facets(
            events, settings.RAW_DAG_ID, f"land_{csv_file.name.lower()}_csv"
        )
        metrics = facets[("file", str(path))]["dataQualityMetrics"]
        rows, nulls = measured_line_by_line(path)
        assert (metrics["rowCount"], metrics["bytes"]) == (rows, path.stat().st_size)
        assert {column: value["nullCount"] for column, value in metrics["columnMetrics"].items()} == nulls
        assert any(nulls.values()), f"{path} has nulls, so the counts say something"
        assertions = facets[("file", str(path))]["dataQualityAssertions"]["assertions"]
        assert [(item["assertion"], item["success"]) for item in assertions] == [
            ("exact_header", True),
            ("field_count_per_line", True),
            ("utf8", True),
        ]


def test_the_tmdb_tasks_read_the_endpoint_without_credential_and_write_their_objects(run):
    _, events, tmdb = run
    tasks = lineage_events.task_lineage(events, settings.RAW_DAG_ID)
    origin, api_root = tmdb.base_url.removesuffix("/3"), "/3"
    assert tasks["discover_top_anime"] == [
        ({(origin, f"{api_root}/discover/tv")}, {s3(layout.discover_key(DATE, 1))})
    ]
    top = expected_top(DiscoverQuery())
    assert sorted(tasks["fetch_series_details"], key=repr) == sorted(
        [
            ({(origin, f"{api_root}/tv/{series_id}")}, {s3(layout.details_key(DATE, series_id))})
            for series_id in top
        ],
        key=repr,
    )


def test_the_manifest_reads_every_object_and_the_report_reads_the_partition(run):
    _, events, _ = run
    top = expected_top(DiscoverQuery())
    landed = {layout.csv_key(csv_file, DATE) for csv_file in CSV_FILES} | {layout.discover_key(DATE, 1)}
    landed |= {layout.details_key(DATE, series_id) for series_id in top}
    manifest = layout.manifest_key(DATE, settings.RAW_DAG_ID)
    raw = lineage_events.task_lineage(events, settings.RAW_DAG_ID)
    assert raw["write_manifest"] == [({s3(key) for key in landed}, {s3(manifest)})]
    report = lineage_events.task_lineage(events, settings.REPORT_DAG_ID)
    read = {manifest, layout.csv_key(SERIES, DATE), layout.report_key(DATE, "parquet")}  # the history's
    read |= {layout.details_key(DATE, series_id) for series_id in top}
    written = {layout.report_key(DATE, extension) for extension in ("parquet", "csv", "md", "html")}
    written |= {layout.history_key(extension) for extension in ("parquet", "html")}
    assert report["build_report"] == [({s3(key) for key in read}, {s3(key) for key in written})]


def test_the_jobs_are_in_the_datalake_namespace(run):
    _, events, _ = run
    assert events and {event["job"]["namespace"] for event in events} == {"datalake"}


def test_no_event_holds_the_tmdb_credential(run):
    folder, events, tmdb = run
    assert events
    assert lineage_events.files_holding(folder, tmdb.credential) == []
    assert lineage_events.files_holding(folder, tmdb.api_key) == []

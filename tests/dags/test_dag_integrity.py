"""The DAG folder imports cleanly, fast, and declares the graph the issue describes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import ParamValidationError

from datalake import layout, settings
from datalake.airflow import assets

REPO = Path(__file__).resolve().parents[2]
DAG_ID = settings.RAW_DAG_ID


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags[DAG_ID]


def core_timetable(dag):
    """The timetable as the scheduler runs it (the DAG file declares the Task SDK's)."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(dag.timetable)


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids


def test_a_daily_partition_at_midnight_utc_without_catchup(dag):
    from airflow.sdk import CronPartitionTimetable

    assert isinstance(dag.timetable, CronPartitionTimetable)
    assert core_timetable(dag).summary == "0 0 * * *"
    assert dag.catchup is False


def test_the_partition_keys_of_a_range_are_the_lake_days_of_its_keys(dag):
    """What a backfill from 2026-11-01 to 2026-11-03 creates: one run per day, keyed as the lake is."""
    infos = list(
        core_timetable(dag).iter_partition_dagrun_infos(
            earliest=datetime(2026, 11, 1, tzinfo=UTC), latest=datetime(2026, 11, 3, tzinfo=UTC)
        )
    )
    keys = [info.partition_key for info in infos]
    assert keys == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert [layout.day_of_partition_key(key) for key in keys] == [date(2026, 11, day) for day in (1, 2, 3)]


def test_each_landing_task_announces_its_zone_asset(dag):
    from airflow.sdk import Asset

    from datalake.csvs.files import MOVIES, SERIES

    outlets = {task.task_id: task.outlets for task in dag.tasks if task.outlets}
    assert outlets == {
        "land_movies_csv": [Asset(name="datalake_raw_csv_movies", uri="x-datalake://Raw/Local/CSV/Movies")],
        "land_series_csv": [Asset(name="datalake_raw_csv_series", uri="x-datalake://Raw/Local/CSV/Series")],
        "discover_top_anime": [assets.RAW_TMDB],
        "fetch_series_details": [assets.RAW_TMDB],
        "write_manifest": [Asset(name="datalake_raw_manifests", uri="x-datalake://Raw/_manifests")],
    }
    assert [assets.raw_csv(MOVIES).uri, assets.raw_csv(SERIES).uri, assets.RAW_TMDB.uri] == [
        f"x-datalake://{layout.csv_root(MOVIES)}",
        f"x-datalake://{layout.csv_root(SERIES)}",
        f"x-datalake://{layout.TMDB_ROOT}",
    ]


def test_both_dags_serialize_as_the_scheduler_stores_them(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag_id in (DAG_ID, settings.REPORT_DAG_ID):
        restored = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dagbag.dags[dag_id]))
        assert restored.timetable.partitioned is True, dag_id


def test_tasks_and_dependencies(dag):
    assert set(dag.task_ids) == {
        "open_partition",
        "land_movies_csv",
        "land_series_csv",
        "discover_top_anime",
        "ranked_ids",
        "fetch_series_details",
        "write_manifest",
        "invoke_lambda_parity",
    }
    assert dag.get_task("ranked_ids").upstream_task_ids == {"discover_top_anime"}
    assert dag.get_task("fetch_series_details").upstream_task_ids == {"ranked_ids"}
    assert dag.get_task("land_movies_csv").upstream_task_ids == {"open_partition"}


def test_the_partition_is_opened_before_any_landing_task(dag):
    """Every task that writes to the partition runs only after its manifest was retracted."""
    assert dag.get_task("open_partition").upstream_task_ids == set()
    assert dag.get_task("open_partition").downstream_task_ids == {
        "land_movies_csv",
        "land_series_csv",
        "discover_top_anime",
    }
    landing = {
        "land_movies_csv",
        "land_series_csv",
        "discover_top_anime",
        "fetch_series_details",
        "write_manifest",
    }
    assert landing <= dag.get_task("open_partition").get_flat_relative_ids(upstream=False)


def test_the_manifest_comes_after_every_landing_and_survives_skipped_details(dag):
    manifest = dag.get_task("write_manifest")
    assert manifest.upstream_task_ids == {
        "discover_top_anime",
        "land_movies_csv",
        "land_series_csv",
        "fetch_series_details",
    }
    assert manifest.downstream_task_ids == {"invoke_lambda_parity"}
    assert manifest.trigger_rule == "none_failed"


def test_the_lambda_parity_check_is_last_and_never_retried(dag):
    from airflow.providers.amazon.aws.operators.lambda_function import LambdaInvokeFunctionOperator

    parity = dag.get_task("invoke_lambda_parity")
    assert isinstance(parity, LambdaInvokeFunctionOperator)
    assert parity.downstream_task_ids == set()
    assert parity.invocation_type == "RequestResponse"
    assert parity.retries == 0
    assert parity.botocore_config["retries"] == {"total_max_attempts": 1}
    assert parity.botocore_config["read_timeout"] >= 300


def test_details_are_mapped_over_the_discovered_ids(dag):
    details = dag.get_task("fetch_series_details")
    assert details.is_mapped
    assert details.map_index_template == "{{ task.op_kwargs['series_id'] }}"


def test_csv_tasks_land_each_csv_file_from_its_path_into_the_lake_bucket(dag):
    from datalake.airflow.operators import CsvLandingOperator
    from datalake.airflow.tasks import BUCKET_TEMPLATE
    from datalake.csvs.files import MOVIES, SERIES

    for task_id, csv_file in (("land_movies_csv", MOVIES), ("land_series_csv", SERIES)):
        task = dag.get_task(task_id)
        assert isinstance(task, CsvLandingOperator)
        assert task.csv_file == csv_file
        assert csv_file.filename in task.filename
        assert task.dest_bucket == BUCKET_TEMPLATE


def test_params_have_defaults_descriptions_and_bounds(dag):
    params = dag.params
    assert {name: params[name] for name in params} == {
        "top_n": 10,
        "min_vote_count": 200,
        "language": "pt-BR",
        "genre_id": 16,
        "origin_country": "JP",
        "lambda_function_name": None,
        "history_partitions": 14,
        "history_min_partitions": 7,
        "max_change_percent": 10,
        "max_age_days": 7,
        "strict_checks": False,
    }
    for name in params:
        assert params.get_param(name).description
    top_n = params.get_param("top_n")
    for bad in (0, 101):
        with pytest.raises(ParamValidationError):
            top_n.resolve(bad)
    assert top_n.resolve(100) == 100
    for name, bad in (
        ("max_change_percent", -1),
        ("strict_checks", "yes"),
        ("history_partitions", 0),
        ("history_min_partitions", 1),
        ("max_age_days", -1),
    ):
        with pytest.raises(ParamValidationError):
            params.get_param(name).resolve(bad)


def test_parsing_does_not_load_the_tmdb_client():
    """The DAG processor parses the file often: the HTTP client and the ingest code load only in tasks."""
    code = (
        f"import runpy, sys; runpy.run_path({str(REPO / 'dags' / (DAG_ID + '.py'))!r});"
        "print(sorted(m for m in ('datalake.tmdb.client', 'datalake.tmdb.ingest') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"

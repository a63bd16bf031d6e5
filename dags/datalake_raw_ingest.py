"""
### Raw zone of the anime data lake

First, `open_partition` refuses unknown or bad parameters, then retracts the partition's manifest:
until this run's own manifest lands, the partition reads as incomplete. Then it lands, under the run's
date partition of the lake bucket:

* `movies.csv` and `series.csv` (IMDb extracts, unchanged) at `Raw/Local/CSV/<Movies|Series>/YYYY/MM/DD/`;
* TMDB's top-rated series of one genre and origin country (by default Japanese animation):
  the raw `/discover/tv` pages, then `/tv/{id}` for each of the top `top_n`, at `Raw/TMDB/JSON/YYYY/MM/DD/`;
* when everything else succeeded, the run manifest at `Raw/_manifests/YYYY/MM/DD/datalake_raw_ingest.json`;
* last, if a Lambda is configured, `invoke_lambda_parity` runs the same TMDB job as an AWS Lambda under
  `Parity/Lambda/` and checks that it ranked the same ids and wrote the same objects.

Each CSV is checked against its contract (`datalake.csvs.files`) before upload and verified after.

Every run is of one daily partition: its partition key, `YYYY-MM-DD`, is the day it writes under
(a scheduled run at midnight UTC is of the day it starts; a backfill or a trigger names the day), so
re-running a day overwrites the same keys. A run without a partition key (`airflow dags test`) writes
under its logical date, or its run-after date. Each landing task announces what it landed as an event
of its asset (`datalake.airflow.assets`), partitioned by that day; the manifest's event schedules the report.
Connections: `aws_default`, `tmdb_default`.
Logic lives in `plugins/datalake`; this file only declares the graph.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronPartitionTimetable, Param, TriggerRule, dag, task

from datalake import layout, run_params, settings
from datalake.airflow import assets
from datalake.airflow import tasks as airflow_tasks
from datalake.airflow.operators import CsvLandingOperator, LambdaParityOperator, lineage_task
from datalake.airflow.retry_rules import TASK_DEFAULTS
from datalake.csvs.files import CSV_FILES

DAG_ID = settings.RAW_DAG_ID


@dag(
    dag_id=DAG_ID,
    schedule=CronPartitionTimetable("0 0 * * *", timezone="UTC", key_format=layout.PARTITION_KEY_FORMAT),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["datalake", "raw", "tmdb"],
    default_args=TASK_DEFAULTS,
    params={
        name: Param(run_params.RUN_DEFAULTS[name], **schema) for name, schema in run_params.RUN_PARAMS.items()
    },
)
def datalake_raw_ingest():
    @task
    def open_partition(params=None, dag_run=None) -> None:
        """First: refuse unknown parameters, then retract the manifest before anything is overwritten."""
        airflow_tasks.open_partition(params, dag_run)

    land_csvs = [
        CsvLandingOperator(
            task_id=f"land_{csv_file.name.lower()}_csv",
            csv_file=csv_file,
            filename=airflow_tasks.csv_source_template(csv_file),
            dest_bucket=airflow_tasks.BUCKET_TEMPLATE,
            aws_conn_id=settings.AWS_CONN_ID,
            outlets=[assets.raw_csv(csv_file)],
        )
        for csv_file in CSV_FILES
    ]

    @lineage_task(outlets=[assets.RAW_TMDB], multiple_outputs=True)
    def discover_top_anime(params=None, dag_run=None, outlet_events=None) -> dict:
        """Land the discover pages the ranking needs; return the ranking (best first) and the pages."""
        return airflow_tasks.discover_and_announce(params, dag_run, outlet_events)

    @task
    def ranked_ids(ranking: list[dict]) -> list[int]:
        """The ids to fetch, best first: a task maps only over another's return value, never over a key."""
        return [series["id"] for series in ranking]

    @lineage_task(map_index_template="{{ task.op_kwargs['series_id'] }}", outlets=[assets.RAW_TMDB])
    def fetch_series_details(series_id: int, params=None, dag_run=None, outlet_events=None) -> dict:
        """Land `/tv/{id}` with external_ids for one ranked series."""
        return airflow_tasks.land_and_announce_details(series_id, params["language"], dag_run, outlet_events)

    @lineage_task(trigger_rule=TriggerRule.NONE_FAILED, outlets=[assets.RAW_MANIFESTS])
    def write_manifest(
        ranking: list[dict],
        pages: list[dict],
        csv_objects: list[dict],
        detail_objects: list[dict],
        params=None,
        dag_run=None,
        outlet_events=None,
    ) -> dict:
        """Last: record every object of the run. None_failed, because zero results skip the details."""
        # A slice reads every mapped result in one request, where iterating probes one by one.
        landed = [*pages, *csv_objects, *detail_objects[:]]
        return airflow_tasks.close_partition(ranking, landed, params, dag_run, outlet_events)

    invoke_lambda_parity = LambdaParityOperator(
        task_id="invoke_lambda_parity",
        function_name="{{ params.lambda_function_name or var.value.get('lambda_function_name', '') }}",
        compare_bytes="{{ var.value.get('lambda_parity_compare_bytes', 'true') }}",
        bucket=airflow_tasks.BUCKET_TEMPLATE,
        aws_conn_id=settings.AWS_CONN_ID,
    )

    opened = open_partition()
    discovered = discover_top_anime()
    opened >> [*land_csvs, discovered]
    details = fetch_series_details.expand(series_id=ranked_ids(discovered["ranking"]))
    manifest = write_manifest(
        discovered["ranking"], discovered["objects"], [land.output for land in land_csvs], details
    )
    manifest >> invoke_lambda_parity


datalake_raw_ingest()

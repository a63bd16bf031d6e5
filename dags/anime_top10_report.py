"""
### Anime top-10 report: TMDB against IMDb

Answers the lake's first question, how the best-rated Japanese animated series compare, for one
date partition of the raw zone. Runs whenever `datalake_raw_ingest` writes a partition's manifest
(the asset alias `datalake:Raw/_manifests`), for the partition that event names; a manual run
reports on the `partition` param, or, left empty, on the run's own date.

Reads the manifest's ranking, the `tv_{id}.json` bodies and `series.csv` (never TMDB itself), joins
them on the IMDb id, and writes `top10.parquet`, `top10.csv`, `top10.md` and `top10.html` under
`Refined/Reports/AnimeTop10/YYYY/MM/DD/`; a re-run replaces them. Logic lives in `plugins/datalake`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, Param, dag, task

from datalake import report_tasks, settings
from datalake.operators import lineage_task

DAG_ID = settings.REPORT_DAG_ID


@dag(
    dag_id=DAG_ID,
    schedule=[AssetAlias(report_tasks.RAW_MANIFESTS)],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["datalake", "refined", "report"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True},
    params={
        report_tasks.PARTITION_PARAM: Param(
            "",
            type="string",
            pattern=r"^(\d{4}-\d{2}-\d{2})?$",
            description="Date partition to report on, YYYY-MM-DD; "
            "empty: the triggering manifest's, or the run's date.",
        ),
    },
)
def anime_top10_report():
    @task
    def partitions(params=None, dag_run=None, triggering_asset_events=None) -> list[str]:
        """The partitions the triggering manifests (or the param, or the run's date) name."""
        return report_tasks.partitions(params, dag_run, triggering_asset_events)

    @lineage_task(
        map_index_template="{{ task.op_kwargs['partition'] }}", outlets=[AssetAlias(report_tasks.REPORTS)]
    )
    def build_report(partition: str, outlet_events=None) -> list[dict]:
        """Join one partition's TMDB details with the IMDb series file; write the four report files."""
        return report_tasks.write_partition_report(partition, outlet_events)

    build_report.expand(partition=partitions())


anime_top10_report()

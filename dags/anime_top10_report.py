"""
### Anime top-N report: TMDB against IMDb

Answers the lake's first question, how the best-rated Japanese animated series (the raw run's `top_n`,
10 by default) compare, for one date partition of the raw zone. Runs once per raw partition: each manifest
event of `datalake_raw_ingest` (the asset `datalake_raw_manifests`) schedules a run whose partition key is
that partition's day. A manual run reports on its partition key if it names one, else on the `partition`
param, or, left empty, on the run's own date.

Reads the manifest's ranking, the `tv_{id}.json` bodies and `series.csv` (never TMDB itself), joins
them on the IMDb id, and writes `top10.parquet`, `top10.csv`, `top10.md` and `top10.html` under
`Refined/Reports/AnimeTop10/YYYY/MM/DD/`; a re-run replaces them. Logic lives in `plugins/datalake`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, PartitionedAssetTimetable, dag

from datalake import settings
from datalake.airflow import assets, report_tasks
from datalake.airflow.operators import lineage_task
from datalake.airflow.retry_rules import TASK_DEFAULTS

DAG_ID = settings.REPORT_DAG_ID


@dag(
    dag_id=DAG_ID,
    schedule=PartitionedAssetTimetable(assets=assets.RAW_MANIFESTS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["datalake", "refined", "report"],
    default_args=TASK_DEFAULTS,
    params={
        report_tasks.PARTITION_PARAM: Param(
            "",
            type="string",
            pattern=r"^(\d{4}-\d{2}-\d{2})?$",
            description="Date partition to report on, YYYY-MM-DD, when the run has no partition key; "
            "empty: the run's date.",
        ),
    },
)
def anime_top10_report():
    @lineage_task(outlets=[assets.REFINED_REPORTS])
    def build_report(params=None, dag_run=None, outlet_events=None) -> list[dict]:
        """Join the partition's TMDB details with the IMDb series file; write the four report files."""
        return report_tasks.write_partition_report(params, dag_run, outlet_events)

    build_report()


anime_top10_report()

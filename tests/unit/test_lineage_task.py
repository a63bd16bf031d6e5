"""`lineage_task`: a TaskFlow task whose body's recorded inputs and outputs reach OpenLineage."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from datalake.airflow.operators import lineage_task
from datalake.lake import lineage


def details_task(fail: bool = False):
    @lineage_task
    def fetch(series_id: int) -> int:
        lineage.record(
            inputs=[lineage.web_endpoint(f"https://api.example.org/3/tv/{series_id}")],
            outputs=[lineage.s3_object("lake", f"tv_{series_id}.json")],
        )
        if fail:
            raise RuntimeError("after landing")
        return series_id

    with DAG("lineage_task_test", schedule=None):
        return fetch(7).operator


def reported(operator) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    facets = operator.get_openlineage_facets_on_complete(task_instance=None)
    return (
        [(item.namespace, item.name) for item in facets.inputs],
        [(item.namespace, item.name) for item in facets.outputs],
    )


def test_the_task_reports_what_its_body_recorded():
    operator = details_task()
    assert operator.execute({}) == 7
    assert reported(operator) == ([("https://api.example.org", "/3/tv/7")], [("s3://lake", "tv_7.json")])


def test_a_failed_task_reports_what_it_recorded_before_failing():
    operator = details_task(fail=True)
    with pytest.raises(RuntimeError):
        operator.execute({})
    assert reported(operator) == ([("https://api.example.org", "/3/tv/7")], [("s3://lake", "tv_7.json")])


def test_it_shows_as_a_task_in_the_ui():
    assert details_task().operator_name == "@task"


def test_a_task_that_has_not_run_reports_nothing():
    assert reported(details_task()) == ([], [])

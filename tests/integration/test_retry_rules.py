"""The retry rules in an in-process run on the metadata database: which failures fail at once and
which retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

from datalake.airflow import retry_rules
from datalake.errors import TmdbError, TmdbNotFound

URL = "http://127.0.0.1:1/3/tv/1"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One in-process run of two tasks under the DAGs' retry settings (no wait between tries): one asks
    TMDB for an unknown series, one meets a 503 on its first try. Returns each task's tries, by state."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.sdk import DAG, task
    from airflow.utils import db
    from airflow.utils.session import create_session

    db.initdb()
    tried = tmp_path_factory.mktemp("tries")
    with DAG(
        "retry_rules_in_process",
        schedule=None,
        default_args={**retry_rules.TASK_DEFAULTS, "retry_delay": timedelta(0)},
    ) as dag:

        @task
        def unknown_series():
            raise TmdbNotFound("TMDB has no TV series with id 1.", url=URL, status=404)

        @task
        def server_error_once():
            first = tried / "server_error_once"
            if not first.exists():
                first.touch()
                raise TmdbError("TMDB answered 503", url=URL, status=503)

        unknown_series()
        server_error_once()

    # dag.test() runs only a DAG stored as parsed, in a known bundle.
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    dag_run = dag.test(logical_date=datetime(2026, 11, 27, tzinfo=UTC))
    with create_session() as session:
        earlier = session.query(TaskInstanceHistory).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id)
        history = {(ti.task_id, ti.try_number): (ti.state, ti.retry_reason) for ti in earlier}
    final = {ti.task_id: (ti.try_number, ti.state) for ti in dag_run.get_task_instances()}
    return final, history


def test_a_task_asking_for_an_unknown_series_fails_with_no_retry(finished_run):
    final, history = finished_run
    assert final["unknown_series"] == (1, "failed")
    assert not [key for key in history if key[0] == "unknown_series"]


def test_a_task_meeting_a_server_error_is_retried_by_its_rule_then_succeeds(finished_run):
    """Airflow archives a try that went up for retry as failed, with the reason of the rule that decided."""
    final, history = finished_run
    assert history[("server_error_once", 1)] == ("failed", retry_rules.TRANSIENT_SERVICE_ERROR.reason)
    assert final["server_error_once"] == (2, "success")

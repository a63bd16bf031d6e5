"""The DAG's last task against the local Lambda: the same lake passes, a different one fails by key."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from datalake import params, tmdb_ingest
from datalake.operators import LambdaParityOperator
from datalake.ranking import DiscoverQuery
from datalake.storage import S3ObjectStore
from datalake.tmdb import TmdbClient
from tests.conftest import TEST_BUCKET

DAY = date(2026, 4, 1)


@pytest.fixture(scope="module")
def dag_side(local_s3, tmdb) -> dict:
    """What the DAG's own tasks landed for DAY, as its manifest records it."""
    client, store = TmdbClient(tmdb.credential, tmdb.base_url), S3ObjectStore(local_s3.client(), TEST_BUCKET)
    discovery = tmdb_ingest.discover_top_series(client, store, DiscoverQuery(), DAY)
    details = [tmdb_ingest.fetch_series_details(client, store, i, "pt-BR", DAY) for i in discovery.ids]
    return {"ranking": discovery.ranking, "objects": [o.as_dict() for o in discovery.objects + details]}


def run(monkeypatch, local_s3, lambda_endpoint, manifest: dict, function_name: str = "tmdb_ingest") -> str:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", local_s3.airflow_connection(lambda_endpoint))
    operator = LambdaParityOperator(task_id="invoke_lambda_parity", function_name=function_name,
                                    manifest_task_id="write_manifest")
    midnight = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc)
    context = {
        "params": {name: getattr(params.DEFAULTS, name) for name in params.SCHEMAS},
        "dag_run": SimpleNamespace(logical_date=midnight, run_after=midnight),
        "ti": SimpleNamespace(xcom_pull=lambda task_ids: manifest if task_ids == "write_manifest" else None),
    }
    return operator.execute(context)


def test_the_same_lake_passes(monkeypatch, local_s3, lambda_endpoint, dag_side):
    answer = json.loads(run(monkeypatch, local_s3, lambda_endpoint, dag_side))
    assert answer["ids"] == [series["id"] for series in dag_side["ranking"]]
    assert all(entry["key"].startswith("Parity/Lambda/Raw/TMDB/") for entry in answer["objects"])


def test_different_bytes_fail_naming_the_key(monkeypatch, local_s3, lambda_endpoint, dag_side):
    tampered = json.loads(json.dumps(dag_side))
    tampered["objects"][-1]["sha256"] = "0" * 64
    with pytest.raises(AirflowFailException, match=tampered["objects"][-1]["key"]):
        run(monkeypatch, local_s3, lambda_endpoint, tampered)


def test_a_different_ranking_fails(monkeypatch, local_s3, lambda_endpoint, dag_side):
    swapped = {**dag_side, "ranking": list(reversed(dag_side["ranking"]))}
    with pytest.raises(AirflowFailException, match="ids: the DAG ranked"):
        run(monkeypatch, local_s3, lambda_endpoint, swapped)


def test_no_function_configured_skips(monkeypatch, local_s3, lambda_endpoint, dag_side):
    with pytest.raises(AirflowSkipException, match="No Lambda configured"):
        run(monkeypatch, local_s3, lambda_endpoint, dag_side, function_name="")

"""The DAG's last task against the local Lambda: the same lake passes, a different one fails by key.

The operator reads the DAG's side from the lake, as any reader does: the partition's manifest and the
TMDB objects it lists, each verified against its entry before the Lambda is invoked.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from datalake import layout, run_params, settings
from datalake.airflow.operators import LambdaParityOperator
from datalake.errors import InvalidParameter
from datalake.lake import manifest
from datalake.lake.parity import PARITY_PREFIX
from datalake.lake.storage import S3ObjectStore
from datalake.tmdb import ingest as tmdb_ingest
from datalake.tmdb.client import TmdbClient
from datalake.tmdb.ranking import DiscoverQuery
from tests.conftest import TEST_BUCKET

DAY = date(2026, 4, 1)


def land_dag_side(local_s3, tmdb, day: date, change=lambda document, store: None) -> dict:
    """What the DAG's tasks land for ``day``, and its manifest; ``change`` may alter both before it lands."""
    client, store = TmdbClient(tmdb.credential, tmdb.base_url), S3ObjectStore(local_s3.client(), TEST_BUCKET)
    discovery = tmdb_ingest.discover_top_series(client, store, DiscoverQuery(), day)
    details = [tmdb_ingest.land_series_details(client, store, i, "pt-BR", day) for i in discovery.ids]
    document = manifest.build_manifest(
        dag_id=settings.RAW_DAG_ID,
        run_id=f"manual__{day}",
        logical_date=None,
        day=day,
        params={},
        ranking=discovery.ranking,
        objects=[o.as_dict() for o in discovery.objects + details],
    )
    change(document, store)
    manifest.store_manifest(store, document)
    return document


@pytest.fixture(scope="module")
def dag_side(local_s3, tmdb) -> dict:
    return land_dag_side(local_s3, tmdb, DAY)


def run(monkeypatch, local_s3, lambda_endpoint, day: date = DAY, function_name: str = "tmdb_ingest") -> str:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", local_s3.airflow_connection(lambda_endpoint))
    operator = LambdaParityOperator(
        task_id="invoke_lambda_parity", function_name=function_name, bucket=TEST_BUCKET
    )
    dag_run = SimpleNamespace(
        dag_id=settings.RAW_DAG_ID,
        partition_key=layout.partition_key(day),
        logical_date=None,
        run_after=datetime.now(UTC),
    )
    context = {
        "params": {name: getattr(run_params.DEFAULTS, name) for name in run_params.SCHEMAS},
        "dag_run": dag_run,
    }
    return operator.execute(context)


def test_the_same_lake_passes(monkeypatch, local_s3, lambda_endpoint, dag_side):
    answer = json.loads(run(monkeypatch, local_s3, lambda_endpoint))
    assert answer["ids"] == [series["id"] for series in dag_side["ranking"]]
    assert all(entry["key"].startswith("Parity/Lambda/Raw/TMDB/") for entry in answer["objects"])


def test_different_bytes_fail_naming_the_key(monkeypatch, local_s3, lambda_endpoint, tmdb):
    day = date(2026, 4, 2)

    def rewrite_the_last_detail(document: dict, store: S3ObjectStore) -> None:
        """The DAG's copy differs from the Lambda's, and its manifest records it as it is."""
        last = document["objects"][-1]
        stored = store.put(last["key"], b'{"id": 0}', source="test", records=1, fetched_at=last["fetched_at"])
        document["objects"][-1] = stored.as_dict()

    tampered = land_dag_side(local_s3, tmdb, day, rewrite_the_last_detail)
    last_key = tampered["objects"][-1]["key"]
    with pytest.raises(AirflowFailException, match=f"{last_key}: the DAG wrote 9 bytes"):
        run(monkeypatch, local_s3, lambda_endpoint, day)


def test_a_different_ranking_fails(monkeypatch, local_s3, lambda_endpoint, tmdb):
    day = date(2026, 4, 3)
    land_dag_side(local_s3, tmdb, day, lambda document, _: document["ranking"].reverse())
    with pytest.raises(AirflowFailException, match="ids: the DAG ranked"):
        run(monkeypatch, local_s3, lambda_endpoint, day)


def test_no_function_configured_skips(monkeypatch, local_s3, lambda_endpoint, dag_side):
    with pytest.raises(AirflowSkipException, match="No Lambda configured"):
        run(monkeypatch, local_s3, lambda_endpoint, function_name="")


def lambda_wrote(local_s3, day: date) -> list[str]:
    prefix = layout.tmdb_prefix(day, PARITY_PREFIX)
    listing = local_s3.client().list_objects_v2(Bucket=TEST_BUCKET, Prefix=prefix)
    return [obj["Key"] for obj in listing.get("Contents", [])]


def test_an_object_changed_after_its_manifest_fails_naming_it_without_invoking(
    monkeypatch, local_s3, lambda_endpoint, tmdb
):
    day = date(2026, 4, 4)
    land_dag_side(local_s3, tmdb, day)
    page = layout.discover_key(day, 1)
    local_s3.client().put_object(Bucket=TEST_BUCKET, Key=page, Body=b'{"page": 1, "results": []}')
    refused = f"Parity not checked: s3://{TEST_BUCKET}/{page} is 26 bytes"
    with pytest.raises(AirflowFailException, match=refused):
        run(monkeypatch, local_s3, lambda_endpoint, day)
    assert lambda_wrote(local_s3, day) == []


def test_a_partition_without_manifest_fails_as_incomplete(monkeypatch, local_s3, lambda_endpoint):
    day = date(2026, 4, 5)
    with pytest.raises(AirflowFailException, match=f"the raw partition {day} is not complete"):
        run(monkeypatch, local_s3, lambda_endpoint, day)
    assert lambda_wrote(local_s3, day) == []


@pytest.mark.parametrize(
    "argument, value",
    [
        ("invocation_type", "Event"),
        ("payload", "{}"),
        ("botocore_config", {}),
        ("retries", 3),
    ],
)
def test_an_argument_the_check_sets_itself_is_refused_naming_why(argument, value):
    with pytest.raises(InvalidParameter, match=f"sets {argument} itself \\({argument} is "):
        LambdaParityOperator(task_id="parity", function_name="f", bucket=TEST_BUCKET, **{argument: value})


@pytest.mark.parametrize(
    "argument, value",
    [
        ("qualifier", "live"),
        ("log_type", "Tail"),
        ("keep_empty_log_lines", False),
        ("client_context", "e30="),
        ("aws_conn_id", "lake_aws"),
        ("region_name", "sa-east-1"),
        ("verify", False),
    ],
)
def test_every_other_inherited_argument_is_honoured(argument, value):
    operator = LambdaParityOperator(
        task_id="parity", function_name="f", bucket=TEST_BUCKET, **{argument: value}
    )
    assert getattr(operator, argument) == value
    assert operator.invocation_type == "RequestResponse" and operator.retries == 0

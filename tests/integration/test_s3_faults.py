"""S3 misbehaving, for real on the wire: a proxy on loopback in front of the real S3 server
(``sandbox.s3_faults``) answers 503 SlowDown or 500, resets a connection half-way through a body, refuses
the credentials, the bucket or the region, or never answers; an endpoint that refuses connections or whose
name does not resolve. A transient fault heals within botocore's retries and the object lands byte-identical;
a permanent one fails at once naming the code, the bucket, the key and what to check; an unreachable S3
fails within ``seconds_to_give_up``; nothing half-written is ever read as the object."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from botocore.config import Config

from datalake import layout, settings
from datalake.airflow.operators import land_checked_csv
from datalake.airflow.tasks import lake_store
from datalake.csvs.files import MOVIES
from datalake.errors import LakeAccessError, LakeReadError, LakeUnreachable, LakeWriteError
from datalake.lake import manifest
from datalake.lake.storage import S3_RETRIES, S3ObjectStore, read_object, seconds_to_give_up
from local_stack.services import LocalS3, free_port
from sandbox.s3_faults import OTHER_REGION, FaultProxy, S3Fault, fault_proxy
from tests.conftest import TEST_BUCKET

ENTRY = {"source": "test", "records": 1, "fetched_at": "2026-12-04T00:00:00.000+00:00"}
BODY = json.dumps({"id": 209867, "name": "Frieren", "overview": "x" * 2000}).encode()
ROW = "|".join(["x"] * len(MOVIES.columns)) + "\n"
ATTEMPTS = S3_RETRIES["total_max_attempts"]
FAST = Config(connect_timeout=0.5, read_timeout=0.5)
"""Small timeouts, passed in as a connection's extra would, so that a test of the bound takes seconds."""


@pytest.fixture
def proxy(local_s3) -> Iterator[FaultProxy]:
    with fault_proxy(local_s3.endpoint_url) as running:
        yield running


def through(proxy: FaultProxy, local_s3: LocalS3) -> LocalS3:
    """``local_s3`` reached through ``proxy``."""
    return dataclasses.replace(local_s3, endpoint_url=proxy.endpoint_url)


def connect(monkeypatch, s3: LocalS3, config_kwargs: dict | None = None) -> None:
    """Point the AWS connection at ``s3``, with ``config_kwargs`` in its extra if given."""
    connection = json.loads(s3.airflow_connection())
    if config_kwargs:
        connection["extra"]["config_kwargs"] = config_kwargs
    monkeypatch.setenv(f"AIRFLOW_CONN_{settings.AWS_CONN_ID.upper()}", json.dumps(connection))
    monkeypatch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", TEST_BUCKET)


@pytest.fixture
def store(proxy, local_s3, monkeypatch) -> S3ObjectStore:
    """The lake as the DAG's tasks build it (``lake_store``), through the proxy."""
    connect(monkeypatch, through(proxy, local_s3))
    return lake_store()


def csv_of(path: Path, megabytes: float) -> Path:
    path.write_text(f"{MOVIES.header}\n" + ROW * int(megabytes * 1024 * 1024 / len(ROW)))
    return path


def on_disk(lake_root: Path, key: str) -> bytes | None:
    path = lake_root / TEST_BUCKET / key
    return path.read_bytes() if path.exists() else None


def nothing_at(local_s3: LocalS3, key: str) -> bool:
    client = local_s3.client()
    listed = client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=key)
    return "Contents" not in listed and not client.list_multipart_uploads(Bucket=TEST_BUCKET).get("Uploads")


def on_disk_exists(local_s3: LocalS3, key: str) -> bool:
    return read_object(local_s3.client(), TEST_BUCKET, key) is not None


def tries(proxy: FaultProxy, operation: str) -> list[str | None]:
    return [seen.fault for seen in proxy.seen if seen.operation == operation]


# 1. Throttling and server errors: botocore's standard retries heal them inside the call.


@pytest.mark.parametrize("fault", ["503", "500"])
def test_throttling_and_server_errors_on_a_put_are_retried_and_the_object_lands_byte_identical(
    fault, proxy, store, lake_root
):
    proxy.set_rules(S3Fault(fault, "PutObject", first=ATTEMPTS - 1))
    store.put("t/retried.json", BODY, **ENTRY)
    assert on_disk(lake_root, "t/retried.json") == BODY
    assert tries(proxy, "PutObject") == [fault] * (ATTEMPTS - 1) + [None]


@pytest.mark.parametrize("fault", ["503", "500"])
@pytest.mark.parametrize("operation", ["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"])
def test_throttling_and_server_errors_on_each_step_of_a_multipart_upload_are_retried(
    operation, fault, proxy, local_s3, tmp_path, monkeypatch, lake_root
):
    connect(monkeypatch, through(proxy, local_s3))
    path = csv_of(tmp_path / "movies.csv", 20)
    proxy.set_rules(S3Fault(fault, operation, first=2))
    stored = land_checked_csv(path, MOVIES, TEST_BUCKET, "t/multipart.csv", aws_conn_id=settings.AWS_CONN_ID)
    assert on_disk(lake_root, "t/multipart.csv") == path.read_bytes()
    assert stored["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert tries(proxy, operation)[:2] == [fault, fault]
    assert tries(proxy, "UploadPart").count(None) == 3, "three parts of 8 MiB, each landed once"


def test_throttling_that_outlasts_the_attempts_fails_as_transient_naming_the_code_and_lands_nothing(
    proxy, store, local_s3
):
    proxy.set_rules(S3Fault("503", "PutObject", first=None))
    with pytest.raises(LakeWriteError) as failed:
        store.put("t/throttled.json", BODY, **ENTRY)
    assert type(failed.value) is LakeWriteError, "not permanent: the task's retries try again"
    assert str(failed.value) == (
        f"Could not write s3://{TEST_BUCKET}/t/throttled.json at {proxy.endpoint_url}: "
        f"SlowDown after {ATTEMPTS} attempts."
    )
    assert tries(proxy, "PutObject") == ["503"] * ATTEMPTS, "botocore's attempts, and not one more of ours"
    assert nothing_at(local_s3, "t/throttled.json")


def test_a_multipart_upload_whose_part_fails_every_time_is_aborted_leaving_nothing(
    proxy, local_s3, tmp_path, monkeypatch
):
    connect(monkeypatch, through(proxy, local_s3))
    proxy.set_rules(S3Fault("500", "UploadPart", first=None))
    with pytest.raises(LakeWriteError, match=r"InternalError after 5 attempts|NoSuchUpload") as failed:
        land_checked_csv(
            csv_of(tmp_path / "m.csv", 20), MOVIES, TEST_BUCKET, "t/never.csv", aws_conn_id="aws_default"
        )
    assert not isinstance(failed.value, LakeAccessError)
    assert "AbortMultipartUpload" in [seen.operation for seen in proxy.seen]
    assert nothing_at(local_s3, "t/never.csv")


# 2. A connection reset half-way through a body.


def test_a_put_reset_half_way_through_its_body_is_sent_again_and_lands_byte_identical(
    proxy, store, lake_root
):
    proxy.set_rules(S3Fault("reset", "PutObject", first=2))
    store.put("t/reset.json", BODY, **ENTRY)
    assert on_disk(lake_root, "t/reset.json") == BODY
    assert tries(proxy, "PutObject") == ["reset", "reset", None]


def test_a_part_reset_half_way_through_its_body_is_sent_again_and_the_file_lands_byte_identical(
    proxy, local_s3, tmp_path, monkeypatch, lake_root
):
    connect(monkeypatch, through(proxy, local_s3))
    path = csv_of(tmp_path / "movies.csv", 20)
    proxy.set_rules(S3Fault("reset", "UploadPart", first=1))
    land_checked_csv(path, MOVIES, TEST_BUCKET, "t/reset.csv", aws_conn_id=settings.AWS_CONN_ID)
    assert on_disk(lake_root, "t/reset.csv") == path.read_bytes()
    sent = tries(proxy, "UploadPart")
    assert (sent.count("reset"), sent.count(None)) == (1, 3), "the part reset sent again, the others once"


def test_a_put_reset_every_time_fails_naming_the_endpoint_and_leaves_no_object(proxy, store, local_s3):
    proxy.set_rules(S3Fault("reset", "PutObject", first=None))
    with pytest.raises(LakeUnreachable) as failed:
        store.put("t/always-reset.json", BODY, **ENTRY)
    assert str(failed.value) == (
        f"Could not write s3://{TEST_BUCKET}/t/always-reset.json at {proxy.endpoint_url}: the S3 endpoint is "
        f"unreachable (the connection was closed or reset before the answer was whole) after {ATTEMPTS} "
        "attempts."
    )
    assert tries(proxy, "PutObject") == ["reset"] * ATTEMPTS
    assert nothing_at(local_s3, "t/always-reset.json")


def test_a_multipart_upload_reset_every_time_is_aborted_and_no_partial_object_is_visible(
    proxy, local_s3, tmp_path, monkeypatch
):
    connect(monkeypatch, through(proxy, local_s3))
    proxy.set_rules(S3Fault("reset", "UploadPart", first=None))
    with pytest.raises(LakeWriteError, match=f"at {proxy.endpoint_url}: ") as failed:
        land_checked_csv(
            csv_of(tmp_path / "m.csv", 20),
            MOVIES,
            TEST_BUCKET,
            "t/reset-never.csv",
            aws_conn_id="aws_default",
        )
    assert not isinstance(failed.value, LakeAccessError)
    assert nothing_at(local_s3, "t/reset-never.csv")
    assert read_object(local_s3.client(), TEST_BUCKET, "t/reset-never.csv") is None


def test_a_read_reset_half_way_through_its_answer_is_read_again_whole(proxy, store, local_s3):
    S3ObjectStore(local_s3.client(), TEST_BUCKET).put("t/read-reset.json", BODY, **ENTRY)
    proxy.set_rules(S3Fault("reset", "GetObject", first=1))
    assert read_object(store.client, TEST_BUCKET, "t/read-reset.json") == BODY
    assert tries(proxy, "GetObject") == ["reset", None]


def test_a_read_cut_off_every_time_fails_as_transient_naming_the_object_never_returning_half(
    proxy, store, local_s3
):
    S3ObjectStore(local_s3.client(), TEST_BUCKET).put("t/read-cut.json", BODY, **ENTRY)
    proxy.set_rules(S3Fault("reset", "GetObject", first=None))
    with pytest.raises(LakeReadError) as failed:
        read_object(store.client, TEST_BUCKET, "t/read-cut.json")
    assert str(failed.value).startswith(
        f"s3://{TEST_BUCKET}/t/read-cut.json at {proxy.endpoint_url} was cut off on its way back on "
        "3 attempts"
    )


# 4. Permanent errors: no botocore retry, no retry of ours, the cause named.

PERMANENT = {
    "403": ("AccessDenied", "check the AWS connection's credentials and what they may do on bucket"),
    "InvalidAccessKeyId": ("InvalidAccessKeyId", "knows no such access key id (the connection's login)"),
    "SignatureDoesNotMatch": ("SignatureDoesNotMatch", "the secret key (the connection's password)"),
    "NoSuchBucket": ("NoSuchBucket", "check the bucket's name, the Variable 'datalake_bucket'"),
    "redirect": ("PermanentRedirect", f"another region ({OTHER_REGION}) (PermanentRedirect); check the AWS"),
}


@pytest.mark.parametrize("fault", PERMANENT)
def test_a_permanent_error_on_a_put_fails_at_once_naming_code_bucket_key_and_what_to_check(
    fault, proxy, store, local_s3
):
    code, advice = PERMANENT[fault]
    proxy.set_rules(S3Fault(fault, "PutObject", first=None))
    with pytest.raises(LakeAccessError) as failed:
        store.put("t/refused.json", BODY, **ENTRY)
    message = str(failed.value)
    assert message.startswith(f"Could not write s3://{TEST_BUCKET}/t/refused.json at {proxy.endpoint_url}: ")
    assert code in message and advice in message, message
    assert local_s3.secret_key not in message and local_s3.access_key not in message
    # botocore sends a request refused for its region once more, to the region S3 named; nothing else.
    assert len(tries(proxy, "PutObject")) == (2 if fault == "redirect" else 1)
    assert nothing_at(local_s3, "t/refused.json")


@pytest.mark.parametrize("fault", ["403", "NoSuchBucket"])
@pytest.mark.parametrize("operation", ["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"])
def test_a_permanent_error_on_a_multipart_step_fails_at_once_and_leaves_nothing(
    operation, fault, proxy, local_s3, tmp_path, monkeypatch
):
    connect(monkeypatch, through(proxy, local_s3))
    proxy.set_rules(S3Fault(fault, operation, first=None))
    path = csv_of(tmp_path / "m.csv", 20)
    # Parts go up concurrently: the first refused one aborts the upload, so another may meet NoSuchUpload.
    with pytest.raises(LakeWriteError, match=f"{PERMANENT[fault][0]}|NoSuchUpload") as failed:
        land_checked_csv(path, MOVIES, TEST_BUCKET, "t/refused.csv", aws_conn_id=settings.AWS_CONN_ID)
    assert isinstance(failed.value, LakeAccessError), str(failed.value)
    parts = 3 if operation == "UploadPart" else 1
    assert 1 <= tries(proxy, operation).count(fault) <= parts, "no request sent again (3 parts at most)"
    assert nothing_at(local_s3, "t/refused.csv")


@pytest.mark.parametrize("fault", PERMANENT)
def test_a_permanent_error_on_a_read_fails_at_once_naming_it(fault, proxy, store, local_s3):
    code, advice = PERMANENT[fault]
    proxy.set_rules(S3Fault(fault, "GetObject", first=None))
    with pytest.raises(LakeAccessError) as failed:
        read_object(store.client, TEST_BUCKET, "t/any.json")
    message = str(failed.value)
    assert message.startswith(f"Could not read s3://{TEST_BUCKET}/t/any.json at {proxy.endpoint_url}: ")
    assert code in message and advice in message, message
    assert len(tries(proxy, "GetObject")) == (2 if fault == "redirect" else 1)


def test_a_manifest_read_refused_fails_at_once_not_as_an_incomplete_partition(proxy, store):
    proxy.set_rules(S3Fault("403", "GetObject", first=None))
    with pytest.raises(LakeAccessError, match="AccessDenied"):
        manifest.read_manifest(store.client, TEST_BUCKET, date(2026, 12, 3), settings.RAW_DAG_ID)


@pytest.mark.parametrize(("fault", "operation"), [("403", "HeadObject"), ("403", "DeleteObject")])
def test_retracting_a_manifest_refused_fails_at_once_naming_it(fault, operation, proxy, store, local_s3):
    day = date(2026, 12, 3)
    key = layout.manifest_key(day, settings.RAW_DAG_ID)
    S3ObjectStore(local_s3.client(), TEST_BUCKET).put(key, b"{}", **ENTRY)
    proxy.set_rules(S3Fault(fault, operation, first=None))
    with pytest.raises(LakeAccessError) as failed:
        manifest.retract_manifest(store, day, settings.RAW_DAG_ID)
    assert str(failed.value).startswith(
        f"Could not delete s3://{TEST_BUCKET}/{key} at {proxy.endpoint_url}: "
    )
    assert on_disk_exists(local_s3, key), "a refused retraction leaves the manifest as it was"


# 5. S3 not there: a bounded, documented time, the endpoint named.


@pytest.fixture
def silent_socket() -> Iterator[str]:
    """A socket that accepts connections (the kernel's backlog) and never reads or answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


UNREACHABLE = {
    "refused": (lambda: f"http://127.0.0.1:{free_port()}", "connection refused"),
    "unresolvable": (lambda: "http://no-such-host.invalid:9000", "its host name does not resolve"),
}


@pytest.mark.parametrize("case", UNREACHABLE)
def test_an_s3_that_is_not_there_fails_the_write_within_the_bound_naming_the_endpoint(
    case, local_s3, monkeypatch
):
    endpoint, reason = UNREACHABLE[case][0](), UNREACHABLE[case][1]
    connect(monkeypatch, dataclasses.replace(local_s3, endpoint_url=endpoint), config_kwargs=vars_of(FAST))
    store = lake_store()
    started = time.monotonic()
    with pytest.raises(LakeUnreachable) as failed:
        store.put("t/nowhere.json", BODY, **ENTRY)
    elapsed = time.monotonic() - started
    assert str(failed.value) == (
        f"Could not write s3://{TEST_BUCKET}/t/nowhere.json at {endpoint}: the S3 endpoint is unreachable "
        f"({reason}) after {ATTEMPTS} attempts."
    )
    assert elapsed < seconds_to_give_up(store.client.meta.config)


def vars_of(config: Config) -> dict:
    return {"connect_timeout": config.connect_timeout, "read_timeout": config.read_timeout}


@pytest.mark.parametrize("where", ["proxy stall", "silent socket"])
def test_an_s3_that_accepts_and_never_answers_fails_within_the_bound_naming_the_endpoint(
    where, proxy, silent_socket, local_s3, monkeypatch
):
    endpoint = proxy.endpoint_url if where == "proxy stall" else silent_socket
    proxy.set_rules(S3Fault("stall", first=None))
    connect(monkeypatch, dataclasses.replace(local_s3, endpoint_url=endpoint), config_kwargs=vars_of(FAST))
    store = lake_store()
    assert (store.client.meta.config.read_timeout, store.client.meta.config.retries) == (
        0.5,
        S3_RETRIES,
    ), "the connection's timeouts win; the project's retries stay"
    started = time.monotonic()
    with pytest.raises(LakeUnreachable) as failed:
        store.put("t/silent.json", BODY, **ENTRY)
    elapsed = time.monotonic() - started
    assert str(failed.value) == (
        f"Could not write s3://{TEST_BUCKET}/t/silent.json at {endpoint}: the S3 endpoint is unreachable "
        f"(no answer within the read timeout of 0.5 s) after {ATTEMPTS} attempts."
    )
    assert ATTEMPTS * 0.5 <= elapsed < seconds_to_give_up(store.client.meta.config)
    if where == "proxy stall":
        assert tries(proxy, "PutObject") == ["stall"] * ATTEMPTS


def test_a_connections_own_retries_win_over_the_projects(proxy, local_s3, monkeypatch):
    connect(monkeypatch, through(proxy, local_s3), config_kwargs={"retries": {"max_attempts": 1}})
    store = lake_store()
    proxy.set_rules(S3Fault("503", "PutObject", first=None))
    with pytest.raises(LakeWriteError, match="SlowDown after 2 attempts"):
        store.put("t/theirs.json", BODY, **ENTRY)
    assert tries(proxy, "PutObject") == ["503", "503"]
    assert store.client.meta.config.retries["mode"] == "standard"


def test_the_lambdas_client_retries_as_the_dags_do_unless_its_environment_says_otherwise(monkeypatch):
    from lambda_function import handler

    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = handler.s3_client().meta.config
    assert (config.retries, config.connect_timeout, config.read_timeout) == (
        S3_RETRIES,
        5,
        30,
    )
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert handler.s3_client().meta.config.retries == {"mode": "adaptive", "total_max_attempts": 2}


# The whole partition, at the DAG level.


@pytest.fixture(scope="module")
def raw_dag_through(local_s3, tmdb) -> Iterator[tuple[object, FaultProxy]]:
    """The raw DAG on a fresh metadata DB, its S3 connection going through the fault proxy."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from tests.conftest import REPO

    db.initdb()
    with fault_proxy(local_s3.endpoint_url) as running, pytest.MonkeyPatch.context() as patch:
        proxied = dataclasses.replace(local_s3, endpoint_url=running.endpoint_url)
        patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", proxied.airflow_connection())
        patch.setenv("AIRFLOW_CONN_TMDB_DEFAULT", tmdb.airflow_connection())
        patch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", TEST_BUCKET)
        patch.delenv("AIRFLOW_VAR_LAMBDA_FUNCTION_NAME", raising=False)
        yield DagBag(dag_folder=str(REPO / "dags")).dags[settings.RAW_DAG_ID], running


def run_of(dag, day: date):
    return dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))


def test_a_run_whose_every_write_is_throttled_first_lands_a_complete_byte_identical_partition(
    raw_dag_through, local_s3, lake_root
):
    """Every key's first PutObject (or multipart step) meets a 503 or 500, healed inside botocore's
    retries; the movies CSV meets 500s beyond them, so its task fails its first try and heals by its own."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    from datalake.airflow import retry_rules

    dag, proxy = raw_dag_through
    day = date(2026, 12, 2)
    movies = layout.csv_key(MOVIES, day)
    proxy.set_rules(
        S3Fault("500", "PutObject", key=movies, first=ATTEMPTS),
        S3Fault("503", "PutObject"),
        S3Fault("503", "CreateMultipartUpload"),
        S3Fault("500", "UploadPart"),
        S3Fault("503", "CompleteMultipartUpload"),
    )
    dag_run = run_of(dag, day)
    assert dag_run.state == "success"
    tried = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances() if ti.state == "success"}
    assert tried.pop("land_movies_csv") == 2
    assert set(tried.values()) == {1}, "every other write healed inside botocore's retries"
    with create_session() as session:
        history = session.query(TaskInstanceHistory).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id)
        assert [(ti.task_id, ti.retry_reason) for ti in history] == [
            ("land_movies_csv", retry_rules.TRANSIENT_SERVICE_ERROR.reason)
        ]
    document = manifest.read_manifest(local_s3.client(), TEST_BUCKET, day, settings.RAW_DAG_ID)
    assert len(document["objects"]) >= 13, "two CSVs, the discover page and the details of the top 10"
    for entry in document["objects"]:
        assert hashlib.sha256(on_disk(lake_root, entry["key"])).hexdigest() == entry["sha256"], entry["key"]
    throttled = {seen.key for seen in proxy.seen if seen.fault}
    assert throttled >= {entry["key"] for entry in document["objects"]} | {
        layout.manifest_key(day, settings.RAW_DAG_ID)
    }
    assert tries(proxy, "PutObject").count("500") == ATTEMPTS


def test_a_run_refused_by_s3_on_a_tmdb_write_fails_that_task_at_once_and_marks_nothing_complete(
    raw_dag_through, local_s3
):
    dag, proxy = raw_dag_through
    day = date(2026, 12, 3)
    refused = f"{layout.TMDB_ROOT}/*"
    proxy.set_rules(S3Fault("403", "PutObject", key=refused, first=None))
    dag_run = run_of(dag, day)
    assert dag_run.state == "failed"
    discover = dag_run.get_task_instance("discover_top_anime")
    assert (discover.state, discover.try_number) == ("failed", 1), "no Airflow retry"
    assert tries(proxy, "PutObject").count("403") == 1, "no botocore retry, no retry of ours"
    assert dag_run.get_task_instance("write_manifest").state == "upstream_failed"
    with pytest.raises(Exception, match="is not complete"):
        manifest.read_manifest(local_s3.client(), TEST_BUCKET, day, settings.RAW_DAG_ID)

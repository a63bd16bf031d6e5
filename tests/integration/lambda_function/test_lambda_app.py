"""The built zip invoked through the local Lambda endpoint with boto3, as the DAG's last task invokes it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest

from datalake.lake import parity
from datalake.lake.parity import PARITY_PREFIX
from datalake.lake.storage import S3ObjectStore
from datalake.tmdb import ingest as tmdb_ingest
from datalake.tmdb.client import TmdbClient
from datalake.tmdb.ranking import DiscoverQuery
from local_stack.services import _wait_for_port, free_port
from tests.catalog import expected_top
from tests.conftest import REPO, TEST_BUCKET


def invoke(client, name: str, event: object, **options) -> tuple[dict, object]:
    answer = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **options)
    return answer, json.loads(answer["Payload"].read())


def test_the_built_zip_lands_the_same_objects_as_the_dags_functions(lambda_client, local_s3, tmdb, lake_root):
    day = date(2026, 4, 1)
    started = time.monotonic()
    answer, result = invoke(lambda_client, "tmdb_ingest", {"date": day.isoformat(), "prefix": PARITY_PREFIX})
    latency = time.monotonic() - started

    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, result
    assert result["ids"] == expected_top(DiscoverQuery())
    for stored in result["objects"]:
        body = (lake_root / TEST_BUCKET / stored["key"]).read_bytes()
        assert stored["sha256"] == hashlib.sha256(body).hexdigest()
    assert latency < 30

    # The DAG's tasks call these same functions without a prefix: byte-identical objects.
    client, store = TmdbClient(tmdb.credential, tmdb.base_url), S3ObjectStore(local_s3.client(), TEST_BUCKET)
    discovery = tmdb_ingest.discover_top_series(client, store, DiscoverQuery(), day)
    details = [tmdb_ingest.land_series_details(client, store, i, "pt-BR", day) for i in discovery.ids]
    dag_objects = [stored.as_dict() for stored in discovery.objects + details]
    assert parity.compare(discovery.ids, dag_objects, result) == []


def test_a_bad_event_is_an_unhandled_function_error_naming_the_key(lambda_client):
    answer, error = invoke(lambda_client, "tmdb_ingest", {"top_n": 0})
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "InvalidParameter"
    assert "'top_n' must be from 1 to 100" in error["errorMessage"]


def test_an_exception_answers_like_lambda(lambda_client):
    answer, error = invoke(lambda_client, "fail", {})
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "the toy function failed"
    assert any("handler.py" in frame and "in fail" in frame for frame in error["stackTrace"])


def test_a_timeout_answers_like_lambda(lambda_client):
    started = time.monotonic()
    answer, error = invoke(lambda_client, "sleep", {})
    assert time.monotonic() - started < 10
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")


def test_a_missing_handler_answers_like_lambda(lambda_client):
    answer, error = invoke(lambda_client, "missing_handler", {})
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.HandlerNotFound"


def test_an_unknown_function_is_not_found(lambda_client):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as failure:
        invoke(lambda_client, "nowhere", {})
    assert failure.value.response["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nowhere"
    )


def test_a_function_whose_zip_is_not_built_says_so(lambda_client):
    with pytest.raises(lambda_client.exceptions.ServiceException, match="make lambda-package"):
        invoke(lambda_client, "no_code", {})


def test_a_payload_that_is_not_json_is_refused(lambda_client):
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException):
        lambda_client.invoke(FunctionName="echo", Payload=b"{not json")


def test_the_function_gets_its_event_environment_context_and_log(lambda_client):
    answer, result = invoke(lambda_client, "echo", {"x": 1}, LogType="Tail")
    assert result["event"] == {"x": 1}
    assert result["function"] == "echo"
    assert result["greeting"] == "hello"
    assert 0 < result["remaining_ms"] <= 10_000
    log = base64.b64decode(answer["LogResult"]).decode()
    assert "printed to the log" in log and "REPORT RequestId" in log


def test_only_the_zip_and_the_runtimes_sdk_are_importable(lambda_client):
    answer, version = invoke(lambda_client, "uses_boto3", {})
    assert "FunctionError" not in answer and version
    answer, error = invoke(lambda_client, "uses_requests", {})
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ModuleNotFoundError"


def test_an_event_invocation_is_accepted_at_once(lambda_client):
    answer = lambda_client.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")
    assert answer["StatusCode"] == 202


def test_a_function_can_be_named_by_its_arn(lambda_client):
    answer, result = invoke(lambda_client, "arn:aws:lambda:us-east-1:000000000000:function:echo", {})
    assert result["function"] == "echo"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_endpoint_leaves_no_temporary_work_dir(tmp_path, signum):
    """Without --work-dir the zips unpack into a temporary folder, which goes when the server is stopped."""
    config = tmp_path / "functions.json"
    config.write_text(json.dumps({"functions": {}}))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port = free_port()
    command = [sys.executable, "-m", "sandbox.lambda_app", "--port", str(port), "--config", str(config)]
    with (tmp_path / "lambda_app.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, "TMPDIR": str(scratch)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _wait_for_port(port, process, "sandbox.lambda_app", tmp_path / "lambda_app.log")
    assert [path.name[:13] for path in scratch.iterdir()] == ["local-lambda-"]
    process.send_signal(signum)
    assert process.wait(timeout=30) == 128 + signum
    assert list(scratch.iterdir()) == []

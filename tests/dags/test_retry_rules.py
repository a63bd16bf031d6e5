"""The retry rules: which failures fail at once and which retry, declared once and attached to every task."""

from __future__ import annotations

import inspect
import json
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import RetryAction
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError

from datalake import errors, run_params, settings
from datalake.airflow import retry_rules
from datalake.errors import (
    CorruptRead,
    CorruptWrite,
    CsvContractError,
    InvalidConnection,
    InvalidInput,
    InvalidParameter,
    LakeAccessError,
    LakeReadError,
    LakeUnreachable,
    LakeWriteError,
    PartitionChanged,
    PartitionIncomplete,
    TmdbAuthError,
    TmdbBadAnswer,
    TmdbError,
    TmdbNotFound,
    TmdbUnexpectedAnswer,
)
from tests.conftest import REPO

URL = "http://127.0.0.1:1/3/tv/1"


def unknown_parameter() -> InvalidParameter:
    """What ``open_partition`` raises for ``conf={"topn": 5}``, from the code itself."""
    with pytest.raises(InvalidParameter) as refused:
        run_params.check_known({**run_params.RUN_DEFAULTS, "topn": 5})
    return refused.value


FAILS_AT_ONCE = [
    (
        CsvContractError(Path("movies.csv"), 6, "expected 15 fields separated by '|', found 14"),
        retry_rules.BROKEN_CONTRACT,
    ),
    (TmdbAuthError("the credential was refused", url=URL, status=401), retry_rules.REFUSED_CREDENTIAL),
    (TmdbNotFound("TMDB has no TV series with id 1.", url=URL, status=404), retry_rules.UNKNOWN_SERIES),
    (
        TmdbUnexpectedAnswer(
            "TMDB's answer for TV series 1 has no 'id'", url=URL, status=200, content_type="", head=""
        ),
        retry_rules.UNEXPECTED_ANSWER,
    ),
    (unknown_parameter(), retry_rules.PERMANENT),
    (InvalidConnection("Connection 'tmdb_default' has no password"), retry_rules.PERMANENT),
    (InvalidInput("The Lambda's result must be an object with 'ids' and 'objects'."), retry_rules.PERMANENT),
    (PartitionIncomplete("the raw partition 2026-11-27 is not complete"), retry_rules.PERMANENT),
    (PartitionChanged("s3://datalake/k is 7 bytes, but the manifest records 9"), retry_rules.PERMANENT),
    (
        LakeAccessError("Could not write s3://datalake/k at http://127.0.0.1:1: access was refused"),
        retry_rules.REFUSED_BY_S3,
    ),
]
RETRIED = [
    TmdbError("TMDB answered 503", url=URL, status=503),
    TmdbError("TMDB answered 429", url=URL, status=429),
    TmdbError(f"TMDB answered too slowly at {URL} (read timeout 30 s)", url=URL),
    LakeWriteError("Could not write s3://datalake/k at http://127.0.0.1:1: the S3 endpoint is unreachable."),
    CorruptWrite("s3://datalake/k at http://127.0.0.1:1 did not land whole in 3 attempts (last: BadDigest)"),
    CorruptRead("s3://datalake/k failed its checksum as it was read (CRC32 differs)"),
    LakeUnreachable("Could not write s3://datalake/k at http://127.0.0.1:1: the S3 endpoint is unreachable"),
    LakeReadError("s3://datalake/k at http://127.0.0.1:1 was cut off on its way back on 3 attempts"),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ClientError({"Error": {"Code": "SlowDown"}}, "PutObject"),
    S3UploadFailedError("An error occurred (InternalError) when calling the UploadPart operation"),
]


@pytest.mark.parametrize(
    ("error", "rule"), FAILS_AT_ONCE, ids=[type(error).__name__ for error, _ in FAILS_AT_ONCE]
)
def test_a_failure_that_cannot_heal_fails_at_once_by_its_own_rule(error, rule):
    decision = retry_rules.RETRY_POLICY.evaluate(error, try_number=1, max_tries=3)
    assert decision.action == RetryAction.FAIL
    assert decision.reason == rule.reason


@pytest.mark.parametrize("error", RETRIED, ids=lambda error: f"{type(error).__name__}-{error}"[:40])
def test_a_failure_that_may_heal_is_retried_with_the_tasks_backoff(error):
    decision = retry_rules.RETRY_POLICY.evaluate(error, try_number=1, max_tries=3)
    assert decision.action == RetryAction.RETRY
    assert decision.reason == retry_rules.TRANSIENT_SERVICE_ERROR.reason
    assert decision.retry_delay is None, "a delay of its own would replace the exponential backoff"


def test_a_garbled_tmdb_answer_is_retried_by_its_own_rule_with_the_tasks_backoff():
    garbled = TmdbBadAnswer(
        "TMDB's answer for TV series 1 is not JSON", url=URL, status=200, content_type="text/html", head="''"
    )
    decision = retry_rules.RETRY_POLICY.evaluate(garbled, try_number=1, max_tries=3)
    assert (decision.action, decision.reason) == (RetryAction.RETRY, retry_rules.GARBLED_ANSWER.reason)
    assert decision.retry_delay is None


@pytest.mark.parametrize(
    "error",
    [
        KeyError("ranking"),
        ValueError("invalid literal for int() with base 10: 'x'"),
        json.JSONDecodeError("Expecting value", "<html>", 0),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_failure_no_rule_names_a_plain_value_error_included_takes_the_tasks_own_retries(error):
    decision = retry_rules.RETRY_POLICY.evaluate(error, try_number=1, max_tries=3)
    assert decision.action == RetryAction.DEFAULT


PACKAGE_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.DatalakeError) and cls is not errors.DatalakeError
]


@pytest.mark.parametrize("error_class", PACKAGE_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_of_the_package_fails_at_once_if_permanent_and_is_retried_otherwise(error_class):
    error = error_class.__new__(error_class)  # the rules look at the class alone
    decision = retry_rules.RETRY_POLICY.evaluate(error, try_number=1, max_tries=3)
    permanent = issubclass(error_class, errors.Permanent)
    assert decision.action == (RetryAction.FAIL if permanent else RetryAction.RETRY)


@pytest.mark.parametrize("dag_id", [settings.RAW_DAG_ID, settings.REPORT_DAG_ID])
def test_every_task_of_both_dags_retries_by_the_rules(dag_id):
    """Operators and mapped tasks included: the CSV landing, the parity check, the details."""
    dag = DagBag(dag_folder=str(REPO / "dags")).dags[dag_id]
    for task in dag.tasks:
        assert task.retry_policy.serialize() == retry_rules.RETRY_POLICY.serialize(), task.task_id
        backoff = (task.retry_delay, task.retry_exponential_backoff)
        assert backoff == (timedelta(seconds=10), 2.0), task.task_id
    if dag_id == settings.RAW_DAG_ID:
        assert dag.get_task("invoke_lambda_parity").retries == 0, "the Lambda never runs twice"
        assert dag.get_task("land_movies_csv").retries == 2

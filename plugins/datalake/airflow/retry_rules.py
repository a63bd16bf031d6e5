"""Which failures are worth another try: the lake's retry rules, declared once for every task of both DAGs.

They are keyed on what an error means (``datalake.errors``), not on the built-in it also is. What is
``Permanent`` (a broken CSV contract, a refused credential, an unknown series, a TMDB answer of another
shape, a parameter, connection, input or partition that is not as expected) fails the same way on every
try, so it fails the task at once. A failure that may heal (any other ``DatalakeError``: S3 or TMDB
unreachable, a 5xx, a 429, a timeout, a TMDB answer garbled or cut short, a body corrupted on the way; and
botocore's own errors) is retried within the task's ``retries``, after its
``retry_delay`` grown by its exponential backoff (no rule sets a delay of its own).
What no rule names (a plain ``ValueError`` or ``KeyError`` from a bug, a JSON body that does not parse)
takes the task's own retries.

Rules are tried in order and the first that matches decides: the four permanent failures with a reason of
their own (S3 refusing the credentials, the bucket or the region among them) before ``Permanent``, and all
of them before any other ``DatalakeError`` (a refused credential is a ``TmdbError`` too, a refused S3
request a ``LakeWriteError``); a TMDB answer that came garbled is retried by a rule of its own, before the
rest. Airflow stores a rule's reason with the task instance and logs it. Both DAG files take
``TASK_DEFAULTS`` as their ``default_args``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from datalake.errors import (
    CsvContractError,
    DatalakeError,
    LakeAccessError,
    Permanent,
    TmdbAuthError,
    TmdbBadAnswer,
    TmdbNotFound,
    TmdbUnexpectedAnswer,
)

BROKEN_CONTRACT = RetryRule(
    exception=CsvContractError,
    action=RetryAction.FAIL,
    reason="The CSV breaks its contract: another try reads the same file.",
)
REFUSED_CREDENTIAL = RetryRule(
    exception=TmdbAuthError,
    action=RetryAction.FAIL,
    reason="TMDB refused the credential: another try sends the same one.",
)
UNKNOWN_SERIES = RetryRule(
    exception=TmdbNotFound,
    action=RetryAction.FAIL,
    reason="TMDB has no such resource (404): another try asks for the same one.",
)
UNEXPECTED_ANSWER = RetryRule(
    exception=TmdbUnexpectedAnswer,
    action=RetryAction.FAIL,
    reason="TMDB answered JSON of another shape than asked for, or a body over the size cap: another try "
    "gets the same document.",
)
REFUSED_BY_S3 = RetryRule(
    exception=LakeAccessError,
    action=RetryAction.FAIL,
    reason="S3 refused the request (credentials, bucket or region): another try is refused the same way.",
)
PERMANENT = RetryRule(
    exception=Permanent,
    action=RetryAction.FAIL,
    reason="A parameter, connection, input or partition is not as expected: another try reads the same.",
)
GARBLED_ANSWER = RetryRule(
    exception=TmdbBadAnswer,
    action=RetryAction.RETRY,
    reason="TMDB's answer was not JSON, did not parse, or was cut short or stalled (a proxy's page, a "
    "connection lost mid-body): retry with backoff.",
)
TRANSIENT_SERVICE_ERROR = RetryRule(
    exception=[DatalakeError, BotoCoreError, ClientError, S3UploadFailedError],
    action=RetryAction.RETRY,
    reason="TMDB or S3 failed in a way that may heal (unreachable, 5xx, 429, timeout, corrupted on the way): "
    "retry with backoff.",
)

RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        BROKEN_CONTRACT,
        REFUSED_CREDENTIAL,
        UNKNOWN_SERIES,
        UNEXPECTED_ANSWER,
        REFUSED_BY_S3,
        PERMANENT,
        GARBLED_ANSWER,
        TRANSIENT_SERVICE_ERROR,
    ]
)

TASK_DEFAULTS = {
    "retries": 2,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": 2.0,
    "retry_policy": RETRY_POLICY,
}
"""How every task of both DAGs retries: twice, as the rules above allow, after 10-20 s then 20-40 s (the
delay doubles with each try; Airflow spreads each wait over [delay, 2 x delay))."""

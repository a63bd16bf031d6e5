"""The amazon provider's operators, each with the checks this lake needs around it."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.lambda_function import LambdaInvokeFunctionOperator
from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import BaseOperator
from airflow.sdk.bases.decorator import TaskDecorator, task_decorator_factory
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.utils import ChunksizeAdjuster

from datalake import layout, run_params
from datalake.airflow import assets
from datalake.airflow.tasks import announce, lake_hook, run_day
from datalake.csvs.files import CsvFile
from datalake.csvs.landing import (
    MD5_INSTEAD_OF_CRC32,
    ContractCheckedStream,
    ExpectedETag,
    logging_progress,
    sending_md5s,
    upload_response,
)
from datalake.errors import CsvContractError, InvalidParameter, LakeWriteError
from datalake.lake import lineage, manifest, parity
from datalake.lake.storage import StoredObject, s3_failure, stored_mismatch

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context


class ReportsLineage:
    """An operator whose run records what it read and wrote in ``self.recorded_lineage``
    (``datalake.lake.lineage``); the OpenLineage provider asks for it when the task ends, failed or not.

    Hook-level lineage cannot carry it: the provider drops an asset it has no converter for (an HTTP
    endpoint such as TMDB's), and ``airflow dags test`` runs every task in one process, where the hook
    lineage collector keeps what earlier tasks reported.
    """

    recorded_lineage: lineage.Lineage | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        from airflow.providers.common.compat.openlineage.facet import Dataset, InputDataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        recorded = self.recorded_lineage or lineage.Lineage()
        return OperatorLineage(
            inputs=[
                InputDataset(namespace=item.namespace, name=item.name, inputFacets=quality_facets(quality))
                if (quality := recorded.quality.get(item))
                else Dataset(namespace=item.namespace, name=item.name)
                for item in recorded.inputs
            ],
            outputs=[Dataset(namespace=item.namespace, name=item.name) for item in recorded.outputs],
        )


def quality_facets(quality: lineage.DataQuality) -> dict[str, Any]:
    """OpenLineage's ``dataQualityMetrics`` and ``dataQualityAssertions`` input facets of ``quality``."""
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as assertions
    from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as metrics

    return {
        "dataQualityMetrics": metrics.DataQualityMetricsInputDatasetFacet(
            rowCount=quality.row_count,
            bytes=quality.bytes,
            columnMetrics={
                column: metrics.ColumnMetrics(nullCount=count)
                for column, count in quality.null_counts.items()
            },
        ),
        "dataQualityAssertions": assertions.DataQualityAssertionsDatasetFacet(
            assertions=[
                assertions.Assertion(assertion=item.assertion, success=item.success, column=item.column)
                for item in quality.assertions
            ]
        ),
    }


class LineageTaskOperator(ReportsLineage, _PythonDecoratedOperator):
    """``@task``'s operator, reporting what the task body recorded with ``lineage.record``."""

    def execute(self, context: Context) -> Any:
        with lineage.recording() as self.recorded_lineage:
            return super().execute(context)


def lineage_task(
    python_callable: Any = None, multiple_outputs: bool | None = None, **kwargs: Any
) -> TaskDecorator:
    """``@task`` (same arguments) for a task that reports its inputs and outputs to OpenLineage."""
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=LineageTaskOperator,
        **kwargs,
    )


class CsvLandingOperator(ReportsLineage, BaseOperator):
    """Land one local CSV file unchanged under its run's key, only if it meets its contract; prove it landed
    whole.

    The contract is checked in the same pass that uploads the bytes; the SHA-256, row count and profile (nulls
    per column, duplicate rows) it learns are returned into XCom for the manifest and the event of
    ``assets.raw_csv(csv_file)``. A file
    that breaks its contract raises ``CsvContractError``, which the DAGs' retry rules
    (``datalake.airflow.retry_rules``) fail at once, and nothing is written: the upload is aborted before the
    object exists. An object that does not match the file is deleted before failing.
    The key is ``layout.csv_key`` of the CSV file and the run's day, so a re-run of a date replaces it.
    Its lineage: the local file as input, with OpenLineage's data-quality facets of what the pass measured
    (``lineage.landed_csv_quality``), the object as output.

    :param csv_file: which of the CSV files this is: its contract, and its folder and name in the lake.
    :param filename: path of the local file to land. (templated)
    :param dest_bucket: name of the lake's bucket. (templated)
    :param aws_conn_id: the Airflow connection to S3; None uses boto3's default credential chain.
    """

    template_fields: Sequence[str] = ("filename", "dest_bucket")

    def __init__(
        self,
        *,
        csv_file: CsvFile,
        filename: str,
        dest_bucket: str,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.csv_file = csv_file
        self.filename = filename
        self.dest_bucket = dest_bucket
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        key = layout.csv_key(self.csv_file, run_day(context["dag_run"]))
        stored = land_checked_csv(
            Path(self.filename),
            self.csv_file,
            self.dest_bucket,
            key,
            aws_conn_id=self.aws_conn_id,
            log=self.log,
        )
        source = lineage.local_file(self.filename)
        self.recorded_lineage = lineage.Lineage()
        self.recorded_lineage.add(
            inputs=[source],
            outputs=[lineage.s3_object(self.dest_bucket, key)],
            quality={source: lineage.landed_csv_quality(stored)},
        )
        announce(
            context["outlet_events"], assets.raw_csv(self.csv_file), run_day(context["dag_run"]), [stored]
        )
        return stored


def land_checked_csv(
    path: Path,
    csv_file: CsvFile,
    bucket: str,
    key: str,
    *,
    aws_conn_id: str | None,
    verify: str | bool | None = None,
    encrypt: bool = False,
    acl_policy: str | None = None,
    log: logging.Logger | logging.LoggerAdapter = LOG,
) -> dict[str, Any]:
    """The operator's landing without a task context: one pass that checks and uploads, then verification
    against the ETag in the server's response (a HEAD only when that ETag is not an MD5). Each PUT carries the
    MD5 of its bytes as ``Content-MD5``, in place of botocore's default CRC32: one hash serves both checks.

    Returns the StoredObject as a dict, with the pass's ``profile`` (``CsvProfile.as_dict``). A function of
    its own so that ``make bench`` measures exactly the code the DAG runs.
    """
    connection_config = lake_hook(aws_conn_id, verify=verify).config
    hook = S3Hook(
        aws_conn_id=aws_conn_id,
        verify=verify,
        extra_args={"ContentType": "text/csv; charset=utf-8"},
        config=connection_config.merge(Config(**MD5_INSTEAD_OF_CRC32)),
    )
    client = hook.get_conn()
    config = hook.transfer_config
    etag = ExpectedETag(
        config.multipart_threshold, ChunksizeAdjuster().adjust_chunksize(config.multipart_chunksize)
    )
    try:
        with (
            ContractCheckedStream(path, csv_file, etag, logging_progress(log)) as stream,
            upload_response(client) as response,
            sending_md5s(client, etag),
        ):
            hook.load_file_obj(stream, key, bucket, replace=True, encrypt=encrypt, acl_policy=acl_policy)
        facts = stream.facts
        problem = stored_mismatch(
            response, etag.value(), facts.bytes, lambda: client.head_object(Bucket=bucket, Key=key)
        )
    except CsvContractError:
        # The retry rules fail the task at once on this error; the log says what it left in the lake.
        log.error(
            "Nothing landed at s3://%s/%s: the file breaks its contract, the upload was aborted.", bucket, key
        )
        raise
    except (BotoCoreError, ClientError, S3UploadFailedError) as error:
        raise s3_failure(error, client, bucket, key) from None
    if problem:
        client.delete_object(Bucket=bucket, Key=key)
        raise LakeWriteError(f"s3://{bucket}/{key} did not land whole ({problem}); it was deleted.")
    log.info(
        "Landed s3://%s/%s: met the %s contract, %d rows, %d bytes, sha256 %s, verified",
        bucket,
        key,
        csv_file.name,
        facts.rows,
        facts.bytes,
        facts.sha256,
    )
    stored = StoredObject(
        key, facts.bytes, facts.sha256, str(path), facts.rows, layout.utc_timestamp(stream.modified)
    )
    return {**stored.as_dict(), "profile": facts.profile.as_dict()}


class LambdaParityOperator(LambdaInvokeFunctionOperator):
    """Runs the Lambda for this run's date and parameters under the parity prefix, then compares lakes.

    The DAG's side is read from the lake, as any reader would: the partition's manifest (none: the
    partition is incomplete, the check fails) and each TMDB object it lists, verified against its entry.
    The function must rank the same ids and write the same relative keys; with ``compare_bytes``, the
    same bytes too (true for a deterministic source such as the TMDB sandbox). A difference fails the
    task naming the keys. No function configured: skipped. The invoke is never retried (no botocore
    retries, no task retries), so the function never runs twice for one check.

    Every argument of ``LambdaInvokeFunctionOperator`` is honoured (``function_name``, ``qualifier``,
    ``log_type``, ``keep_empty_log_lines``, ``client_context``, ``aws_conn_id``, ``region_name``,
    ``verify``) except those the check sets itself, ``FIXED_ARGUMENTS``, which are refused naming why.

    :param function_name: the Lambda's name or ARN; empty skips the check. (templated)
    :param bucket: the lake's bucket, where both sides are read. (templated)
    :param compare_bytes: compare the objects' bytes too, not only keys and ranking; a string such as
        ``"False"`` (from a template) counts as false. (templated)
    """

    template_fields = (*LambdaInvokeFunctionOperator.template_fields, "compare_bytes", "bucket")

    FIXED_ARGUMENTS: dict[str, str] = {
        "invocation_type": "RequestResponse: the check needs the function's result",
        "payload": "the run's date, the parity prefix and the run's params",
        "botocore_config": "one attempt and a 900 s read timeout: the function must never run twice",
        "retries": "0: a retried check would run the function twice",
    }
    """What the check decides itself, with why: passing any of them is refused."""

    def __init__(self, *, bucket: str, compare_bytes: str | bool = True, **kwargs: Any):
        if fixed := sorted(self.FIXED_ARGUMENTS.keys() & kwargs.keys()):
            reasons = "; ".join(f"{name} is {self.FIXED_ARGUMENTS[name]}" for name in fixed)
            raise InvalidParameter(f"LambdaParityOperator sets {', '.join(fixed)} itself ({reasons}).")
        super().__init__(
            invocation_type="RequestResponse",
            botocore_config={
                "read_timeout": 900,
                "connect_timeout": 10,
                "retries": {"total_max_attempts": 1},
            },
            retries=0,
            **kwargs,
        )
        self.bucket = bucket
        self.compare_bytes = compare_bytes

    def execute(self, context: Context) -> str:
        if not self.function_name:
            raise AirflowSkipException(
                "No Lambda configured (param or Variable 'lambda_function_name'): parity not checked."
            )
        day = run_day(context["dag_run"])
        client = lake_hook(self.aws_conn_id).get_conn()
        try:
            document = manifest.read_manifest(client, self.bucket, day, context["dag_run"].dag_id)
            tmdb_objects = [
                entry for entry in document["objects"] if entry["key"].startswith(layout.TMDB_ROOT)
            ]
            for entry in tmdb_objects:
                manifest.read_listed(client, self.bucket, document, entry["key"])
        except ValueError as error:
            raise AirflowFailException(f"Parity not checked: {error}") from None
        chosen = context["params"]
        self.payload = json.dumps(
            {
                "date": day.isoformat(),
                "prefix": parity.PARITY_PREFIX,
                **{name: chosen[name] for name in run_params.SCHEMAS},
            }
        )
        result = super().execute(context)
        compare_bytes = str(self.compare_bytes).lower() not in ("false", "0", "no")
        differences = parity.compare(
            [series["id"] for series in document["ranking"]],
            tmdb_objects,
            result,
            compare_bytes=compare_bytes,
        )
        if differences:
            raise AirflowFailException(parity.summary(differences))
        self.log.info("Parity: the Lambda ranked and wrote the same %d objects.", len(tmdb_objects))
        return result

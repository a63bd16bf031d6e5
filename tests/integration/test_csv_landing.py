"""The CSV landing against a real S3 server: one pass checks and uploads; a violation anywhere lands nothing.

Then the operator around it: one test per argument it takes or refuses.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from datalake import layout, settings
from datalake.airflow import assets
from datalake.airflow.operators import CsvLandingOperator, land_checked_csv
from datalake.csvs.files import MOVIES, SERIES
from datalake.csvs.landing import ContractCheckedStream, ExpectedETag
from datalake.errors import CsvContractError, LakeWriteError
from tests.conftest import TEST_BUCKET

ROW = "|".join(["x"] * len(MOVIES.columns)) + "\n"
MULTIPART = 8 * 1024 * 1024
"""boto3's default multipart threshold and part size."""


@pytest.fixture
def s3(local_s3, monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_CONN_{settings.AWS_CONN_ID.upper()}", local_s3.airflow_connection())
    return local_s3.client()


def csv_of(path: Path, megabytes: float, last: str = ROW) -> Path:
    """A movies CSV of about ``megabytes``, its last line ``last``."""
    rows = int(megabytes * 1024 * 1024 / len(ROW))
    path.write_text(f"{MOVIES.header}\n" + ROW * rows + last)
    return path


def land(path: Path, key: str) -> dict:
    return land_checked_csv(path, MOVIES, TEST_BUCKET, key, aws_conn_id=settings.AWS_CONN_ID)


@pytest.mark.parametrize("megabytes", [0.5, 20])
def test_a_good_file_lands_unchanged_with_its_facts(s3, tmp_path, megabytes):
    path = csv_of(tmp_path / "movies.csv", megabytes)
    key = f"landing/good-{megabytes}.csv"
    stored = land(path, key)
    body = s3.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read()
    assert body == path.read_bytes()
    assert stored["sha256"] == hashlib.sha256(body).hexdigest()
    assert stored["records"] == body.count(b"\n") - 1
    assert stored["bytes"] == len(body)


@pytest.mark.parametrize("megabytes", [0.5, 20], ids=["single-part", "multipart"])
def test_a_bad_last_line_lands_nothing_and_leaves_no_upload_behind(
    s3, lake_root, tmp_path, megabytes, caplog
):
    path = csv_of(tmp_path / "movies.csv", megabytes, last="short|row\n")
    key = f"landing/bad-{megabytes}.csv"
    last_line = path.read_bytes().count(b"\n")
    expected = f"{path}: line {last_line}: expected {len(MOVIES.columns)} fields separated by '|', found 2"
    with pytest.raises(CsvContractError, match=re.escape(expected)):
        land(path, key)
    assert f"Nothing landed at s3://{TEST_BUCKET}/{key}: the file breaks its contract" in caplog.text
    assert "Contents" not in s3.list_objects_v2(Bucket=TEST_BUCKET, Prefix=key)
    assert not s3.list_multipart_uploads(Bucket=TEST_BUCKET).get("Uploads")
    assert not (lake_root / TEST_BUCKET / key).exists()
    assert not list((lake_root / TEST_BUCKET).rglob(".rclone_temp_multipart*")), (
        "parts left on the server's disk"
    )


def test_a_bad_file_leaves_the_object_of_an_earlier_run_as_it_was(s3, tmp_path):
    key = "landing/rerun.csv"
    good = csv_of(tmp_path / "movies.csv", 12)
    land(good, key)
    (tmp_path / "later").mkdir()
    bad = csv_of(tmp_path / "later" / "movies.csv", 12, last="a|b\n")
    with pytest.raises(CsvContractError):
        land(bad, key)
    assert s3.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read() == good.read_bytes()


def test_a_directory_fails_at_once_saying_so(s3, tmp_path):
    path = tmp_path / "movies.csv"
    path.mkdir()
    expected = f"{path}: is a directory, expected the Movies dataset's movies.csv file"
    with pytest.raises(CsvContractError, match=f"^{re.escape(expected)}$"):
        land(path, "landing/directory.csv")


def test_an_unreadable_file_fails_at_once_saying_so(s3, tmp_path, monkeypatch):
    """Simulated, as tests run as root (which reads any file): the kernel's answer to an open without
    permission (``tests/integration/test_csv_contract.py`` has it from the kernel itself)."""
    path = csv_of(tmp_path / "movies.csv", 0.1)
    real_open = os.open

    def open_or_deny(name, flags, *args, **kwargs):
        if Path(name) == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(name))
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_or_deny)
    expected = f"{path}: cannot be read: permission denied to uid {os.geteuid()}"
    with pytest.raises(CsvContractError, match=f"^{re.escape(expected)}$"):
        land(path, "landing/unreadable.csv")
    assert "Contents" not in s3.list_objects_v2(Bucket=TEST_BUCKET, Prefix="landing/unreadable.csv")


def test_a_named_pipe_fails_at_once_without_waiting_for_a_writer(s3, tmp_path):
    os.mkfifo(tmp_path / "movies.csv")
    with pytest.raises(CsvContractError, match=r"movies.csv: is a named pipe \(FIFO\), expected the"):
        land(tmp_path / "movies.csv", "landing/fifo.csv")


def test_a_file_removed_while_it_lands_lands_with_its_modification_time(s3, tmp_path, monkeypatch):
    path = csv_of(tmp_path / "movies.csv", 0.1)
    body, modified = path.read_bytes(), path.stat().st_mtime
    read = ContractCheckedStream.read

    def remove_then_read(stream: ContractCheckedStream, size: int = -1) -> bytes:
        path.unlink(missing_ok=True)
        return read(stream, size)

    monkeypatch.setattr(ContractCheckedStream, "read", remove_then_read)
    stored = land(path, "landing/removed.csv")
    assert s3.get_object(Bucket=TEST_BUCKET, Key="landing/removed.csv")["Body"].read() == body
    assert stored["fetched_at"] == layout.utc_timestamp(modified)


DAY = date(2026, 11, 27)


def landing_operator(**arguments) -> CsvLandingOperator:
    return CsvLandingOperator(
        **{
            "task_id": "land_movies_csv",
            "csv_file": MOVIES,
            "dest_bucket": TEST_BUCKET,
            "aws_conn_id": settings.AWS_CONN_ID,
            **arguments,
        }
    )


def execute(operator: CsvLandingOperator) -> tuple[dict, OutletEventAccessors]:
    """Run the operator for a manual run on DAY; returns what it returned and the events it emitted."""
    midnight = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=UTC)
    outlet_events = OutletEventAccessors()
    dag_run = SimpleNamespace(partition_key=None, logical_date=None, run_after=midnight)
    return operator.execute({"dag_run": dag_run, "outlet_events": outlet_events}), outlet_events


def test_the_operator_lands_its_file_under_its_key_for_the_runs_day(s3, tmp_path):
    path = csv_of(tmp_path / "movies.csv", 0.1)
    stored, _ = execute(landing_operator(filename=str(path)))
    key = layout.csv_key(MOVIES, DAY)
    assert stored["key"] == key and stored["source"] == str(path)
    assert s3.get_object(Bucket=TEST_BUCKET, Key=key)["Body"].read() == path.read_bytes()


def test_the_operator_applies_its_files_contract(s3, tmp_path):
    path = csv_of(tmp_path / "series.csv", 0.1)
    expected = f"{path}: line 1: header column 5 is 'tempoMinutos', expected 'anoTermino'"
    with pytest.raises(CsvContractError, match=f"^{re.escape(expected)}$"):
        execute(landing_operator(csv_file=SERIES, filename=str(path)))
    assert "Contents" not in s3.list_objects_v2(Bucket=TEST_BUCKET, Prefix=layout.csv_key(SERIES, DAY))


def test_the_operator_writes_to_its_dest_bucket(s3, tmp_path):
    s3.create_bucket(Bucket="datalake-other")
    path = csv_of(tmp_path / "movies.csv", 0.1)
    execute(landing_operator(filename=str(path), dest_bucket="datalake-other"))
    assert (
        s3.get_object(Bucket="datalake-other", Key=layout.csv_key(MOVIES, DAY))["Body"].read()
        == path.read_bytes()
    )


def test_the_operator_connects_through_its_aws_conn_id(s3, local_s3, tmp_path, monkeypatch):
    monkeypatch.delenv(f"AIRFLOW_CONN_{settings.AWS_CONN_ID.upper()}")
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_ELSEWHERE", local_s3.airflow_connection())
    path = csv_of(tmp_path / "movies.csv", 0.1)
    execute(landing_operator(filename=str(path), aws_conn_id="lake_elsewhere"))
    assert (
        s3.get_object(Bucket=TEST_BUCKET, Key=layout.csv_key(MOVIES, DAY))["Body"].read() == path.read_bytes()
    )


def test_filename_and_dest_bucket_are_templated():
    assert CsvLandingOperator.template_fields == ("filename", "dest_bucket")


@pytest.mark.parametrize("argument", [{"gzip": True}, {"replace": False}, {"dest_key": "x.csv"}])
def test_arguments_of_a_local_to_s3_transfer_are_refused_by_name(argument):
    refused = (
        "Invalid arguments were passed to CsvLandingOperator (task_id: land_movies_csv). "
        f"Invalid arguments were:\n**kwargs: {argument}"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(refused)}$"):
        landing_operator(filename="movies.csv", **argument)


def test_the_operator_reports_the_file_as_input_and_the_object_as_output_to_openlineage(s3, tmp_path):
    path = csv_of(tmp_path / "movies.csv", 0.1)
    operator = landing_operator(filename=str(path))
    execute(operator)
    reported = operator.get_openlineage_facets_on_complete(task_instance=None)
    assert [(item.namespace, item.name) for item in reported.inputs] == [("file", str(path))]
    assert [(item.namespace, item.name) for item in reported.outputs] == [
        (f"s3://{TEST_BUCKET}", layout.csv_key(MOVIES, DAY))
    ]


def test_the_landing_returns_the_nulls_per_column_and_the_duplicate_rows_it_measured(s3, tmp_path):
    null_row = "|".join(["\\N"] + ["x"] * (len(MOVIES.columns) - 2) + [""]) + "\n"
    path = tmp_path / "movies.csv"
    path.write_text(f"{MOVIES.header}\n" + ROW * 300_000 + null_row + "y" + ROW[1:])
    stored = land(path, "landing/profiled.csv")
    expected = dict.fromkeys(MOVIES.columns, 0) | {"id": 1, "titulosMaisConhecidos": 1}
    assert stored["profile"] == {"null_counts": expected, "duplicate_rows": 300_000 - 1}
    assert stored["records"] == 300_002 and stored["bytes"] > MULTIPART, "a multipart landing"


def test_the_operator_reports_its_files_data_quality_on_the_input_to_openlineage(s3, tmp_path):
    from openlineage.client.serde import Serde

    path = tmp_path / "movies.csv"
    path.write_text(f"{MOVIES.header}\n{ROW}{ROW}" + ROW.replace("x", "", 1))
    operator = landing_operator(filename=str(path))
    execute(operator)
    (reported,) = operator.get_openlineage_facets_on_complete(task_instance=None).inputs
    facets = Serde.to_dict(reported)["inputFacets"]
    metrics = facets["dataQualityMetrics"]
    assert (metrics["rowCount"], metrics["bytes"]) == (3, path.stat().st_size)
    assert {
        column: value["nullCount"] for column, value in metrics["columnMetrics"].items()
    } == dict.fromkeys(MOVIES.columns, 0) | {"id": 1}
    assert [
        (item["assertion"], item["success"]) for item in facets["dataQualityAssertions"]["assertions"]
    ] == [
        ("exact_header", True),
        ("field_count_per_line", True),
        ("utf8", True),
    ]


def test_the_operator_announces_what_landed_as_an_event_of_its_files_asset(s3, tmp_path, monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_VAR_{settings.BUCKET_VARIABLE.upper()}", TEST_BUCKET)
    path = csv_of(tmp_path / "movies.csv", 0.1)
    stored, outlet_events = execute(landing_operator(filename=str(path)))
    event = outlet_events[assets.raw_csv(MOVIES)]
    assert event.extra == {"bucket": TEST_BUCKET, "objects": [stored]}
    assert stored["key"] == layout.csv_key(MOVIES, DAY) and stored["bytes"] == path.stat().st_size
    assert event.partition_keys == {layout.partition_key(DAY)}


@pytest.mark.parametrize("megabytes", [0.5, 20], ids=["single-part", "multipart"])
def test_each_put_carries_the_md5_of_its_bytes_and_the_server_refuses_a_wrong_one(
    s3, tmp_path, monkeypatch, megabytes
):
    """The Content-MD5 stands in for botocore's CRC32, so no CRC32 is computed, and it is checked."""
    import botocore.httpchecksum

    crc32_bytes = []
    monkeypatch.setattr(
        botocore.httpchecksum.Crc32Checksum, "update", lambda _, chunk: crc32_bytes.append(len(chunk))
    )
    path = csv_of(tmp_path / "movies.csv", megabytes)
    assert land(path, "landing/md5.csv")["bytes"] == path.stat().st_size
    assert crc32_bytes == []
    wrong = hashlib.md5(b"not these bytes").digest()
    monkeypatch.setattr(ExpectedETag, "single_md5", lambda _: wrong)
    monkeypatch.setattr(ExpectedETag, "part_md5", lambda _, number: wrong)
    # Parts go up concurrently: the one refused answers BadDigest, and boto3 aborts the upload, so a part
    # still on its way may be the one reported, with NoSuchUpload. Either way nothing lands.
    with pytest.raises(LakeWriteError, match="BadDigest|NoSuchUpload"):
        land(path, "landing/md5-wrong.csv")
    assert "Contents" not in s3.list_objects_v2(Bucket=TEST_BUCKET, Prefix="landing/md5-wrong.csv")

"""What ``make run`` prints per task instance, a landing's progress, and a failed task's own errors."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from datalake import settings
from datalake.csvs.landing import logging_progress
from local_stack import progress
from local_stack.progress import (
    Follower,
    LandingProgress,
    ProgressLine,
    error_lines,
    human_bytes,
    latest_progress,
    log_records,
    returned_value,
    task_line,
    task_log_path,
)

DAG = settings.RAW_DAG_ID
RUN = "manual__2026-12-02T17:13:17.010780+00:00"
RUN_PATH = "/dags/datalake_raw_ingest/dagRuns/manual__2026-12-02T17%3A13%3A17.010780%2B00%3A00/taskInstances"
NOW = datetime(2026, 12, 2, 17, 14, tzinfo=UTC)


def ti(task_id: str, state: str = "success", duration: float | None = 1.3, map_index: int = -1, **extra):
    """A task instance as ``GET .../taskInstances`` gives it (the fields the printing reads)."""
    return {
        "task_id": task_id,
        "dag_id": DAG,
        "dag_run_id": RUN,
        "map_index": map_index,
        "rendered_map_index": None,
        "state": state,
        "duration": duration,
        "try_number": 1,
        "start_date": "2026-12-02T17:13:50.000000Z",
        "hostname": "vm",
        **extra,
    }


CSV_LANDED = {
    "key": "Raw/Local/CSV/Movies/2026/12/02/movies.csv",
    "bytes": 165_200_000,
    "sha256": "ab" * 32,
    "source": "/data/movies.csv",
    "records": 600_001,
    "fetched_at": "2026-12-01T10:00:00Z",
}
DETAILS = {"key": "Raw/TMDB/JSON/2026/12/02/tv/209867.json", "bytes": 1_412, "records": 1}


class Response:
    def __init__(self, status_code: int, body: object):
        self.status_code = status_code
        self._body = body

    def json(self) -> object:
        return self._body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeApi:
    """The REST API as ``Cluster.api`` calls it: answers by path, records each call."""

    def __init__(self, answers: dict[str, Response]):
        self.answers = answers
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, method: str, path: str, **kwargs) -> Response:
        self.calls.append((method, path, kwargs))
        return self.answers.get(path, Response(404, {"detail": "not found"}))


def xcom(task_id: str, value: object) -> tuple[str, Response]:
    return f"{RUN_PATH}/{task_id}/xcomEntries/return_value", Response(
        200, {"key": "return_value", "value": value}
    )


def log_answer(task_id: str, records: list[dict], try_number: int = 1) -> tuple[str, Response]:
    return f"{RUN_PATH}/{task_id}/logs/{try_number}", Response(
        200, {"content": records, "continuation_token": None}
    )


def failure_record(error: Exception) -> dict:
    """The record Airflow's task runner writes for a failed task: structlog's dict traceback, which the
    supervisor stores as ``error_detail``."""
    try:
        raise error
    except Exception as raised:
        detail = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)(
            (type(raised), raised, raised.__traceback__)
        )
    return {
        "timestamp": "2026-12-02T17:13:34.323109Z",
        "level": "error",
        "event": "Task failed with exception",
        "logger": "task",
        "error_detail": detail,
    }


def test_bytes_read_as_a_download_tool_shows_them():
    assert [human_bytes(n) for n in (0, 512, 1_412, 165_200_000, 3_200_000_000)] == [
        "0 B",
        "512 B",
        "1.4 kB",
        "165.2 MB",
        "3.2 GB",
    ]


def test_a_csv_landing_shows_its_size_rows_and_speed():
    line = task_line(ti("land_movies_csv", duration=1.3), CSV_LANDED)
    assert line.split() == [
        "ok",
        "land_movies_csv",
        "1.3",
        "s",
        "165.2",
        "MB,",
        "600,001",
        "rows,",
        "127",
        "MB/s",
    ]


def test_a_small_csv_landing_shows_its_speed_to_a_tenth():
    line = task_line(ti("land_series_csv", duration=0.4), {**CSV_LANDED, "bytes": 1_450_000, "records": 999})
    assert line.endswith("1.4 MB, 999 rows, 3.6 MB/s")


def test_a_landing_slower_than_a_megabyte_a_second_shows_its_speed_in_kilobytes():
    line = task_line(ti("land_series_csv", duration=1.7), {**CSV_LANDED, "bytes": 49_500, "records": 312})
    assert line.endswith("49.5 kB, 312 rows, 29.1 kB/s")


def test_a_mapped_fetch_is_labelled_with_its_rendered_index_and_shows_its_size():
    line = task_line(
        ti("fetch_series_details", duration=0.2, map_index=0, rendered_map_index="209867"), DETAILS
    )
    assert line.split() == ["ok", "fetch_series_details[209867]", "0.2", "s", "1.4", "kB"]


def test_a_mapped_instance_without_a_rendered_index_shows_its_index():
    assert (
        task_line(ti("write_partition_report", map_index=3), None).split()[1] == "write_partition_report[3]"
    )


def test_discovery_manifest_and_report_say_what_they_moved():
    pages = [{"key": f"Raw/TMDB/JSON/2026/12/02/discover/{n}.json", "bytes": 20_000} for n in (1, 2)]
    ranking = [{"id": n} for n in range(10)]
    assert task_line(ti("discover_top_anime"), {"ranking": ranking, "objects": pages}).endswith(
        "10 series ranked, 2 pages, 40.0 kB"
    )
    assert task_line(ti("discover_top_anime"), {"ranking": ranking, "objects": pages[:1]}).endswith(
        "10 series ranked, 1 page, 20.0 kB"
    )
    manifest = {"partition": "2026-12-02", "ranking": ranking, "objects": [CSV_LANDED, DETAILS, *pages]}
    assert task_line(ti("write_manifest"), manifest).endswith("manifest of 4 objects, 10 series ranked")
    report = [
        {"key": f"Refined/Reports/AnimeTop10/2026/12/02/report.{kind}", "bytes": 2_000} for kind in "ab"
    ]
    assert task_line(ti("write_partition_report"), report).endswith("2 files, 4.0 kB")
    assert task_line(ti("ranked_ids"), [209867, 31911]).endswith("2 items")
    assert task_line(ti("open_partition"), None).split() == ["ok", "open_partition", "1.3", "s"]


def test_failed_blocked_and_skipped_tasks_say_so_without_what_they_moved():
    assert task_line(ti("land_movies_csv", "failed"), CSV_LANDED).split() == [
        "FAILED",
        "land_movies_csv",
        "1.3",
        "s",
    ]
    assert task_line(ti("write_manifest", "upstream_failed", None)).split() == [
        "not",
        "run",
        "write_manifest",
        "-",
        "an",
        "upstream",
        "task",
        "failed",
    ]
    assert task_line(ti("invoke_lambda_parity", "skipped", 0.05)).split() == [
        "skipped",
        "invoke_lambda_parity",
        "0.1",
        "s",
    ]


def test_columns_line_up_whatever_the_label():
    lines = [
        task_line(ti("open_partition", duration=0.4)),
        task_line(
            ti("fetch_series_details", duration=12.5, map_index=2, rendered_map_index="209867"), DETAILS
        ),
        task_line(ti("close", duration=200.0)),
    ]
    ends = {line.index(" s") for line in lines}
    assert len(ends) == 1, lines
    assert "3 min 20 s" in lines[2]


def test_the_return_value_is_asked_for_the_instance_and_decoded():
    api = FakeApi(dict([xcom("fetch_series_details", json.dumps(DETAILS))]))
    assert returned_value(api, ti("fetch_series_details", map_index=4)) == DETAILS
    assert api.calls == [
        ("GET", f"{RUN_PATH}/fetch_series_details/xcomEntries/return_value", {"params": {"map_index": 4}})
    ]
    native = FakeApi(dict([xcom("land_movies_csv", CSV_LANDED)]))
    assert returned_value(native, ti("land_movies_csv")) == CSV_LANDED
    assert returned_value(FakeApi({}), ti("open_partition")) is None


def test_the_follower_prints_each_finished_instance_once_and_asks_for_its_value_once():
    api = FakeApi(dict([xcom("land_movies_csv", CSV_LANDED)]))
    out = io.StringIO()
    follower = Follower(api, out=out, tty=False, now=lambda: NOW)
    queued = ti("land_series_csv", "queued", None)
    follower.follow([ti("land_movies_csv"), queued])
    follower.follow([ti("land_movies_csv"), queued])
    follower.finished(ti("land_movies_csv"))
    assert out.getvalue().splitlines() == [task_line(ti("land_movies_csv"), CSV_LANDED)]
    assert len(api.calls) == 1
    follower.follow([ti("land_movies_csv", try_number=2)])  # a retry is a new line
    assert len(out.getvalue().splitlines()) == 2


def test_a_polls_finished_instances_are_printed_in_the_order_they_ended():
    """The REST API lists task instances by task id, not by time: a landing must not read as done before
    the task it waits for."""
    out = io.StringIO()
    follower = Follower(FakeApi({}), out=out, tty=False, now=lambda: NOW)
    follower.follow(
        [
            ti("land_movies_csv", end_date="2026-12-02T17:13:58.000000Z"),
            ti("blocked", "upstream_failed", None),
            ti("open_partition", end_date="2026-12-02T17:13:51.500000Z"),
            ti("land_series_csv", "running", start_date=None),
        ]
    )
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["open_partition", "land_movies_csv"]
    assert len(lines) == 3 and lines[2].startswith("not run  blocked")


def test_a_run_label_goes_before_each_line_of_that_run_only():
    """A backfill follows several runs at once: each line names its partition."""
    out = io.StringIO()
    follower = Follower(FakeApi({}), out=out, tty=False, now=lambda: NOW)
    follower.run_labels[RUN] = "2026-11-01"
    follower.follow([ti("open_partition"), ti("open_partition", dag_run_id="other")])
    assert out.getvalue().splitlines() == [
        f"2026-11-01  {task_line(ti('open_partition'))}",
        task_line(ti("open_partition")),
    ]


def test_a_failed_task_is_followed_by_its_own_error_lines_and_its_log_path(tmp_path):
    chatter = {
        "timestamp": "2026-12-02T17:13:34Z",
        "level": "info",
        "event": "AWS Connection retrieved",
        "logger": "x",
    }
    error = failure_record(
        RuntimeError("Could not write s3://datalake/Raw/x.csv: bucket 'datalake' does not exist.")
    )
    api = FakeApi(dict([log_answer("write_manifest", [chatter, error])]))
    out = io.StringIO()
    follower = Follower(api, out=out, tty=False, logs=tmp_path)
    follower.follow([ti("write_manifest", "failed", 0.4)])
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["FAILED", "write_manifest", "0.4", "s"]
    assert lines[1] == "    Task failed with exception"
    assert "AWS Connection" not in out.getvalue()
    assert "failure_record" in lines[2] and "test_progress.py" in lines[2]
    assert (
        lines[-2]
        == "      RuntimeError: Could not write s3://datalake/Raw/x.csv: bucket 'datalake' does not exist."
    )
    assert lines[-1] == f"    log: {tmp_path}/dag_id={DAG}/run_id={RUN}/task_id=write_manifest/attempt=1.log"
    assert follower.failed == [ti("write_manifest", "failed", 0.4)]


def test_error_lines_show_each_exception_of_a_chain_and_the_last_frames():
    try:
        try:
            raise KeyError("ranking")
        except KeyError as cause:
            raise ValueError("manifest incomplete") from cause
    except ValueError as error:
        record = failure_record(error)
    lines = error_lines([{"level": "warning", "event": "ignored"}, record], frames=1)
    assert lines[0] == "Task failed with exception"
    assert [line for line in lines if not line.startswith("  File")] == [
        "Task failed with exception",
        "  KeyError: 'ranking'",
        "  ValueError: manifest incomplete",
    ]
    assert sum(line.startswith("  File") for line in lines) == 2
    assert error_lines([{"level": "info", "event": "fine"}]) == []


def test_a_task_log_file_reads_as_records_a_stray_line_too():
    text = "\n".join(
        [
            json.dumps(
                {"timestamp": "2026-12-02T17:13:28Z", "level": "info", "event": "Landed", "logger": "t"}
            ),
            "Traceback printed by hand",
            "",
        ]
    )
    assert log_records(text) == [
        {"timestamp": "2026-12-02T17:13:28Z", "level": "info", "event": "Landed", "logger": "t"},
        {"event": "Traceback printed by hand"},
    ]


def test_the_latest_progress_is_read_from_what_the_landing_wrote():
    records = []

    class Log:
        def info(self, message, *args):
            records.append({"level": "info", "event": message % args, "logger": "airflow.task.operators"})

    records.append({"level": "info", "event": "AWS Connection retrieved"})
    tell = logging_progress(Log())
    tell(16_520_000, 165_200_000, 2.1)
    tell(82_600_000, 165_200_000, 4.4)
    records.append({"level": "info", "event": "Pushing xcom"})
    assert latest_progress(records) == LandingProgress(82_600_000, 165_200_000, 4.4)
    assert latest_progress(records).text() == "50% (82.6 MB of 165.2 MB)"
    assert latest_progress(records[:1]) is None


def test_on_a_terminal_progress_is_rewritten_in_place_and_cleared_for_a_line():
    out = io.StringIO()
    line = ProgressLine(out, tty=True)
    half = {"land_movies_csv": LandingProgress(50, 100, 3.0)}
    line.show(half)
    line.show(half)
    line.show(
        {"land_movies_csv": LandingProgress(80, 100, 5.0), "land_series_csv": LandingProgress(1, 4, 3.0)}
    )
    line.clear()
    line.clear()
    assert out.getvalue() == (
        "\rland_movies_csv 50% (50 B of 100 B)\x1b[K"
        "\rland_movies_csv 80% (80 B of 100 B)  land_series_csv 25% (1 B of 4 B)\x1b[K"
        "\r\x1b[K"
    )


def test_elsewhere_progress_is_a_plain_line_per_change():
    out = io.StringIO()
    line = ProgressLine(out, tty=False)
    line.show({"land_movies_csv": LandingProgress(50, 100, 3.0)})
    line.show({"land_movies_csv": LandingProgress(50, 100, 3.0)})
    line.show({"land_movies_csv": LandingProgress(80, 100, 5.0)})
    line.clear()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert [text.split() for text in out.getvalue().splitlines()] == [
        ["...", "land_movies_csv", "3.0", "s", "50%", "(50", "B", "of", "100", "B)"],
        ["...", "land_movies_csv", "5.0", "s", "80%", "(80", "B", "of", "100", "B)"],
    ]


def test_the_follower_reads_the_log_only_of_tasks_running_long_enough():
    records = [{"level": "info", "event": "Landing progress: 40% (40 of 100 bytes in 2.5 s)"}]
    api = FakeApi(dict([log_answer("land_movies_csv", records)]))
    out = io.StringIO()
    started = (NOW - timedelta(seconds=progress.SHOW_PROGRESS_AFTER - 1)).isoformat()
    follower = Follower(api, out=out, tty=True, now=lambda: NOW)
    follower.follow([ti("land_movies_csv", "running", None, start_date=started)])
    assert api.calls == [] and out.getvalue() == ""
    started = (NOW - timedelta(seconds=progress.SHOW_PROGRESS_AFTER + 1)).isoformat().replace("+00:00", "Z")
    follower.follow([ti("land_movies_csv", "running", None, start_date=started)])
    assert api.calls[0][1] == f"{RUN_PATH}/land_movies_csv/logs/1"
    assert api.calls[0][2]["headers"] == {"Accept": "application/json"}
    assert out.getvalue() == "\rland_movies_csv 40% (40 B of 100 B)\x1b[K"


@pytest.mark.parametrize(
    "map_index, tail", [(-1, "task_id=t/attempt=2.log"), (0, "task_id=t/map_index=0/attempt=2.log")]
)
def test_the_log_path_follows_airflows_default_template(map_index, tail):
    path = task_log_path(Path("/home/logs"), ti("t", map_index=map_index, try_number=2))
    assert str(path) == f"/home/logs/dag_id={DAG}/run_id={RUN}/{tail}"

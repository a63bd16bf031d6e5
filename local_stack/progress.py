"""What ``make run`` prints while it follows a DAG run through the REST API: one line per task instance as it
finishes (state, task, duration, what it moved), a running CSV landing's progress, a failed task's own errors.

The runner polls the run's task instances and hands each one to a ``Follower``; everything else here is
pure: it works on the REST API's JSON (task instances, XCom values, structured log records).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from datalake.csvs.landing import PROGRESS_PATTERN

Api = Callable[..., Any]
"""``api(method, path, **requests_kwargs) -> requests.Response``, the path under ``/api/v2`` (as
``local_stack.cluster.Cluster.api``)."""

FINAL_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
STATE_WORDS = {"success": "ok", "failed": "FAILED", "upstream_failed": "not run", "removed": "removed"}
"""How each final state reads in a task line; ``skipped`` reads as itself."""
LABEL_WIDTH = 36
SHOW_PROGRESS_AFTER = 2.0
"""Seconds a task runs before its log is read for progress: a landing tells nothing sooner (see
``datalake.csvs.landing.ProgressLog``)."""
ERROR_LEVELS = frozenset({"error", "critical"})


def human_bytes(count: int) -> str:
    """Bytes in decimal units, as a download tool shows them: ``512 B``, ``1.4 kB``, ``165.2 MB``."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def rate_text(bytes_per_second: float) -> str:
    """``127 MB/s``, ``3.4 MB/s``; below a megabyte a second in the unit that keeps digits: ``29.1 kB/s``."""
    megabytes = bytes_per_second / 1e6
    if megabytes >= 1:
        return f"{megabytes:.{0 if megabytes >= 10 else 1}f} MB/s"
    return f"{human_bytes(round(bytes_per_second))}/s"


def seconds_text(seconds: float | None) -> str:
    """``0.2 s``, ``42.0 s``, ``3 min 07 s``; ``-`` for a task that never ran."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def task_label(ti: Mapping[str, Any]) -> str:
    """The task id, and for a mapped instance its label: the rendered map index if the DAG renders one,
    else the index (``fetch_series_details[209867]``, ``some_task[3]``)."""
    map_index = ti.get("map_index", -1)
    if map_index is None or map_index < 0:
        return ti["task_id"]
    return f"{ti['task_id']}[{ti.get('rendered_map_index') or map_index}]"


def moved_text(moved: Any, seconds: float | None) -> str:
    """What a task's return value says it moved, for the task line; empty when it moved nothing.

    The shapes are the tasks' own return values: a stored object (``key``, ``bytes``, ``records``; a CSV
    landing also shows rows and MB/s), the discovery (``ranking`` and the pages in ``objects``), the
    manifest (``partition`` and ``objects``), or a list of stored objects (the report's files).
    """
    if isinstance(moved, Mapping):
        if "ranking" in moved and "objects" in moved:
            pages = moved["objects"]
            ranked = f"{len(moved['ranking'])} series ranked"
            if "partition" in moved:
                return f"manifest of {len(pages)} objects, {ranked}"
            counted = f"{len(pages)} page{'' if len(pages) == 1 else 's'}"
            return f"{ranked}, {counted}, {human_bytes(_total_bytes(pages))}"
        if "bytes" in moved:
            text = human_bytes(moved["bytes"])
            if str(moved.get("key", "")).endswith(".csv"):
                text += f", {moved.get('records', 0):,} rows"
                if seconds:
                    text += f", {rate_text(moved['bytes'] / seconds)}"
            return text
    if isinstance(moved, list) and moved and all(isinstance(entry, Mapping) for entry in moved):
        if all("bytes" in entry for entry in moved):
            return f"{len(moved)} files, {human_bytes(_total_bytes(moved))}"
    if isinstance(moved, list) and moved:
        return f"{len(moved)} items"
    return ""


def _total_bytes(entries: Iterable[Mapping[str, Any]]) -> int:
    return sum(entry.get("bytes", 0) for entry in entries)


def task_line(ti: Mapping[str, Any], moved: Any = None, width: int = LABEL_WIDTH) -> str:
    """One line for a finished task instance: state, task (with map label), duration, what it moved."""
    state = ti.get("state") or "none"
    word = STATE_WORDS.get(state, state)
    detail = moved_text(moved, ti.get("duration")) if state == "success" else ""
    if state == "upstream_failed":
        detail = "an upstream task failed"
    line = f"{word:<8} {task_label(ti):<{width}} {seconds_text(ti.get('duration')):>10}"
    return f"{line}  {detail}" if detail else line


def _ended(ti: Mapping[str, Any]) -> datetime:
    """When a finished instance ended; one that never ran (``upstream_failed``) sorts last."""
    ended = ti.get("end_date")
    if not ended:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.fromisoformat(ended)


def _ti_path(ti: Mapping[str, Any]) -> str:
    """The REST path of a task instance (its JSON names its DAG and run), each part quoted."""
    dag_id, run_id, task_id = (quote(ti[name], safe="") for name in ("dag_id", "dag_run_id", "task_id"))
    return f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"


def returned_value(api: Api, ti: Mapping[str, Any]) -> Any:
    """The task instance's return value (XCom ``return_value``), or None if it returned nothing."""
    response = api(
        "GET",
        f"{_ti_path(ti)}/xcomEntries/return_value",
        params={"map_index": ti.get("map_index", -1)},
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    value = response.json().get("value")
    if isinstance(value, str):  # the API gives the stored value as is, which may be the JSON text
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def finished_task_line(api: Api, ti: Mapping[str, Any], width: int = LABEL_WIDTH) -> str:
    """``task_line`` for a finished task instance, with what its return value says it moved."""
    moved = returned_value(api, ti) if ti.get("state") == "success" else None
    return task_line(ti, moved, width)


# --- task logs ---------------------------------------------------------------------------------------------


def log_records(text: str) -> list[dict[str, Any]]:
    """A task log file's structured records (Airflow writes one JSON object a line); a line that is not
    JSON becomes a record whose ``event`` is the line."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        records.append(record if isinstance(record, dict) else {"event": line})
    return records


def task_log(api: Api, ti: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records of the task instance's log for its current try, through
    ``GET .../taskInstances/{task_id}/logs/{try_number}`` (JSON: ``content`` is a list of records, or of
    plain lines where the log could not be parsed)."""
    response = api(
        "GET",
        f"{_ti_path(ti)}/logs/{ti.get('try_number') or 1}",
        params={"map_index": ti.get("map_index", -1)},
        headers={"Accept": "application/json"},
    )
    response.raise_for_status()
    return [
        entry if isinstance(entry, dict) else {"event": str(entry)}
        for entry in response.json().get("content", [])
    ]


def task_log_path(logs: Path, ti: Mapping[str, Any]) -> Path:
    """Where Airflow's default ``log_filename_template`` puts the task instance's log under ``logs``
    (``$AIRFLOW_HOME/logs``)."""
    path = logs / f"dag_id={ti['dag_id']}" / f"run_id={ti['dag_run_id']}" / f"task_id={ti['task_id']}"
    if ti.get("map_index", -1) >= 0:
        path /= f"map_index={ti['map_index']}"
    return path / f"attempt={ti.get('try_number') or 1}.log"


@dataclass(frozen=True)
class LandingProgress:
    """How far a landing is, from the last progress line of its log."""

    done: int
    total: int
    seconds: float

    @property
    def percent(self) -> int:
        return self.done * 100 // max(self.total, 1)

    def text(self) -> str:
        return f"{self.percent}% ({human_bytes(self.done)} of {human_bytes(self.total)})"


def latest_progress(records: Iterable[Mapping[str, Any]]) -> LandingProgress | None:
    """The last progress line that ``datalake.csvs.landing`` wrote in the log, or None."""
    found = None
    for record in records:
        match = PROGRESS_PATTERN.search(str(record.get("event", "")))
        if match:
            found = LandingProgress(int(match[1]), int(match[2]), float(match[3]))
    return found


def error_lines(records: Iterable[Mapping[str, Any]], frames: int = 3) -> list[str]:
    """A failed task's own errors from its log: each ERROR (or CRITICAL) record's message, and for one with
    a traceback (``error_detail``) its last ``frames`` frames and each exception of the chain."""
    lines: list[str] = []
    for record in records:
        if str(record.get("level", "")).lower() not in ERROR_LEVELS:
            continue
        lines.append(str(record.get("event", "")))
        for exception in reversed(record.get("error_detail") or []):  # the first cause first, as Python
            if not isinstance(exception, Mapping):
                continue
            for frame in (exception.get("frames") or [])[-frames:]:
                where = f'"{frame.get("filename")}", line {frame.get("lineno")}, in {frame.get("name")}'
                lines.append(f"  File {where}")
            lines.append(f"  {exception.get('exc_type')}: {exception.get('exc_value')}")
    return lines


# --- printing -----------------------------------------------------------------------------------------------


class ProgressLine:
    """Running landings' progress: rewritten in place on a terminal (``\\r``), else a plain line each time
    a landing's progress changes."""

    def __init__(self, out: TextIO, tty: bool | None = None, width: int = LABEL_WIDTH):
        self._out = out
        self._width = width
        self._tty = out.isatty() if tty is None else tty
        self._shown = ""
        self._last: dict[str, LandingProgress] = {}

    def show(self, running: Mapping[str, LandingProgress]) -> None:
        if self._tty:
            text = "  ".join(f"{label} {progress.text()}" for label, progress in running.items())
            if text != self._shown:
                self._out.write(f"\r{text}\x1b[K")
                self._out.flush()
                self._shown = text
            return
        for label, progress in running.items():
            if self._last.get(label) != progress:
                elapsed = seconds_text(progress.seconds)
                self._out.write(f"{'...':<8} {label:<{self._width}} {elapsed:>10}  {progress.text()}\n")
                self._last[label] = progress
        self._out.flush()

    def clear(self) -> None:
        """Make way for a plain line: on a terminal, the in-place line is wiped."""
        if self._tty and self._shown:
            self._out.write("\r\x1b[K")
            self._shown = ""


class Follower:
    """Prints DAG runs' task instances as the runner polls them: each finished one once, as a
    ``task_line`` (a failed one followed by its own error lines and its log's path), and the progress of
    those running longer than ``SHOW_PROGRESS_AFTER`` whose log says how far they are. One follower can
    follow several runs (the raw DAG's, then the report's): the columns stay aligned.

    ``logs`` is ``$AIRFLOW_HOME/logs`` when the runner's Airflow is local, to print a failed task's path.
    """

    def __init__(
        self,
        api: Api,
        *,
        out: TextIO | None = None,
        tty: bool | None = None,
        logs: Path | None = None,
        width: int = LABEL_WIDTH,
        now: Callable[[], datetime] | None = None,
    ):
        self.api = api
        self._out = out or sys.stdout
        self._progress = ProgressLine(self._out, tty, width)
        self._logs = logs
        self._width = width
        self._now = now or (lambda: datetime.now(UTC))
        self._printed: set[tuple[Any, ...]] = set()
        self.failed: list[Mapping[str, Any]] = []
        """The failed task instances printed so far."""
        self.run_labels: dict[str, str] = {}
        """A label by run id, put before that run's task lines: the partition, when several runs are
        followed at once (a backfill)."""

    def follow(self, task_instances: Iterable[Mapping[str, Any]]) -> None:
        """One poll's task instances (``GET .../taskInstances``' items): new finished ones printed,
        running ones' progress shown."""
        running: dict[str, LandingProgress] = {}
        instances = list(task_instances)
        for ti in sorted((ti for ti in instances if ti.get("state") in FINAL_STATES), key=_ended):
            self.finished(ti)
        for ti in instances:
            if ti.get("state") == "running" and self._long_running(ti):
                progress = latest_progress(task_log(self.api, ti))
                if progress:
                    running[task_label(ti)] = progress
        if running:
            self._progress.show(running)

    def finished(self, ti: Mapping[str, Any]) -> None:
        """Print a finished task instance's line, unless it was printed already (same try)."""
        key = tuple(ti.get(name) for name in ("dag_id", "dag_run_id", "task_id", "map_index", "try_number"))
        if key in self._printed:
            return
        self._printed.add(key)
        lines = [finished_task_line(self.api, ti, self._width)]
        if label := self.run_labels.get(str(ti.get("dag_run_id"))):
            lines[0] = f"{label}  {lines[0]}"
        if ti.get("state") == "failed":
            self.failed.append(ti)
            lines += [f"    {line}" for line in error_lines(task_log(self.api, ti))]
            if self._logs:
                lines.append(f"    log: {task_log_path(self._logs, ti)}")
        self._progress.clear()
        self._out.write("".join(f"{line}\n" for line in lines))
        self._out.flush()

    def _long_running(self, ti: Mapping[str, Any]) -> bool:
        started = ti.get("start_date")
        if not started:
            return False
        elapsed = self._now() - datetime.fromisoformat(started)
        return elapsed.total_seconds() >= SHOW_PROGRESS_AFTER

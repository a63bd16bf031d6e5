"""The run's log file: children's output in it, on the terminal too with VERBOSE=1; third-party noise out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_stack.run_log import RunLog, run_log_path, verbose


def test_the_log_of_a_run_is_named_after_its_start():
    started = datetime(2026, 12, 2, 17, 13, 7, tzinfo=UTC)
    assert run_log_path(Path(".local"), started) == Path(".local/logs/run-2026-12-02-171307.log")


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("", False), ("0", False)])
def test_verbose_is_asked_for_by_the_environment(value, expected):
    assert verbose({"VERBOSE": value}) is expected
    assert verbose({}) is False


def test_a_closed_log_gives_no_sink(tmp_path):
    with pytest.raises(RuntimeError, match="not open"):
        RunLog(tmp_path / "run.log").sink  # noqa: B018

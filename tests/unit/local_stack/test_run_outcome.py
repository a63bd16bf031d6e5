"""What ``make run`` prints and returns for each outcome of the two runs it follows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from datalake import settings
from local_stack import run
from local_stack.stack import Stack

DAY = date(2026, 11, 27)


@pytest.fixture
def outcome(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``run_partition`` on a stack whose runs end as told, the summaries stubbed."""
    monkeypatch.setattr(run, "user_s3_client", lambda: None)
    monkeypatch.setattr(
        run, "summary", lambda client, bucket, day, ranking: "RAW SUMMARY" + " RANKING" * ranking
    )
    monkeypatch.setattr(run, "report_summary", lambda client, bucket, day, lake: "REPORT SUMMARY")
    stack = Stack(client=None, local=tmp_path, lake=tmp_path / "lake", s3=None, bucket="datalake")

    def main(raw_state: str, report_state: str | None) -> int:
        raw = {"dag_run_id": "manual__raw", "state": raw_state}
        report = {"dag_run_id": "asset__report", "state": report_state} if report_state else None
        monkeypatch.setattr(run, "run_and_report", lambda client, day, conf: (raw, report))
        return run.run_partition(stack, DAY, {})

    main.logs = tmp_path / "logs"
    return main


def test_both_runs_succeeded_print_both_summaries(outcome, capsys):
    assert outcome("success", "success") == 0
    assert capsys.readouterr().out.split("\n")[:2] == ["RAW SUMMARY", "REPORT SUMMARY"], "the report ranks"


def test_a_failed_raw_run_exits_non_zero_without_summaries_naming_the_run_and_the_logs(outcome, capsys):
    assert outcome("failed", None) == 1
    printed = capsys.readouterr()
    assert "SUMMARY" not in printed.out
    told = f"The run manual__raw of {settings.RAW_DAG_ID} for {DAY} ended failed; logs: {outcome.logs}"
    assert told in printed.err


@pytest.mark.parametrize(
    "report_state, told",
    [
        ("failed", "run asset__report ended failed"),
        (None, "never started"),
    ],
)
def test_a_failed_or_missing_report_exits_non_zero_after_the_raw_summary(outcome, capsys, report_state, told):
    assert outcome("success", report_state) == 1
    printed = capsys.readouterr()
    assert "RAW SUMMARY RANKING" in printed.out and "REPORT SUMMARY" not in printed.out
    assert f"The run of {settings.REPORT_DAG_ID} for {DAY}: {told}; logs: {outcome.logs}" in printed.err

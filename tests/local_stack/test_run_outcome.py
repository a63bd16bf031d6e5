"""What ``make run`` prints and returns for each outcome of the two DAG runs."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from local_stack import run

DAY = "2026-11-27"


@pytest.fixture
def outcome(monkeypatch: pytest.MonkeyPatch):
    """``make run``'s main with the services and the Airflow process stubbed; set the batch's exit status."""
    batches: list[tuple[list[str], ...]] = []
    status = {"value": 0}

    @contextmanager
    def local_airflow(lake, local, holder):
        yield None, "datalake"

    def airflow_batch(*commands: list[str]) -> int:
        batches.append(commands)
        return status["value"]

    monkeypatch.setattr(run, "local_airflow", local_airflow)
    monkeypatch.setattr(run, "airflow_batch", airflow_batch)
    monkeypatch.setattr(run, "user_s3_client", lambda: None)
    monkeypatch.setattr(run, "summary", lambda client, bucket, day: "RAW SUMMARY")
    monkeypatch.setattr(run, "report_summary", lambda client, bucket, day, lake: "REPORT SUMMARY")

    def main(batch_status: int) -> int:
        status["value"] = batch_status
        return run.main(["--date", DAY, "--conf", '{"top_n": 3}'])

    main.batches = batches
    return main


def test_both_dags_run_in_one_batch_the_raw_one_first(outcome, capsys):
    assert outcome(0) == 0
    assert outcome.batches == [(["dags", "test", run.DAG_ID, DAY, "--conf", '{"top_n": 3}'],
                                ["dags", "test", run.REPORT_DAG_ID, DAY])]
    assert capsys.readouterr().out.split("\n")[:2] == ["RAW SUMMARY", "REPORT SUMMARY"]


@pytest.mark.parametrize("status", [1, -9])
def test_a_failed_raw_run_or_batch_exits_non_zero_without_summaries(outcome, capsys, status):
    assert outcome(status) == 1
    printed = capsys.readouterr()
    assert "SUMMARY" not in printed.out
    assert f"The run of {run.DAG_ID} for {DAY} failed" in printed.err


def test_a_failed_report_exits_non_zero_after_the_raw_summary(outcome, capsys):
    assert outcome(2) == 1
    printed = capsys.readouterr()
    assert "RAW SUMMARY" in printed.out and "REPORT SUMMARY" not in printed.out
    assert f"The run of {run.REPORT_DAG_ID} for {DAY} failed" in printed.err

"""The bench's cluster rows without a cluster: the span they report, the row when servers are missing."""

from __future__ import annotations

import pytest

from bench import run
from local_stack.databases import INSTALL


def test_the_span_runs_from_the_first_start_to_the_last_end_whatever_the_order():
    task_instances = [
        {"start_date": "2026-02-01T00:00:03.500000Z", "end_date": "2026-02-01T00:00:09Z"},
        {"start_date": "2026-02-01T00:00:01Z", "end_date": "2026-02-01T00:00:04Z"},
        {"start_date": "2026-02-01T00:00:02Z", "end_date": "2026-02-01T00:00:12.250000Z"},
    ]
    assert run.task_span(task_instances) == pytest.approx(11.25)


def test_missing_servers_give_skipped_rows_naming_the_install_and_start_nothing(monkeypatch):
    monkeypatch.setattr(run, "missing_binaries", lambda: ["redis-server"])

    def never(*args, **kwargs):
        raise AssertionError("a cluster was started without its servers")

    monkeypatch.setattr(run, "celery_cluster", never)
    rows = run.cluster_rows((10, 100), [])
    assert [row.stage for row in rows] == [f"TMDB cluster mapped tasks, top_n {n}" for n in (10, 100)]
    assert all(row.figure is None and row.target == f"skipped: {INSTALL}" for row in rows)
    assert "redis-server" in rows[0].note
    assert f"skipped: {INSTALL}" in run.table(rows)


def test_a_skipped_row_prints_a_dash_for_its_figure():
    skipped = run.Row("TMDB cluster mapped tasks, top_n 10", None, "s", None, None, "skipped: why", None)
    line = run.table([skipped]).splitlines()[2]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells == ["TMDB cluster mapped tasks, top_n 10", "-", "", "", "skipped: why", "-"]


def test_the_note_puts_the_cluster_beside_dags_test_and_the_lambda():
    mapped = [
        {"hostname": "worker-1", "duration": 2.0},
        {"hostname": "worker-2", "duration": 3.0},
        {"hostname": "worker-1", "duration": 4.0},
    ]
    note = run.cluster_note(mapped, dags_test=5.43, lambda_wall=0.39)
    assert "3 mapped tasks (worker-1 2, worker-2 1; 8 slots)" in note
    assert "median task 3.00 s" in note and "dags test 5.43 s" in note and "Lambda 0.39 s" in note

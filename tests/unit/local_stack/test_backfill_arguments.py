"""``make backfill`` refuses a malformed date, an inverted or too long range before it starts anything, naming
the value, with exit status 2."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest

from local_stack import backfill

TODAY = datetime.now(UTC).date()
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records whether the driver got as far as starting a stack."""
    calls: list[str] = []

    @contextmanager
    def airflow_stack(executor, lake, local, holder):
        calls.append("started")
        yield None

    monkeypatch.setattr(backfill, "airflow_stack", airflow_stack)
    return calls


@pytest.mark.parametrize(
    "first, last, message",
    [
        ("2026-11-3", "2026-11-04", "FROM must be a date as YYYY-MM-DD; got '2026-11-3'"),
        ("2026-11-01", "2026-11-31", "TO must be a date as YYYY-MM-DD; got '2026-11-31'"),
        ("", "2026-11-04", "FROM must be a date as YYYY-MM-DD; got ''"),
        ("2026-11-01; touch INJECTED #", "2026-11-04", "got '2026-11-01; touch INJECTED #'"),
        ("2026-11-05", "2026-11-04", "TO (2026-11-04) is before FROM (2026-11-05)"),
        (
            "2026-10-01",
            "2026-11-01",
            "FROM=2026-10-01 TO=2026-11-01 spans 32 days; a backfill covers at most 31",
        ),
        (str(TODAY), str(TOMORROW), f"TO ({TOMORROW}) is after today ({TODAY})"),
    ],
)
def test_bad_ranges_are_refused_before_anything_starts(started, capsys, first, last, message):
    with pytest.raises(SystemExit) as exit:
        backfill.main(["--from", first, "--to", last])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err
    assert not started


def test_a_bad_conf_is_refused_like_make_runs(started, capsys):
    with pytest.raises(SystemExit) as exit:
        backfill.main(["--from", "2026-11-01", "--to", "2026-11-02", "--conf", '{"top_n": 0}'])
    assert exit.value.code == 2
    assert "Parameter 'top_n' must be from 1 to 100; got 0" in capsys.readouterr().err
    assert not started


def test_a_range_is_every_day_from_first_to_last_inclusive():
    today = date(2026, 12, 2)
    assert backfill.backfill_range("2026-11-30", "2026-12-02", today) == [
        date(2026, 11, 30),
        date(2026, 12, 1),
        date(2026, 12, 2),
    ]
    assert backfill.backfill_range("2026-11-01", "2026-11-01", today) == [date(2026, 11, 1)]
    assert len(backfill.backfill_range("2026-10-02", "2026-11-01", today)) == 31

"""``make run`` refuses a bad DATE or CONF before it starts anything, naming the value."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from local_stack import run


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records whether the driver got as far as starting its services."""
    calls: list[str] = []

    @contextmanager
    def airflow_stack(executor, lake, local, holder):
        calls.append("started")
        yield None

    monkeypatch.setattr(run, "airflow_stack", airflow_stack)
    return calls


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--date", "2026-13-45; rm -rf x #"],
            "DATE must be a date as YYYY-MM-DD; got '2026-13-45; rm -rf x #'",
        ),
        (["--date", "2026-02-30"], "DATE must be a date as YYYY-MM-DD; got '2026-02-30'"),
        (["--conf", "{}' ; touch /tmp/INJECTED ; echo '"], "CONF is not JSON"),
        (["--conf", "[1, 2]"], "CONF must be a JSON object"),
        (
            ["--conf", '{"topn": 5, "bogus": "x"}'],
            "Unknown parameter(s) 'topn' (did you mean 'top_n'?), 'bogus'; the known ones are: top_n,",
        ),
        (["--conf", '{"language": "it\'s"}'], "Parameter 'language' must match"),
        (["--conf", '{"top_n": 0}'], "Parameter 'top_n' must be from 1 to 100; got 0"),
    ],
)
def test_bad_values_are_refused_before_anything_starts(started, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit:
        run.main(arguments)
    assert exit.value.code == 2
    assert message in capsys.readouterr().err
    assert not started


def test_empty_values_mean_today_and_no_parameters():
    assert run.run_conf("") == "{}"
    assert run.run_date("") == datetime.now(UTC).date()

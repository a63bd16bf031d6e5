"""``local_stack.airflow_batch`` runs airflow commands in one process and stops at the first that fails."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

from local_stack.airflow_batch import SESSION_FACTORY

REPO = Path(__file__).resolve().parents[2]
VERSION = importlib.metadata.version("apache-airflow-core")


def batch(*commands: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local_stack.airflow_batch", json.dumps(commands)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_every_command_runs_in_turn_and_the_status_is_zero():
    result = batch(["version"], ["version"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [VERSION, VERSION]


def test_the_status_is_the_position_of_the_failed_command_and_later_ones_do_not_run():
    result = batch(["version"], ["no-such-command"], ["version"])
    assert result.returncode == 2
    assert result.stdout.splitlines().count(VERSION) == 1
    assert "invalid choice: 'no-such-command'" in result.stdout + result.stderr


def test_tasks_share_botocore_models_unless_the_user_chose_a_session_factory(monkeypatch):
    monkeypatch.delenv("AIRFLOW__AWS__SESSION_FACTORY", raising=False)
    assert batch(["config", "get-value", "aws", "session_factory"]).stdout.split()[-1] == SESSION_FACTORY
    monkeypatch.setenv("AIRFLOW__AWS__SESSION_FACTORY", "my_company.aws.MyCustomSessionFactory")
    assert (
        batch(["config", "get-value", "aws", "session_factory"]).stdout.split()[-1]
        == "my_company.aws.MyCustomSessionFactory"
    )

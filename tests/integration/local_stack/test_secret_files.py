"""The files a local Airflow writes that hold a secret (``airflow.cfg``'s keys, written by Airflow's own
``db migrate``; the admin password) are owner-only, in owner-only folders, from a local folder that did not
exist before or that an older run left open to others."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from local_stack import stack
from local_stack.environment import AWS_CONNECTION, TMDB_CONNECTION, airflow_home
from tests.secret_files import PASSWORDS_FILE, exposed, files_holding, known_secrets


@pytest.fixture
def no_services() -> Iterator[None]:
    """Connections of the user's own, so ``local_airflow`` starts no service; this process's environment,
    which ``local_airflow`` changes and its children inherit, restored after the test."""
    saved = dict(os.environ)
    os.environ.pop("AIRFLOW__CORE__FERNET_KEY", None)
    os.environ[AWS_CONNECTION] = json.dumps({"conn_type": "aws"})
    os.environ[TMDB_CONNECTION] = json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/3"})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a_new_local_folders_secrets_are_owner_only_in_owner_only_folders(tmp_path, no_services):
    local = tmp_path / "clone" / ".local"
    with stack.local_airflow(tmp_path / "lake", local):
        stack.admin_password(airflow_home(local))
    secrets = known_secrets(local)
    assert {"admin password", "airflow.cfg [core] fernet_key", "airflow.cfg [api_auth] jwt_secret"} <= set(
        secrets
    )
    holding = files_holding(local, secrets)
    assert {path.name for path in holding} >= {"airflow.cfg", PASSWORDS_FILE}
    assert exposed(local, holding) == []


def test_an_older_runs_open_local_folder_is_made_owner_only(tmp_path, no_services):
    local = tmp_path / "clone" / ".local"
    home = airflow_home(local)
    home.mkdir(parents=True)
    for folder in (local, home):
        folder.chmod(0o755)
    (home / PASSWORDS_FILE).write_text(json.dumps({"admin": "left-open"}))
    (home / PASSWORDS_FILE).chmod(0o644)
    with stack.local_airflow(tmp_path / "lake", local):
        assert stack.admin_password(home) == "left-open"
    assert exposed(local, files_holding(local, known_secrets(local))) == []

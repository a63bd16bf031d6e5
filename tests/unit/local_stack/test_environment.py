"""The local Airflow configuration, one table per kind of stack: what each sets, and what the user's own
environment keeps."""

from __future__ import annotations

import importlib
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from datalake.settings import RATE_LIMIT_DIR_ENV, RATE_LIMIT_REDIS_URL_ENV
from local_stack import environment, stack
from local_stack.environment import (
    LOST_WORKER_SETTINGS,
    NOISE_FILTERS,
    Services,
    cluster_environment,
    local_environment,
    standalone_environment,
    worker_environment,
)
from local_stack.hostname import WORKER_HOSTNAME_ENV, worker_hostname
from local_stack.services import REPO, LocalS3, LocalTmdb

S3 = LocalS3("http://127.0.0.1:9000", "key", "secret-key")
SANDBOX = LocalTmdb("http://127.0.0.1:9001/3", "token", "api-key")
EVERY_SERVICE = Services("datalake", S3, SANDBOX, "http://127.0.0.1:9002")
SECRET = {"fernet_key": "fernet", "jwt_secret": "cluster-jwt"}
DATABASE = "postgres:pw@127.0.0.1:5432/airflow"
BROKER = "redis://:pw@127.0.0.1:6379/0"


def cluster(local: Path, environ: dict[str, str], services: Services = EVERY_SERVICE) -> dict[str, str]:
    return cluster_environment(local, services, environ, DATABASE, BROKER, SECRET, api_port=8793)


def test_every_stack_runs_airflow_from_a_home_under_the_local_folder_on_the_project(tmp_path):
    chosen = local_environment(tmp_path, EVERY_SERVICE, {})
    assert chosen["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert chosen["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"
    assert chosen["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert chosen["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(REPO / "plugins")
    assert chosen["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert chosen["AIRFLOW_VAR_DATALAKE_BUCKET"] == "datalake"
    assert json.loads(chosen["AIRFLOW__OPENLINEAGE__TRANSPORT"])["type"] == "file"


def test_the_connections_name_the_started_services_and_the_lambda_beside_the_embedded_s3(tmp_path):
    chosen = local_environment(tmp_path, EVERY_SERVICE, {})
    aws = json.loads(chosen["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["extra"]["service_config"] == {
        "s3": {"endpoint_url": S3.endpoint_url},
        "lambda": {"endpoint_url": "http://127.0.0.1:9002"},
    }
    assert json.loads(chosen["AIRFLOW_CONN_TMDB_DEFAULT"])["host"] == SANDBOX.base_url
    assert chosen["AIRFLOW_VAR_LAMBDA_FUNCTION_NAME"] == "tmdb_ingest"
    assert chosen["AIRFLOW_VAR_LAMBDA_PARITY_COMPARE_BYTES"] == "True", "the sandbox answers the same twice"


def test_the_real_tmdb_is_compared_without_its_bytes(tmp_path):
    real = Services(
        "datalake", S3, LocalTmdb(environment.DEFAULT_BASE_URL, "t", "t"), "http://127.0.0.1:9002"
    )
    assert local_environment(tmp_path, real, {})["AIRFLOW_VAR_LAMBDA_PARITY_COMPARE_BYTES"] == "False"


def test_a_service_the_user_replaced_gets_no_connection_and_no_lambda(tmp_path):
    chosen = local_environment(tmp_path, Services("theirs"), {})
    assert not [key for key in chosen if key.startswith("AIRFLOW_CONN_")]
    assert "AIRFLOW_VAR_LAMBDA_FUNCTION_NAME" not in chosen
    assert chosen["AIRFLOW_VAR_DATALAKE_BUCKET"] == "theirs"


def test_the_users_own_connections_win_over_every_stacks_table(tmp_path, monkeypatch):
    """``stack.start_services`` starts nothing for a connection the user gave, so no table replaces it."""
    theirs = {
        "AIRFLOW_CONN_AWS_DEFAULT": '{"conn_type": "aws"}',
        "AIRFLOW_CONN_TMDB_DEFAULT": '{"conn_type": "http"}',
    }
    for name, value in theirs.items():
        monkeypatch.setenv(name, value)
    with ExitStack() as started:
        services = stack.start_services(started, tmp_path / "lake", tmp_path, "datalake")
    assert services == Services("datalake")
    tables = [
        local_environment(tmp_path, services, os.environ),
        standalone_environment(tmp_path, services, os.environ, port=8080),
        cluster(tmp_path, dict(os.environ), services),
    ]
    for table in tables:
        assert {key: table.get(key, os.environ[key]) for key in theirs} == theirs


def test_the_users_lambda_function_name_wins(tmp_path):
    chosen = local_environment(tmp_path, EVERY_SERVICE, {"AIRFLOW_VAR_LAMBDA_FUNCTION_NAME": "theirs"})
    assert "AIRFLOW_VAR_LAMBDA_FUNCTION_NAME" not in chosen


def test_the_csvs_named_in_the_environment_become_the_dags_variables(tmp_path):
    chosen = local_environment(tmp_path, EVERY_SERVICE, {"MOVIES_CSV": "movies.csv"})
    assert chosen["AIRFLOW_VAR_MOVIES_CSV"] == str(Path("movies.csv").resolve())
    assert "AIRFLOW_VAR_SERIES_CSV" not in chosen


def test_the_standalone_stack_serves_its_api_on_loopback_at_its_port(tmp_path):
    chosen = standalone_environment(tmp_path, EVERY_SERVICE, {"PATH": "/usr/bin"}, port=8080)
    assert chosen["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert chosen["AIRFLOW__API__PORT"] == "8080"
    assert chosen["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8080"
    assert chosen["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert chosen["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"] == "30"
    assert len(chosen["AIRFLOW__API_AUTH__JWT_SECRET"]) == 128, "64 bytes, as PyJWT asks for HS512"
    assert chosen["PATH"] == f"{Path(sys.executable).parent}{os.pathsep}/usr/bin"
    assert chosen["AIRFLOW_HOME"] == str(tmp_path / "airflow"), "on the common base"


def test_the_users_execution_api_timeout_and_jwt_secret_win_on_the_standalone_stack(tmp_path):
    theirs = {"AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "90", "AIRFLOW__API_AUTH__JWT_SECRET": "theirs"}
    chosen = standalone_environment(tmp_path, EVERY_SERVICE, theirs, port=8080)
    assert {key: chosen[key] for key in theirs} == theirs


def test_the_cluster_runs_celery_on_its_postgresql_and_redis_with_its_own_secrets(tmp_path):
    chosen = cluster(tmp_path, {"AIRFLOW__API_AUTH__JWT_SECRET": "not-the-clusters", "PYTHONPATH": "/theirs"})
    assert chosen["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert chosen["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"postgresql+psycopg2://{DATABASE}"
    assert chosen["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+postgresql://{DATABASE}"
    assert chosen["AIRFLOW__CELERY__BROKER_URL"] == chosen[RATE_LIMIT_REDIS_URL_ENV] == BROKER
    assert chosen["AIRFLOW__CORE__FERNET_KEY"] == "fernet"
    assert chosen["AIRFLOW__API_AUTH__JWT_SECRET"] == "cluster-jwt", "every process must share the secret"
    assert chosen["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8793"
    assert chosen["PYTHONPATH"].split(os.pathsep) == [str(REPO / "plugins"), str(REPO), "/theirs"]
    assert LOST_WORKER_SETTINGS.items() <= chosen.items()
    assert (
        chosen["AIRFLOW_CONN_AWS_DEFAULT"]
        == local_environment(tmp_path, EVERY_SERVICE, {})["AIRFLOW_CONN_AWS_DEFAULT"]
    ), "on the common base"


def test_the_clusters_hostname_callable_is_the_workers_own(tmp_path):
    module, _, name = cluster(tmp_path, {})["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is worker_hostname


def test_each_worker_names_itself():
    first, second = worker_environment("worker-1"), worker_environment("worker-2")
    assert (first[WORKER_HOSTNAME_ENV], second[WORKER_HOSTNAME_ENV]) == ("worker-1", "worker-2")


def test_only_a_quiet_stack_filters_the_noise_warnings(tmp_path):
    assert "PYTHONWARNINGS" not in local_environment(tmp_path, EVERY_SERVICE, {})
    quiet = standalone_environment(tmp_path, EVERY_SERVICE, {}, port=8080, quiet=True)
    assert quiet["PYTHONWARNINGS"].split(",") == list(NOISE_FILTERS)


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[tuple[str, ...], str]]:
    """``local_airflow`` with no service started; each ``airflow`` command run, with the metadata DB it
    saw in this process's environment (a private copy of it, restored after the test)."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.setattr(
        stack, "start_services", lambda started, lake, local, bucket, components: Services(bucket)
    )
    commands: list[tuple[tuple[str, ...], str]] = []

    def airflow(*args: str) -> int:
        commands.append((args, os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))
        return 0

    monkeypatch.setattr(stack, "airflow", airflow)
    return commands


def test_local_airflow_applies_its_table_before_the_migration(tmp_path, applied):
    with stack.local_airflow(tmp_path / "lake", tmp_path / "local") as services:
        assert os.environ["AIRFLOW_HOME"] == str((tmp_path / "local" / "airflow").resolve())
    db = (tmp_path / "local" / "airflow" / "airflow.db").resolve()
    assert applied == [(("db", "migrate"), f"sqlite:///{db}")]
    assert services.bucket == os.environ["AIRFLOW_VAR_DATALAKE_BUCKET"]


def test_local_airflow_migrates_a_database_other_than_sqlite_every_time(tmp_path, applied):
    def table(local: Path, services: Services, environ) -> dict[str, str]:
        return {**local_environment(local, services, environ), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "pg"}

    for _ in range(2):
        with stack.local_airflow(tmp_path / "lake", tmp_path / "local", environment=table):
            pass
    assert applied == [(("db", "migrate"), "pg")] * 2


def test_every_stack_keeps_its_tmdb_budget_and_its_task_logs_private_under_the_local_folder(tmp_path):
    chosen = local_environment(tmp_path, EVERY_SERVICE, {})
    assert chosen[RATE_LIMIT_DIR_ENV] == str(tmp_path / "rate-limit")
    assert chosen["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS"] == "0o700"
    assert chosen["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"] == "0o600"
    assert cluster(tmp_path, {})[RATE_LIMIT_DIR_ENV] == str(tmp_path / "rate-limit")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_local_airflow_makes_an_older_runs_open_folders_and_password_file_owner_only(tmp_path, applied):
    local = tmp_path / "local"
    home, cluster_folder = local / "airflow", local / "cluster"
    for folder in (local, home, local / "logs", cluster_folder):
        folder.mkdir(mode=0o755, exist_ok=True)
        folder.chmod(0o755)
    passwords = home / "simple_auth_manager_passwords.json.generated"
    passwords.write_text(json.dumps({"admin": "old"}))
    passwords.chmod(0o644)
    with stack.local_airflow(tmp_path / "lake", local):
        assert stack.admin_password(home) == "old"
    assert {mode(folder) for folder in (local, home, local / "logs", cluster_folder)} == {0o700}
    assert mode(passwords) == 0o600


def test_a_new_admin_password_file_is_owner_only(tmp_path):
    home = tmp_path / "airflow"
    stack.admin_password(home)
    assert mode(home / "simple_auth_manager_passwords.json.generated") == 0o600


def test_local_airflow_keeps_the_tmdb_budget_under_the_local_folder_only_while_it_runs(tmp_path, applied):
    local = tmp_path / "local"
    left = local / "rate-limit" / "datalake-rate-left-by-a-killed-run"
    left.parent.mkdir(parents=True)
    left.write_text("0")
    with stack.local_airflow(tmp_path / "lake", local):
        folder = Path(os.environ[RATE_LIMIT_DIR_ENV])
        assert folder == (local / "rate-limit").resolve()
        assert mode(folder) == 0o700 and not any(folder.iterdir())
        (folder / "datalake-rate-0123").write_text("1.0")
    assert not folder.exists()

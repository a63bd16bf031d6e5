"""docker-compose.yaml through a real compose parser, Debian's ``docker-compose`` 1.29 (``config``
validates and interpolates with no engine). In CI (``CI`` set) a missing ``docker-compose`` fails the run;
locally those tests skip, saying how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.compose_file import load

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
AWS_OVERLAY = REPO / "docker-compose.aws.yaml"
ENV_EXAMPLE = REPO / ".env.example"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
OPTIONAL_AIRFLOW_SERVICES = ("airflow-cli", "flower")
SANDBOX_URL = "http://tmdb-sandbox:8000/3"


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    message = (
        "docker-compose (Debian's 1.29, validates with no Docker engine) is not installed: "
        "apt-get install -y docker-compose"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run installs it)")
    pytest.skip(message)


def run_compose(
    docker_compose: str, tmp_path: Path, *args: str, files=(COMPOSE_FILE,), env_file: str = "", profiles=()
) -> subprocess.CompletedProcess:
    """``docker-compose ... config`` with only ``env_file`` as the environment (not the caller's or a local
    .env)."""
    dotenv = tmp_path / "compose.env"
    dotenv.write_text(env_file, encoding="utf-8")
    command = [docker_compose, "--env-file", str(dotenv), "--project-directory", str(files[0].parent)]
    command += [arg for file in files for arg in ("-f", str(file))]
    command += [arg for profile in profiles for arg in ("--profile", profile)]
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, env=environ)


def assert_valid(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    assert "is not set" not in result.stderr, f"a variable without a default:\n{result.stderr}"


@pytest.mark.parametrize("settings_file", ["none", ".env.example"])
def test_docker_compose_validates_the_file(docker_compose, tmp_path, settings_file):
    env_file = ENV_EXAMPLE.read_text(encoding="utf-8") if settings_file == ".env.example" else ""
    assert_valid(run_compose(docker_compose, tmp_path, "config", "-q", env_file=env_file))
    assert_valid(
        run_compose(
            docker_compose,
            tmp_path,
            "config",
            "-q",
            env_file=env_file,
            profiles=("sandbox", "debug", "flower"),
        )
    )
    assert_valid(
        run_compose(
            docker_compose, tmp_path, "config", "-q", env_file=env_file, files=(COMPOSE_FILE, AWS_OVERLAY)
        )
    )


def test_docker_compose_wires_the_sandbox_profile(docker_compose, tmp_path):
    token = "fedcba9876543210" * 2
    result = run_compose(
        docker_compose,
        tmp_path,
        "config",
        profiles=("sandbox",),
        env_file=f"TMDB_BASE_URL={SANDBOX_URL}\nTMDB_API_TOKEN={token}\nDATALAKE_BUCKET=lake-x\n",
    )
    assert_valid(result)
    merged = yaml.safe_load(result.stdout)["services"]
    tmdb = json.loads(merged["airflow-worker"]["environment"]["AIRFLOW_CONN_TMDB_DEFAULT"])
    assert tmdb == {"conn_type": "http", "host": SANDBOX_URL, "password": token}
    assert merged["tmdb-sandbox"]["environment"]["TMDB_SANDBOX_CREDENTIALS"] == token
    assert merged["airflow-worker"]["environment"]["AIRFLOW_VAR_DATALAKE_BUCKET"] == "lake-x"
    assert merged["minio-init"]["environment"]["DATALAKE_BUCKET"] == "lake-x"
    # Left to minio-init's shell, which reads the environment above (compose's output keeps the escape).
    assert '"lake/$${DATALAKE_BUCKET}"' in merged["minio-init"]["command"][1]


def test_docker_compose_aws_overlay_leaves_no_service_on_minio(docker_compose, tmp_path):
    result = run_compose(
        docker_compose,
        tmp_path,
        "config",
        files=(COMPOSE_FILE, AWS_OVERLAY),
        profiles=("debug", "flower"),
        env_file="AWS_REGION=sa-east-1\n",
    )
    assert_valid(result)
    merged = yaml.safe_load(result.stdout)["services"]
    base = load()["services"]
    with_aws = [
        name for name, service in base.items() if "AIRFLOW_CONN_AWS_DEFAULT" in service.get("environment", {})
    ]
    assert set(with_aws) == {*AIRFLOW_SERVICES, *OPTIONAL_AIRFLOW_SERVICES}
    for name in with_aws:
        env = merged[name]["environment"]
        assert json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"]) == {
            "conn_type": "aws",
            "extra": {"region_name": "sa-east-1"},
        }
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", (
            f"{name}: the overlay must add to the environment"
        )
        assert "AWS_ACCESS_KEY_ID" in env
    assert merged["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"


def _depends_on_missing_service(text: str) -> str:
    return text.replace(
        "      minio:\n        condition: service_healthy\n",
        "      minio:\n        condition: service_healthy\n      no-such-service:\n        condition: service_healthy\n",  # noqa: E501 (verbatim data)
        1,
    )


def _unknown_condition(text: str) -> str:
    return text.replace("condition: service_completed_successfully", "condition: service_finished", 1)


def _sandbox_without_its_profile_list(text: str) -> str:
    return text.replace("    profiles:\n      - sandbox\n", "    profiles: sandbox\n", 1)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (_depends_on_missing_service, "no-such-service"),
        (_unknown_condition, "service_finished"),
        (_sandbox_without_its_profile_list, "profiles"),
    ],
)
def test_docker_compose_rejects_a_broken_copy(docker_compose, tmp_path, breakage, message):
    """The validation bites: the same file, broken one way, fails with a message naming the fault."""
    original = COMPOSE_FILE.read_text(encoding="utf-8")
    broken = breakage(original)
    assert broken != original, "the breakage no longer applies to docker-compose.yaml"
    copy = tmp_path / "project" / "docker-compose.yaml"
    copy.parent.mkdir()
    copy.write_text(broken, encoding="utf-8")
    result = run_compose(docker_compose, tmp_path, "config", "-q", files=(copy,))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr

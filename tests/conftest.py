"""What every test gets: its tier from its folder, the guard on what a cheap tier may use, and the services
shared by the whole session (one real S3 server, rclone, and one TMDB sandbox)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Before anything imports Airflow: a throw-away home (removed at exit), this project's folders, no examples.
AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-home-")
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The TMDB clients' budget files (one per sandbox port) in it too, not left in the system temp folder.
        "DATALAKE_RATE_LIMIT_DIR": str(Path(AIRFLOW_HOME) / "rate-limit"),
    }
)

from local_stack.services import LocalS3, LocalTmdb, rclone_s3, tmdb_sandbox  # noqa: E402

TEST_BUCKET = "datalake-test"

pytest_plugins = ["tests.compose_file"]
"""The compose tests' fixtures (``compose``, ``services``), for every tier that reads docker-compose.yaml."""

TIERS = ("unit", "dags", "integration", "e2e")
"""tests/<tier>/, cheapest first; the folder is the test's marker (``-m unit``), so no test lacks one.
unit: plain Python, no server, no Airflow database, no child process, no network (tests/unit/conftest.py).
dags: the DAGs parse and keep their static rules; no server, no DAG run (tests/dags/conftest.py).
integration: real servers on loopback, ``dag.test()`` on the metadata database, child processes.
e2e: Airflow's own processes, ``make run``, the cluster, Chromium, docker-compose."""

SERVERLESS_TIERS = ("unit", "dags")
SERVER_FIXTURES = {
    "local_s3": "rclone serving S3 (tests/conftest.py)",
    "tmdb": "the TMDB sandbox on a socket (tests/conftest.py)",
    "lambda_zip": "uv installing the Lambda's dependencies (tests/integration/lambda_function)",
    "secrets_manager": "a Secrets Manager stand-in on a socket (tests/integration/lambda_function)",
    "lambda_endpoint": "python -m sandbox.lambda_app (tests/integration/lambda_function)",
    "lambda_client": "python -m sandbox.lambda_app (tests/integration/lambda_function)",
    "standalone": "make airflow (tests/e2e/conftest.py)",
}
"""Every shared fixture that starts a process or a server or migrates the Airflow database: a test of a
serverless tier that asks for one fails at collection."""


def tier_of(path: Path, tests: Path) -> str | None:
    """The tier folder ``path`` lies in under ``tests``, or None."""
    parts = path.relative_to(tests).parts if path.is_relative_to(tests) else ()
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test is marked with its folder's tier; one outside a tier folder, or one of a serverless tier
    that asks for a server fixture, stops the run before anything starts, naming the test and the fix."""
    tests = config.rootpath / "tests"
    problems = []
    for item in items:
        tier = tier_of(item.path, tests)
        if tier is None:
            folders = ", ".join(f"tests/{name}" for name in TIERS)
            problems.append(f"{item.nodeid}: not in a tier folder; move it to one of {folders}")
            continue
        item.add_marker(tier)
        servers = [name for name in SERVER_FIXTURES if name in item.fixturenames]
        if tier in SERVERLESS_TIERS and servers:
            used = "; ".join(f"{name}: {SERVER_FIXTURES[name]}" for name in servers)
            problems.append(
                f"{item.nodeid}: tests/{tier} starts no server but this test uses {used}; "
                "move it to tests/integration"
            )
    if problems:
        raise pytest.UsageError("tests in the wrong tier:\n  " + "\n  ".join(problems))


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def local_s3(lake_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    with rclone_s3(lake_root, TEST_BUCKET, tmp_path_factory.mktemp("logs") / "rclone.log") as s3:
        yield s3


@pytest.fixture(scope="session")
def tmdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTmdb]:
    with tmdb_sandbox(tmp_path_factory.mktemp("logs") / "tmdb.log") as server:
        yield server


_NEEDS_PACKAGE = re.compile(r"apt-get install -y ([\w.+-]+)")
"""How a skip reason names the Debian package that would let the test run."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Last before pytest's count: which tests this machine skipped for want of a package, and the one
    command that enables them all (CI installs them, so there they fail instead of skipping)."""
    missing: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if found := _NEEDS_PACKAGE.search(reason):
            missing[found.group(1)] = missing.get(found.group(1), 0) + 1
    if missing:
        counts = ", ".join(f"{count} need {package}" for package, count in missing.items())
        terminalreporter.write_line(
            f"Skipped {sum(missing.values())} tests for software this machine lacks ({counts}); "
            f"enable them with: apt-get install -y {' '.join(missing)}"
        )


AIRFLOW_DEPRECATIONS = (
    "airflow.exceptions.RemovedInAirflow4Warning",
    "airflow.exceptions.AirflowProviderDeprecationWarning",
    "airflow.utils.deprecation_tools.DeprecatedImportWarning",
)
"""Airflow's and its providers' deprecations (and imports from a moved Airflow path) fail a test. Named
here, not in pytest.ini: pytest imports a filter's class when it reads it, and Airflow must not be
imported before the throw-away home is set."""


def pytest_configure(config: pytest.Config) -> None:
    for category in AIRFLOW_DEPRECATIONS:
        config.addinivalue_line("filterwarnings", f"error::{category}")

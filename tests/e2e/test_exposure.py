"""What a real run exposes on disk and on its API (issue 22, items 8 and 9), on the processes and files that
``make run`` and ``make cluster`` start: every file holding a secret owner-only, in owner-only folders; the
API refusing a request without a valid token; the TMDB budget's state under the local folder while a run
lasts and nowhere after it; ``make cluster`` from a clone under a folder other users cannot enter.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

from local_stack.databases import POSTGRES_USER, SERVER_DATA_ROOT, missing_binaries
from local_stack.services import free_port
from tests.e2e.conftest import clean_environment
from tests.secret_files import exposed, files_holding, known_secrets

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-27"
UNAUTHENTICATED = (
    "/api/v2/dags",
    "/api/v2/connections",
    "/api/v2/variables",
    "/execution/connections/aws_default",
    "/execution/connections/tmdb_default",
    "/execution/variables/datalake_bucket",
)
"""REST and Execution API reads that would show the run's DAGs, connections (credentials) and Variables."""
JWT_ENV = "AIRFLOW__API_AUTH__JWT_SECRET"


@dataclass
class Observed:
    """What a test saw of a runner while it ran, and after."""

    local: Path
    output: list[str] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    """Each ``UNAUTHENTICATED`` path, without and with a forged token, and the status it answered."""
    environment_secrets: dict[str, str] = field(default_factory=dict)
    """Secrets its Airflow processes hold in their environment only (the standalone stack's JWT secret)."""
    rate_files: set[str] = field(default_factory=set)
    """The names seen under ``.local/rate-limit/`` while it ran."""
    command_lines: list[str] = field(default_factory=list)
    """Its processes' command lines while it was up: any user may read them (``ps``)."""
    returncode: int | None = None

    def line(self, pattern: str) -> re.Match | None:
        return next((m for text in self.output if (m := re.search(pattern, text))), None)


def read_output(process: subprocess.Popen, observed: Observed) -> threading.Thread:
    def copy() -> None:
        for text in process.stdout:
            observed.output.append(text.rstrip("\n"))

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()
    return reader


def wait_for(observed: Observed, process: subprocess.Popen, pattern: str, seconds: float = 420) -> re.Match:
    deadline = time.monotonic() + seconds
    while not (match := observed.line(pattern)):
        assert process.poll() is None, "\n".join(observed.output[-80:])
        assert time.monotonic() < deadline, f"no {pattern!r} within {seconds:.0f} s: " + "\n".join(
            observed.output[-80:]
        )
        time.sleep(0.5)
    return match


def probe(url: str, observed: Observed) -> None:
    for path in UNAUTHENTICATED:
        for name, headers in (("no token", {}), ("forged token", {"Authorization": "Bearer not.a.token"})):
            observed.refusals[f"GET {path} ({name})"] = requests.get(
                f"{url}{path}", headers=headers, timeout=30
            ).status_code


def command_lines(runner: int) -> list[str]:
    lines = []
    for child in psutil.Process(runner).children(recursive=True):
        try:
            lines.append(" ".join(child.cmdline()))
        except psutil.NoSuchProcess:
            continue
    return lines


def on_command_lines(observed: Observed, secrets: dict[str, str]) -> list[str]:
    """The names of the ``secrets`` that a command line of ``observed`` shows."""
    return [name for name, value in secrets.items() if any(value in line for line in observed.command_lines)]


def environment_secrets(runner: int) -> dict[str, str]:
    """The JWT secret in the environment of the runner's Airflow processes (readable by their owner only)."""
    for child in psutil.Process(runner).children(recursive=True):
        try:
            if secret := child.environ().get(JWT_ENV):
                return {"JWT secret (environment)": secret}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return {}


def rate_file(base_url: str) -> str:
    """The host-local budget's state file name for a TMDB base URL (``datalake.tmdb.rate_limit``)."""
    return f"datalake-rate-{hashlib.sha256(base_url.rstrip('/').encode()).hexdigest()[:16]}"


@pytest.fixture(scope="module")
def standalone_run(tmp_path_factory) -> Observed:
    """One ``make run`` of the standalone stack, watched while it runs."""
    root = tmp_path_factory.mktemp("exposure")
    observed = Observed(root / "clone" / ".local")
    command = [sys.executable, "-m", "local_stack.run", "--date", DAY, "--lake", str(root / "lake")]
    process = subprocess.Popen(
        [*command, "--local", str(observed.local)],
        cwd=REPO,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    reader = read_output(process, observed)
    try:
        url = wait_for(observed, process, r"^Airflow \([^)]*\): (\S+)")[1]
        probe(url, observed)
        observed.environment_secrets = environment_secrets(process.pid)
        observed.command_lines = command_lines(process.pid)
        rate_limit = observed.local / "rate-limit"
        while process.poll() is None:
            if rate_limit.is_dir():
                observed.rate_files |= {path.name for path in rate_limit.iterdir()}
            time.sleep(0.2)
        observed.returncode = process.wait(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        reader.join(timeout=10)
    assert observed.returncode == 0, "\n".join(observed.output[-80:])
    return observed


def test_a_runs_api_refuses_every_request_without_a_valid_token(standalone_run):
    assert standalone_run.refusals and all(code in (401, 403) for code in standalone_run.refusals.values()), (
        standalone_run.refusals
    )


def test_every_file_of_a_run_holding_a_secret_is_owner_only_in_owner_only_folders(standalone_run):
    local = standalone_run.local
    assert standalone_run.environment_secrets, "the API server's JWT secret was found in its environment"
    secrets = {**known_secrets(local), **standalone_run.environment_secrets}
    holding = files_holding(local, secrets)
    assert {path.name for path in holding} >= {"airflow.cfg", "simple_auth_manager_passwords.json.generated"}
    assert exposed(local, holding) == []
    assert on_command_lines(standalone_run, secrets) == []


def test_the_tmdb_budgets_state_lives_under_the_local_folder_while_the_run_lasts_and_nowhere_after(
    standalone_run,
):
    sandbox = standalone_run.line(r"^TMDB sandbox: (\S+)")[1]
    name = rate_file(sandbox)
    assert name in standalone_run.rate_files, (name, standalone_run.rate_files)
    assert not (Path(tempfile.gettempdir()) / name).exists()
    assert not (standalone_run.local / "rate-limit").exists()


def tracked_copy(source: Path, target: Path) -> None:
    """The project's files (tracked, or new and not ignored) as a fresh clone has them: no .venv, .local."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        if (source / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


@dataclass
class ClusterObserved(Observed):
    server_folders: list[Path] = field(default_factory=list)
    """PostgreSQL's data folders of this clone under ``SERVER_DATA_ROOT`` while it ran (as root)."""
    server_modes: dict[Path, tuple[int, str]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    """What ``known_secrets`` found while it was up: the cluster's credentials among them."""
    holding: set[str] = field(default_factory=set)
    """The names of the files under the local folder found holding a secret while it was up."""
    exposed_while_up: list[str] = field(default_factory=list)
    started: list[psutil.Process] = field(default_factory=list)
    started_names: set[str] = field(default_factory=set)


def server_folders(local: Path) -> list[Path]:
    data = local / "cluster" / "postgres"
    return sorted(
        SERVER_DATA_ROOT.glob(f"datalake-postgres-{hashlib.sha256(str(data).encode()).hexdigest()[:12]}-*")
    )


@pytest.fixture(scope="module")
def cluster_from_a_private_clone() -> Iterator[ClusterObserved]:
    """``make cluster`` from a copy of the project under a ``mktemp -d`` (0700, as root's home): until it
    is healthy, then stopped with SIGTERM."""
    if missing_binaries() and not os.environ.get("CI"):
        pytest.skip("needs apt-get install -y postgresql redis-server")
    private = Path(tempfile.mkdtemp(prefix="exposure-"))
    try:
        clone = private / "clone"
        tracked_copy(REPO, clone)
        observed = ClusterObserved(clone / ".local")
        env = {**clean_environment(), "PYTHONPATH": str(clone / "plugins")}
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack.cluster", "--port", str(free_port())],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        reader = read_output(process, observed)
        try:
            url = wait_for(observed, process, r"is up: (\S+)")[1]
            probe(url, observed)
            observed.server_folders = server_folders(observed.local)
            for folder in observed.server_folders:
                for path in (folder, folder / "data"):
                    observed.server_modes[path] = (path.stat().st_mode & 0o777, path.owner())
            observed.secrets = known_secrets(observed.local)
            holding = files_holding(observed.local, observed.secrets)
            observed.holding = {path.name for path in holding}
            observed.exposed_while_up = exposed(observed.local, holding)
            observed.started = psutil.Process(process.pid).children(recursive=True)
            observed.started_names = {child.name() for child in observed.started}
            observed.command_lines = command_lines(process.pid)
            process.send_signal(signal.SIGTERM)
            observed.returncode = process.wait(timeout=180)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            reader.join(timeout=10)
        yield observed
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_make_cluster_from_a_clone_under_a_private_folder_gets_healthy_and_sigterm_leaves_nothing(
    cluster_from_a_private_clone,
):
    observed = cluster_from_a_private_clone
    assert observed.returncode == 128 + signal.SIGTERM, "\n".join(observed.output[-80:])
    assert {"postgres", "redis-server"} <= observed.started_names
    survivors = [p for p in observed.started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], [p.cmdline() for p in survivors]
    if os.geteuid() == 0:
        assert len(observed.server_folders) == 1, "PostgreSQL's data lived where the postgres user reaches it"
        assert set(observed.server_modes.values()) == {(0o700, POSTGRES_USER)}
    assert server_folders(observed.local) == []
    assert not (observed.local / "rate-limit").exists()


def test_the_clusters_secrets_are_owner_only_and_its_api_refuses_requests_without_a_valid_token(
    cluster_from_a_private_clone,
):
    observed = cluster_from_a_private_clone
    assert observed.holding >= {
        "credentials.json",
        "airflow.cfg",
        "simple_auth_manager_passwords.json.generated",
    }
    assert observed.exposed_while_up == []
    assert on_command_lines(observed, observed.secrets) == []
    assert observed.refusals and all(code in (401, 403) for code in observed.refusals.values()), (
        observed.refusals
    )

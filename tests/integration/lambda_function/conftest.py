"""The Lambda's test rig: the zip built once, a Secrets Manager stand-in, the local Invoke endpoint.

``tests.lambda`` cannot be imported with an ``import`` statement (``lambda`` is a keyword), so the
helpers live here as fixtures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import uvicorn
from botocore.config import Config
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lambda_function import build
from local_stack.services import HOST, REGION, _wait_for_port, free_port
from tests.conftest import REPO, TEST_BUCKET

SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:000000000000:secret:tmdb-credential-AbCdEf"
TOY_HANDLERS = """
import os, sys, time

def echo(event, context):
    print("printed to the log")
    return {"event": event, "function": context.function_name, "greeting": os.environ.get("GREETING"),
            "remaining_ms": context.get_remaining_time_in_millis()}

def fail(event, context):
    raise RuntimeError("the toy function failed")

def sleep(event, context):
    time.sleep(30)

def uses_boto3(event, context):
    import boto3
    return boto3.__version__

def uses_requests(event, context):
    import requests
"""


@dataclass
class SecretsManager:
    endpoint_url: str
    secrets: dict[str, str] = field(default_factory=dict)


def secrets_manager_app(secrets: dict[str, str]) -> FastAPI:
    """Secrets Manager's GetSecretValue on its real wire protocol (JSON 1.1), as boto3 speaks it."""
    app = FastAPI()

    def error(kind: str, message: str) -> JSONResponse:
        body = {"__type": kind, "message": message}
        return JSONResponse(body, status_code=400, media_type="application/x-amz-json-1.1")

    @app.post("/")
    async def call(request: Request) -> JSONResponse:
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
            return error(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if request.headers.get("x-amz-target") != "secretsmanager.GetSecretValue":
            return error("UnknownOperationException", "Only GetSecretValue is served here.")
        secret_id = json.loads(await request.body())["SecretId"]
        if secret_id not in secrets:
            return error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        return JSONResponse(
            {
                "ARN": secret_id,
                "Name": secret_id.split(":")[6],
                "SecretString": secrets[secret_id],
                "VersionId": "00000000-0000-0000-0000-000000000001",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1.7e9,
            },
            media_type="application/x-amz-json-1.1",
        )

    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve an app with uvicorn on a loopback port in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployment package, built once for the session exactly as ``make lambda-package`` builds it."""
    return build.build(tmp_path_factory.mktemp("dist") / "tmdb_ingest_lambda.zip")


@pytest.fixture(scope="session")
def secrets_manager() -> Iterator[SecretsManager]:
    secrets: dict[str, str] = {}
    with serve(secrets_manager_app(secrets)) as url:
        yield SecretsManager(url, secrets)


@pytest.fixture(scope="session")
def toy_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("handler.py", TOY_HANDLERS)
    return path


@pytest.fixture(scope="session")
def lambda_endpoint(lambda_zip, toy_zip, local_s3, tmdb, secrets_manager, tmp_path_factory) -> Iterator[str]:
    """``python -m sandbox.lambda_app`` serving the built zip as ``tmdb_ingest`` (credential from the
    Secrets Manager stand-in, objects to the rclone S3) and a few toy functions for the error paths."""
    secrets_manager.secrets[SECRET_ARN] = json.dumps({"TMDB_API_TOKEN": tmdb.credential})
    toy = {"zip_path": str(toy_zip), "timeout": 10}
    config = {
        "functions": {
            "tmdb_ingest": {
                "zip_path": str(lambda_zip),
                "timeout": 120,
                "environment": {
                    "DATALAKE_BUCKET": TEST_BUCKET,
                    "TMDB_SECRET_ARN": SECRET_ARN,
                    "TMDB_BASE_URL": tmdb.base_url,
                    "AWS_ENDPOINT_URL_S3": local_s3.endpoint_url,
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_manager.endpoint_url,
                    "AWS_ACCESS_KEY_ID": local_s3.access_key,
                    "AWS_SECRET_ACCESS_KEY": local_s3.secret_key,
                },
            },
            "echo": {**toy, "handler": "handler.echo", "environment": {"GREETING": "hello"}},
            "fail": {**toy, "handler": "handler.fail"},
            "sleep": {**toy, "handler": "handler.sleep", "timeout": 1},
            "uses_boto3": {**toy, "handler": "handler.uses_boto3"},
            "uses_requests": {**toy, "handler": "handler.uses_requests"},
            "missing_handler": {**toy, "handler": "handler.nowhere"},
            "no_code": {"zip_path": str(toy_zip.with_name("never-built.zip"))},
        }
    }
    folder = tmp_path_factory.mktemp("lambda-app")
    (folder / "functions.json").write_text(json.dumps(config))
    port = free_port()
    log_path = folder / "lambda_app.log"
    command = [
        sys.executable,
        "-m",
        "sandbox.lambda_app",
        "--port",
        str(port),
        "--config",
        str(folder / "functions.json"),
        "--work-dir",
        str(folder / "code"),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, "sandbox.lambda_app", log_path)
        yield f"http://{HOST}:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def lambda_client(lambda_endpoint):
    """boto3's Lambda client, as the DAG's operator configures it: a long read, no retries."""
    return boto3.client(
        "lambda",
        endpoint_url=lambda_endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(read_timeout=180, retries={"max_attempts": 0}),
    )

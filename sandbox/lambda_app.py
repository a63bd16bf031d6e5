"""A local stand-in for AWS Lambda's Invoke API: runs a function's built zip as Lambda would.

``POST /2015-03-31/functions/{name}/invocations`` unpacks the function's zip (once per content
hash) and runs its handler in a fresh interpreter, with the function's environment and timeout,
and answers like Lambda: the payload with 200; an unhandled error or a timeout with 200,
``X-Amz-Function-Error: Unhandled`` and ``{"errorMessage", "errorType", "stackTrace"}``; an unknown
function with 404 ``ResourceNotFoundException``. boto3's ``lambda`` client (and so Airflow's
``LambdaInvokeFunctionOperator``) reaches it through ``endpoint_url``. So the artifact that would be
deployed is the one that runs.

The interpreter is this one (the project's Python 3.11), not the runtime's 3.12: the zip's only
compiled code, charset-normalizer's speed-ups, is built for 3.12 and ships pure-Python twins that
3.11 loads instead. ``-S`` keeps this venv's site-packages off the function's path.

Serve it with ``python -m sandbox.lambda_app --port N --config FUNCTIONS.json``, where the file is
``{"functions": {"NAME": {"zip_path": ..., "handler": ..., "environment": {...}, "timeout": 300}}}``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sandbox import HOST, REGION

ACCOUNT = "000000000000"
RUNTIME_SCRIPT = Path(__file__).with_name("lambda_runtime.py")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
"""What Lambda's Python runtime ships besides the standard library: the AWS SDK and its dependencies.

Only these are linked from this interpreter into the function's path, after the unpacked zip, and
not this venv's whole site-packages: a dependency missing from the zip must fail here as it would
on AWS, not be found among Airflow's. The zip's own copies (urllib3) come first, as on AWS.
"""
LOG_TAIL_BYTES = 4096
"""Lambda returns the last 4 KB of the log for ``LogType: Tail``."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalFunction:
    zip_path: Path
    handler: str = "handler.lambda_handler"
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 3.0
    """Seconds, Lambda's default."""
    memory_size: int = 128
    """Reported to the function only; not enforced."""


@dataclass(frozen=True)
class Invocation:
    payload: bytes
    failed: bool
    log: str


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def function_name(path_name: str) -> str:
    """The name from any form Invoke accepts: ``NAME``, ``NAME:QUALIFIER`` or the function's ARN."""
    if path_name.startswith("arn:"):
        return path_name.split(":")[6]
    return path_name.split(":")[0]


def link_runtime_libraries(folder: Path) -> Path:
    """A folder holding only RUNTIME_PROVIDED, linked from this interpreter: the function's view of the
    runtime."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"{name} is not installed here, but Lambda's runtime provides it")
        source = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        link = folder / source.name
        if not link.exists():
            link.symlink_to(source, target_is_directory=source.is_dir())
    return folder


def _error_payload(message: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []}).encode()


class LocalLambda:
    """Unpacks functions' zips and runs every invocation in a fresh process, as a cold Lambda start would."""

    def __init__(self, functions: Mapping[str, LocalFunction], work_dir: Path):
        self.functions = dict(functions)
        self.work_dir = work_dir
        self._unpack_lock = threading.Lock()
        self.runtime_dir = link_runtime_libraries(work_dir / "runtime")

    def code_dir(self, function: LocalFunction) -> Path:
        """The zip unpacked, once per content: rebuilding the zip between invocations is picked up."""
        digest = hashlib.sha256(function.zip_path.read_bytes()).hexdigest()
        target = self.work_dir / "code" / digest
        with self._unpack_lock:
            if not target.exists():
                partial = Path(tempfile.mkdtemp(dir=self.work_dir, prefix="unpacking-"))
                with zipfile.ZipFile(function.zip_path) as archive:
                    archive.extractall(partial)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial.rename(target)
        return target

    def invoke(self, name: str, event: bytes, request_id: str) -> Invocation:
        function = self.functions[name]
        code = self.code_dir(function)
        environment = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **{key: str(value) for key, value in function.environment.items()},
            "PYTHONPATH": os.pathsep.join([str(code), str(self.runtime_dir)]),
            "LAMBDA_TASK_ROOT": str(code),
            "_HANDLER": function.handler,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        }
        started = time.monotonic()
        deadline_ms = int((time.time() + function.timeout) * 1000)
        # -S: no site-packages of this venv; -P: not the runtime script's folder either.
        command = [sys.executable, "-S", "-P", str(RUNTIME_SCRIPT), request_id, str(deadline_ms)]
        try:
            done = subprocess.run(
                command, input=event, capture_output=True, cwd=code, env=environment, timeout=function.timeout
            )
        except subprocess.TimeoutExpired as expired:
            message = f"RequestId: {request_id} Error: Task timed out after {function.timeout:.2f} seconds"
            outcome = Invocation(_error_payload(message, "Sandbox.Timedout"), True, _text(expired.stderr))
        else:
            outcome = self._outcome(done, request_id)
        report = f"REPORT RequestId: {request_id}\tDuration: {(time.monotonic() - started) * 1000:.2f} ms"
        full_log = (
            f"START RequestId: {request_id} Version: $LATEST\n{outcome.log}"
            f"END RequestId: {request_id}\n{report}\n"
        )
        for line in full_log.splitlines():
            log.info("[%s] %s", name, line)
        return Invocation(outcome.payload, outcome.failed, full_log)

    @staticmethod
    def _outcome(done: subprocess.CompletedProcess, request_id: str) -> Invocation:
        try:
            envelope = json.loads(done.stdout)
        except ValueError:
            status = (
                f"exit status {done.returncode}" if done.returncode >= 0 else f"signal {-done.returncode}"
            )
            message = f"RequestId: {request_id} Error: Runtime exited with error: {status}"
            return Invocation(_error_payload(message, "Runtime.ExitError"), True, _text(done.stderr))
        if "error" in envelope:
            return Invocation(json.dumps(envelope["error"]).encode(), True, _text(done.stderr))
        return Invocation(json.dumps(envelope["payload"]).encode(), False, _text(done.stderr))


def _text(output: bytes | None) -> str:
    return (output or b"").decode("utf-8", errors="replace")


def _aws_error(status: int, error_type: str, message: str) -> JSONResponse:
    """An error of the Lambda API itself, as botocore parses it into ``client.exceptions.<error_type>``."""
    return JSONResponse(
        {"Type": "User", "message": message}, status_code=status, headers={"x-amzn-ErrorType": error_type}
    )


def create_app(functions: Mapping[str, LocalFunction], work_dir: Path | None = None) -> FastAPI:
    """The Invoke API for these functions; unpacked code goes under ``work_dir`` (default: a temporary
    folder)."""
    app = FastAPI(title="Local Lambda")
    if work_dir is None:
        app.state.scratch = tempfile.TemporaryDirectory(prefix="local-lambda-")
        work_dir = Path(app.state.scratch.name)
    runner = LocalLambda(functions, work_dir)

    @app.post("/2015-03-31/functions/{name}/invocations")
    async def invoke(name: str, request: Request) -> Response:
        name = function_name(name)
        if name not in runner.functions:
            return _aws_error(404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")
        code = runner.functions[name].zip_path
        if not code.is_file():
            message = f"The code of {name}, {code}, does not exist: run `make lambda-package`."
            return _aws_error(500, "ServiceException", message)
        event = await request.body() or b"{}"
        try:
            json.loads(event)
        except ValueError as failure:
            message = f"Could not parse request body into json: {failure}"
            return _aws_error(400, "InvalidRequestContentException", message)
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-RequestId": request_id}
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return Response(status_code=204, headers=headers)
        if invocation_type == "Event":
            later = BackgroundTask(runner.invoke, name, event, request_id)
            return Response(status_code=202, headers=headers, background=later)
        if invocation_type != "RequestResponse":
            return _aws_error(
                400, "InvalidParameterValueException", f"Unsupported invocation type: {invocation_type}"
            )
        outcome = await run_in_threadpool(runner.invoke, name, event, request_id)
        headers["X-Amz-Executed-Version"] = "$LATEST"
        if outcome.failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(outcome.log.encode()[-LOG_TAIL_BYTES:]).decode()
        return Response(outcome.payload, status_code=200, headers=headers, media_type="application/json")

    return app


def load_functions(config: Path) -> dict[str, LocalFunction]:
    """The ``functions`` of a JSON config file; zip paths relative to the file's folder."""
    specs = json.loads(config.read_text(encoding="utf-8"))["functions"]
    return {
        name: LocalFunction(**{**spec, "zip_path": (config.parent / spec["zip_path"]).resolve()})
        for name, spec in specs.items()
    }


def _exit_on(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local AWS Lambda Invoke endpoint.")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--config", type=Path, required=True, help='JSON: {"functions": {NAME: {zip_path, ...}}}'
    )
    parser.add_argument("--work-dir", type=Path, help="where zips are unpacked (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvicorn stops on SIGTERM/SIGINT, then raises the signal again: let it unwind, so the work dir goes too.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_on)
    with ExitStack() as stack:  # a temporary work dir is removed when the server stops, not left in /tmp
        work_dir = args.work_dir
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="local-lambda-")))
        work_dir.mkdir(parents=True, exist_ok=True)
        app = create_app(load_functions(args.config), work_dir)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

"""The Lambda Python runtime's share of one invocation, run by ``sandbox/lambda_app.py`` in a fresh
interpreter.

Started as ``python -S -P lambda_runtime.py REQUEST_ID DEADLINE_MS`` in the unpacked zip, with the
function's environment (``_HANDLER`` names the handler, as on AWS). It reads the event on stdin, calls
the handler with a context like Lambda's and writes one JSON envelope to stdout: ``{"payload": ...}``,
or ``{"error": {...}}`` shaped like the errors Lambda reports. The handler's own prints go to stderr,
the function's log. Standard library only: nothing but the zip and the runtime's SDK is importable.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes of Lambda's context object that handlers use."""

    def __init__(self, request_id: str, deadline_ms: int):
        name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:000000000000:function:{name}"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/{request_id}"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error(message: str, error_type: str, request_id: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack or [],
    }


def run(request_id: str, deadline_ms: int, event_text: str) -> dict[str, Any]:
    handler_name = os.environ["_HANDLER"]
    module_name, _, function_name = handler_name.rpartition(".")
    if not module_name:
        message = f"Bad handler '{handler_name}': expected MODULE.FUNCTION"
        return {"error": error(message, "Runtime.MalformedHandlerName", request_id)}
    try:
        module = importlib.import_module(module_name)
    except Exception as failure:  # noqa: BLE001 - Lambda reports any import failure the same way
        message = f"Unable to import module '{module_name}': {failure}"
        return {"error": error(message, "Runtime.ImportModuleError", request_id)}
    handler = getattr(module, function_name, None)
    if handler is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return {"error": error(message, "Runtime.HandlerNotFound", request_id)}
    try:
        result = handler(json.loads(event_text), LambdaContext(request_id, deadline_ms))
    except Exception as failure:  # noqa: BLE001 - an unhandled error is the function's answer
        frames = traceback.extract_tb(failure.__traceback__)[1:]
        return {
            "error": error(str(failure), type(failure).__name__, request_id, traceback.format_list(frames))
        }
    try:
        json.dumps(result)
    except (TypeError, ValueError) as failure:
        return {"error": error(f"Unable to marshal response: {failure}", "Runtime.MarshalError", request_id)}
    return {"payload": result}


def main() -> None:
    request_id, deadline_ms = sys.argv[1], int(sys.argv[2])
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # from here on, whatever the function prints lands in its log
    logging.Formatter.converter = time.gmtime
    logging.basicConfig(
        format=f"[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t{request_id}\t%(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    envelope = run(request_id, deadline_ms, sys.stdin.read() or "{}")
    answer.write(json.dumps(envelope))
    answer.close()


if __name__ == "__main__":
    main()

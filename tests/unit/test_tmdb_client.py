"""The TMDB client's rules that need no server: credential kinds, the deadline, Retry-After bounds."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from datalake.errors import InvalidConnection, InvalidParameter
from datalake.tmdb.client import TmdbClient, auth_kind

V3_KEY = "0123456789abcdef0123456789abcdef"
V4_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ0ZXN0In0.c2lnbmF0dXJl"


class ScriptedTmdb(ThreadingHTTPServer):
    """Answers each GET with the next scripted (status, headers, body, delay) and records the request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script: list[tuple[int, dict, bytes, float]] = []
        self.requests: list[tuple[str, dict]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/3"

    def handle_error(self, request, client_address) -> None:
        # A client that stopped waiting for a slow answer closed its end: expected here, not a failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _ScriptedHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append((self.path, dict(self.headers)))
        status, headers, body, delay = self.server.script.pop(0)
        time.sleep(delay)
        self.send_response(status)
        for name, value in {"Content-Type": "application/json;charset=utf-8", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[ScriptedTmdb]:
    server = ScriptedTmdb()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_auth_kind_tells_v4_tokens_from_v3_keys():
    assert auth_kind(V4_TOKEN) == "bearer"
    assert auth_kind(V3_KEY) == "api_key"


def test_an_unknown_credential_shape_is_refused_without_echoing_it():
    with pytest.raises(InvalidConnection) as error:
        TmdbClient("not-a-credential-abc")
    assert "not-a-credential-abc" not in str(error.value)


def test_the_longest_retry_after_honoured_fits_in_the_default_deadline():
    from urllib3 import HTTPResponse

    from datalake.tmdb.client import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, DeadlineRetry, default_retry

    retry = DeadlineRetry.following(
        default_retry(), deadline=DEFAULT_DEADLINE, attempt_timeout=sum(DEFAULT_TIMEOUT)
    )
    rate_limited = HTTPResponse(status=429, headers={"Retry-After": "86400"})
    next_retry = retry.new(started=time.monotonic()).increment("GET", "/3/tv/42", response=rate_limited)
    assert len(next_retry.history) == 1


@pytest.mark.parametrize("deadline", [0, -1.0])
def test_a_deadline_that_is_not_positive_is_refused(deadline):
    refused = rf"deadline must be a number of seconds above 0; got {deadline!r}"
    with pytest.raises(InvalidParameter, match=refused):
        TmdbClient(V3_KEY, deadline=deadline)


def test_a_huge_retry_after_is_bounded():
    from urllib3 import HTTPResponse

    from datalake.tmdb.client import MAX_RETRY_AFTER, default_retry

    response = HTTPResponse(status=429, headers={"Retry-After": "86400"})
    assert default_retry().get_retry_after(response) == MAX_RETRY_AFTER

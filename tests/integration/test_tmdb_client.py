"""The TMDB client against the sandbox (real HTTP), and against a scripted server for faults (the answers
that are not what they claim, as the sandbox serves them: tests/integration/test_tmdb_answers.py)."""

from __future__ import annotations

import gzip
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from urllib3.util.retry import Retry

from datalake.errors import TmdbAuthError, TmdbBadAnswer, TmdbError, TmdbNotFound, TmdbUnexpectedAnswer
from datalake.tmdb.client import TmdbClient
from datalake.tmdb.ranking import DiscoverQuery

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


def ok(data: dict) -> tuple[int, dict, bytes, float]:
    return (200, {}, json.dumps(data).encode(), 0.0)


@pytest.fixture
def refusing_port() -> int:
    """A loopback port nobody listens on: it was bound, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose accept queue is full, so a new connection's SYN is dropped: a connect timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(3)]
        for waiting in queued:
            waiting.setblocking(False)
            waiting.connect_ex(("127.0.0.1", port))
        time.sleep(0.1)
        yield port
        for waiting in queued:
            waiting.close()


DETAILS = {"id": 42, "name": "Série", "external_ids": {"imdb_id": "tt1"}}
DETAILS_QUERY = "/tv/42?language=pt-BR&append_to_response=external_ids"
FAST_RETRY = Retry(
    total=3,
    backoff_factor=0,
    status_forcelist=(429, 500, 502, 503, 504),
    respect_retry_after_header=True,
    raise_on_status=False,
)


def test_v4_token_goes_as_bearer_header(scripted):
    scripted.script = [ok(DETAILS)]
    TmdbClient(V4_TOKEN, scripted.base_url).tv_details(42, "pt-BR")
    path, headers = scripted.requests[0]
    assert headers["Authorization"] == f"Bearer {V4_TOKEN}"
    assert "api_key" not in path
    assert parse_qs(urlsplit(path).query) == {"language": ["pt-BR"], "append_to_response": ["external_ids"]}


def test_v3_key_goes_as_api_key_parameter_and_not_into_the_returned_url(scripted):
    scripted.script = [ok(DETAILS)]
    response = TmdbClient(V3_KEY, scripted.base_url).tv_details(42, "pt-BR")
    path, headers = scripted.requests[0]
    assert parse_qs(urlsplit(path).query)["api_key"] == [V3_KEY]
    assert "Authorization" not in headers
    assert V3_KEY not in response.url


def test_the_body_is_kept_byte_for_byte(scripted):
    raw = b'{"id": 42,   "name": "S\\u00e9rie", "external_ids": {}}'
    scripted.script = [(200, {}, raw, 0.0)]
    response = TmdbClient(V3_KEY, scripted.base_url).tv_details(42, "pt-BR")
    assert response.body == raw
    assert response.data["name"] == "Série"


def test_server_errors_are_retried(scripted):
    scripted.script = [(503, {}, b"{}", 0.0), (502, {}, b"{}", 0.0), ok(DETAILS)]
    response = TmdbClient(V3_KEY, scripted.base_url, retry=FAST_RETRY).tv_details(42, "pt-BR")
    assert response.data["id"] == 42
    assert len(scripted.requests) == 3


def test_rate_limiting_honours_retry_after(scripted):
    limited = {
        "success": False,
        "status_code": 25,
        "status_message": "Your request count (41) is over the allowed limit of 40.",
    }  # noqa: E501 (verbatim data)
    scripted.script = [(429, {"Retry-After": "1"}, json.dumps(limited).encode(), 0.0), ok(DETAILS)]
    started = time.monotonic()
    TmdbClient(V3_KEY, scripted.base_url, retry=FAST_RETRY).tv_details(42, "pt-BR")
    assert time.monotonic() - started >= 1.0


def test_retry_log_lines_do_not_show_the_v3_key(scripted, caplog):
    scripted.script = [(503, {}, b"{}", 0.0), ok(DETAILS)]
    with caplog.at_level(logging.DEBUG):
        TmdbClient(V3_KEY, scripted.base_url, retry=FAST_RETRY).tv_details(42, "pt-BR")
    assert any("api_key=***" in record.getMessage() for record in caplog.records)
    assert V3_KEY not in caplog.text


@pytest.mark.parametrize(
    ("credential", "page", "quoted"),
    [
        (
            V3_KEY,
            f"<p>GET /3/tv/42?api_key={V3_KEY}&x=1 failed</p>",
            "'<p>GET /3/tv/42?api_key=***&x=1 failed</p>'",
        ),
        (V3_KEY, f"<p>Key {V3_KEY} unknown</p>", "'<p>Key *** unknown</p>'"),
        (V4_TOKEN, f"<p>Authorization: Bearer {V4_TOKEN}</p>", "'<p>Authorization: Bearer ***</p>'"),
    ],
    ids=["api-key-parameter", "v3-key", "v4-token"],
)
def test_a_page_that_echoes_the_request_is_quoted_with_the_credential_masked(
    scripted, credential, page, quoted
):
    """A proxy's error page may quote the URL it was asked, api_key and all, or the Authorization header."""
    scripted.script = [(200, {"Content-Type": "text/html"}, page.encode(), 0.0)]
    with pytest.raises(TmdbBadAnswer) as error:
        TmdbClient(credential, scripted.base_url, retry=Retry(0)).tv_details(42, "pt-BR")
    assert f" bytes starting {quoted}) at " in str(error.value)
    assert credential not in str(error.value) and credential not in error.value.head


def test_an_empty_200_is_a_bad_answer_that_says_it_had_no_body(scripted):
    scripted.script = [(200, {}, b"", 0.0)]
    with pytest.raises(TmdbBadAnswer) as error:
        TmdbClient(V3_KEY, scripted.base_url, retry=Retry(0)).tv_details(42, "pt-BR")
    assert str(error.value).startswith(
        "TMDB's answer for TV series 42 does not parse as JSON (Expecting value: line 1 column 1 (char 0)) "
        "(HTTP 200, content type 'application/json;charset=utf-8', no body) at "
    )


def test_a_body_that_does_not_decode_as_its_content_encoding_says_is_a_bad_answer_and_retried(scripted):
    scripted.script = [(200, {"Content-Encoding": "gzip"}, b"not gzip at all", 0.0), ok(DETAILS)]
    assert TmdbClient(V3_KEY, scripted.base_url, retry=FAST_RETRY).tv_details(42, "pt-BR").data == DETAILS
    scripted.script = [(200, {"Content-Encoding": "gzip"}, b"not gzip at all", 0.0)]
    with pytest.raises(
        TmdbBadAnswer, match="TV series 42 does not decode as its Content-Encoding 'gzip' says"
    ):
        TmdbClient(V3_KEY, scripted.base_url, retry=Retry(0)).tv_details(42, "pt-BR")


def test_a_gzipped_answer_is_kept_as_decoded(scripted):
    raw = json.dumps(DETAILS).encode()
    scripted.script = [(200, {"Content-Encoding": "gzip"}, gzip.compress(raw), 0.0)]
    assert TmdbClient(V3_KEY, scripted.base_url).tv_details(42, "pt-BR").body == raw


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"id": 7, "name": "Outra", "external_ids": {}}, "has 'id' 7, not 42"),
        ({"id": "42", "name": "Série", "external_ids": {}}, "has 'id' '42', not 42"),
        ({"id": 42, "name": None, "external_ids": {}}, "has 'name' of type null, not string"),
        ({"id": 42, "name": "Série"}, "has no 'external_ids' object"),
        ([DETAILS], "is a JSON array, not an object"),
    ],
    ids=["another-id", "id-as-text", "name-null", "no-external-ids", "array"],
)
def test_details_of_the_wrong_shape_fail_at_once_saying_what_is_wrong(scripted, answer, problem):
    scripted.script = [ok(answer)]
    with pytest.raises(TmdbUnexpectedAnswer) as error:
        TmdbClient(V3_KEY, scripted.base_url).tv_details(42, "pt-BR")
    assert str(error.value).startswith(f"TMDB's answer for TV series 42 {problem} (HTTP 200, ")
    assert len(scripted.requests) == 1


PAGE = {"page": 1, "results": [{"id": 1, "vote_average": 8.1, "vote_count": 300}], "total_pages": 1}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"page": 1}, "has no 'results' array"),
        ({**PAGE, "total_pages": "1"}, "has 'total_pages' of type string, not integer"),
        ({**PAGE, "page": 2}, "is page 2, not 1"),
        (
            {**PAGE, "results": [{"id": True, "vote_average": 8.1, "vote_count": 1}]},
            "has result 1 without an integer 'id'",
        ),
        (
            {**PAGE, "results": [{"id": 1, "vote_count": 300}]},
            "has result 1 (id 1) without a numeric 'vote_average'",
        ),
        ({**PAGE, "results": [7]}, "has result 1 without an integer 'id'"),
    ],
    ids=[
        "no-results",
        "total-pages-text",
        "another-page",
        "id-boolean",
        "no-vote-average",
        "result-not-object",
    ],
)
def test_a_discover_page_of_the_wrong_shape_fails_at_once_saying_what_is_wrong(scripted, answer, problem):
    scripted.script = [ok(answer)]
    with pytest.raises(TmdbUnexpectedAnswer) as error:
        TmdbClient(V3_KEY, scripted.base_url).discover_tv(DiscoverQuery(), page=1)
    assert str(error.value).startswith(f"TMDB's answer for discover page 1 {problem} (HTTP 200, ")


def test_a_slow_answer_says_tmdb_answered_too_slowly(scripted):
    scripted.script = [(200, {}, b"{}", 2.0)]
    client = TmdbClient(V3_KEY, scripted.base_url, timeout=(1.0, 0.3), retry=Retry(0))
    with pytest.raises(TmdbError) as error:
        client.tv_details(42, "pt-BR")
    assert re.fullmatch(
        rf"TMDB answered too slowly at {re.escape(scripted.base_url + DETAILS_QUERY)} "
        r"\(read timeout 0\.3 s\): gave up after 1 attempt in 0\.\d s",
        str(error.value),
    ), str(error.value)
    assert V3_KEY not in str(error.value)


def test_a_refused_connection_says_tmdb_could_not_be_reached_without_the_key(refusing_port):
    base_url = f"http://127.0.0.1:{refusing_port}/3"
    client = TmdbClient(V3_KEY, base_url, retry=Retry(0))
    with pytest.raises(TmdbError) as error:
        client.tv_details(42, "pt-BR")
    assert re.fullmatch(
        rf"TMDB could not be reached at {re.escape(base_url + DETAILS_QUERY)} \(connection refused\): "
        r"gave up after 1 attempt in \d+\.\d s",
        str(error.value),
    ), str(error.value)
    assert V3_KEY not in str(error.value)


def test_a_connect_timeout_says_tmdb_could_not_be_reached(unanswered_port):
    client = TmdbClient(V3_KEY, f"http://127.0.0.1:{unanswered_port}/3", timeout=(0.2, 1.0), retry=Retry(0))
    with pytest.raises(TmdbError) as error:
        client.tv_details(42, "pt-BR")
    assert re.search(
        r"could not be reached at .* \(connect timeout 0\.2 s\): gave up after 1 attempt in ",
        str(error.value),
    ), str(error.value)


def test_the_deadline_bounds_the_attempts_at_a_server_that_is_always_too_slow(scripted):
    scripted.script = [(200, {}, b"{}", 0.6)] * 30
    many = Retry(total=20, backoff_factor=0)
    client = TmdbClient(V3_KEY, scripted.base_url, timeout=(0.2, 0.2), retry=many, deadline=1.0)
    with pytest.raises(TmdbError, match="answered too slowly") as error:
        client.tv_details(42, "pt-BR")
    attempts = len(scripted.requests)
    # Each attempt waits 0.2 s for its answer, and none starts that could not end (0.4 s) within 1 s.
    assert 2 <= attempts <= 3
    assert f"gave up after {attempts} attempts in " in str(error.value)


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(scripted):
    scripted.script = [(429, {"Retry-After": "30"}, b'{"status_code": 25}', 0.0), ok(DETAILS)]
    client = TmdbClient(V3_KEY, scripted.base_url, retry=FAST_RETRY, deadline=5.0)
    with pytest.raises(TmdbError, match="HTTP 429"):
        client.tv_details(42, "pt-BR")
    assert len(scripted.requests) == 1


def test_sandbox_answers_a_bearer_token(tmdb):
    response = TmdbClient(tmdb.credential, tmdb.base_url).discover_tv(DiscoverQuery(), page=1)
    assert len(response.data["results"]) == 20
    assert response.data["total_results"] > 20


def test_sandbox_answers_a_v3_key(tmdb):
    response = TmdbClient(tmdb.api_key, tmdb.base_url).discover_tv(DiscoverQuery(), page=1)
    assert response.data["page"] == 1


def test_a_refused_credential_fails_at_once_without_showing_it(tmdb):
    wrong = "f" * 32
    with pytest.raises(TmdbAuthError, match="credential was refused") as error:
        TmdbClient(wrong, tmdb.base_url).discover_tv(DiscoverQuery(), page=1)
    assert error.value.status == 401 and error.value.tmdb_code == 7
    assert wrong not in str(error.value)


def test_an_unknown_series_is_not_found(tmdb):
    with pytest.raises(TmdbNotFound, match="/tv/999999999") as error:
        TmdbClient(tmdb.credential, tmdb.base_url).tv_details(999999999, "pt-BR")
    assert error.value.tmdb_code == 34


def test_a_page_past_500_is_tmdbs_invalid_page(tmdb):
    with pytest.raises(TmdbError) as error:
        TmdbClient(tmdb.credential, tmdb.base_url).discover_tv(DiscoverQuery(), page=501)
    assert (error.value.status, error.value.tmdb_code) == (400, 22)


def test_details_carry_external_ids(tmdb):
    response = TmdbClient(tmdb.credential, tmdb.base_url).tv_details(209867, "pt-BR")
    assert response.data["external_ids"]["imdb_id"].startswith("tt")


def test_a_read_timeout_is_retried(scripted):
    scripted.script = [(200, {}, b"{}", 1.0), ok(DETAILS)]
    client = TmdbClient(V3_KEY, scripted.base_url, timeout=(1.0, 0.3), retry=FAST_RETRY)
    assert client.tv_details(42, "pt-BR").data["id"] == 42
    assert len(scripted.requests) == 2


def test_server_errors_are_retried_a_bounded_number_of_times(scripted):
    scripted.script = [(500, {}, b'{"status_code": 11, "status_message": "Internal error"}', 0.0)] * 10
    with pytest.raises(TmdbError, match="HTTP 500") as error:
        TmdbClient(V3_KEY, scripted.base_url, retry=FAST_RETRY).tv_details(42, "pt-BR")
    assert error.value.tmdb_code == 11
    assert len(scripted.requests) == FAST_RETRY.total + 1


def test_a_missing_series_names_its_id(tmdb):
    with pytest.raises(TmdbNotFound, match="no TV series with id 999999999"):
        TmdbClient(tmdb.credential, tmdb.base_url).tv_details(999999999, "pt-BR")

"""A small client for TMDB's v3 API that keeps the raw bytes of every answer.

Both of TMDB's credentials work: a v4 read-access token (a JWT, ``eyJ...``) is sent as
``Authorization: Bearer``, a 32-hex v3 key as the ``api_key`` parameter. The credential
never appears in an error, a log line or a returned URL.

An answer is handed on only once it is one of TMDB's: a 200, JSON by its content type, read whole within
the deadline and at most MAX_BODY_BYTES, parsing, and of the shape asked for. What came garbled on the way
(a proxy's page, a body cut short or stalled) is retried like a 5xx; JSON of the wrong shape, or a body over
the cap, fails at once. Either error names what was asked, the status, the content type and the first bytes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from datalake.errors import (
    InvalidConnection,
    InvalidParameter,
    Permanent,
    TmdbAuthError,
    TmdbBadAnswer,
    TmdbError,
    TmdbNotFound,
    TmdbUnexpectedAnswer,
)
from datalake.layout import utc_timestamp
from datalake.tmdb.answers import discover_page_problem, series_details_problem
from datalake.tmdb.ranking import DiscoverQuery
from datalake.tmdb.rate_limit import DEFAULT_PER_SECOND, limiter_for
from datalake.tmdb.retry import DeadlineRetry, default_retry

DEFAULT_BASE_URL = "https://api.themoviedb.org/3"
DEFAULT_TIMEOUT = (5.0, 30.0)
"""Seconds to connect and to wait for each read."""
DEFAULT_DEADLINE = 100.0
"""Seconds one request may take, retries and their waits included: the longest Retry-After honoured
plus one whole attempt (60 + 5 + 30) fit in it, so a rate-limited request is retried as TMDB asks."""
MAX_BODY_BYTES = 2 * 1024 * 1024
"""The largest answer read (as decoded): TMDB's ``/tv/{id}`` with external_ids is 2-20 kB (the longest
series list every season), a discover page about 11 kB, so 2 MiB is a hundred times any real answer yet
bounds what a runaway body costs. A larger one is refused as it streams in, never held whole."""
READ_CHUNK = 64 * 1024
"""Bytes asked of the socket per read: each read returns what has arrived, so the deadline is checked
between reads however slowly a body trickles in."""
EXCERPT_CHARS = 60
"""How much of a bad answer an error quotes."""
JSON_MEDIA_TYPE = "application/json"
"""What TMDB answers (``application/json;charset=utf-8``); a proxy's or CDN's error page is text/html."""

_V3_KEY = re.compile(r"[0-9a-fA-F]{32}")
_API_KEY_VALUE = re.compile(r"(api_key=)[^&\s'\"]+")


class _RedactApiKey(logging.Filter):
    """urllib3 logs request URLs (at debug level, and when it retries); a v3 key travels in them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "api_key=" in message:
            record.msg, record.args = _API_KEY_VALUE.sub(r"\1***", message), ()
        return True


for _logger in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_logger).addFilter(_RedactApiKey())

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TmdbResponse:
    url: str
    """The request URL without any credential."""
    body: bytes
    """The body exactly as received."""
    data: Any
    """The body parsed as JSON."""
    fetched_at: str
    """ISO-8601 UTC time of the answer."""


def auth_kind(credential: str) -> str:
    """``"bearer"`` for a v4 read-access token, ``"api_key"`` for a v3 key."""
    if credential.startswith("eyJ"):
        return "bearer"
    if _V3_KEY.fullmatch(credential):
        return "api_key"
    raise InvalidConnection(
        "The TMDB credential is neither a v4 read-access token (starts with 'eyJ') "
        "nor a v3 API key (32 hexadecimal characters)."
    )


class TmdbClient:
    """GETs TMDB v3 resources as JSON, with timeouts, retries and a rate limit shared across processes.

    :param timeout: seconds to connect and to wait for each read, per attempt.
    :param retry: which failures are retried how often, with what backoff (default: ``default_retry()``).
    :param deadline: seconds one request may take, retries and their waits included: no attempt starts
        that could not time out before it, so a TMDB that answers too slowly fails within the deadline
        (not after every retry's timeout), saying how many attempts were made in how long.

    Like the ``requests.Session`` it holds, one client serves one thread.
    """

    def __init__(
        self,
        credential: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        deadline: float = DEFAULT_DEADLINE,
        requests_per_second: float = DEFAULT_PER_SECOND,
        rate_limit_redis_url: str | None = None,
    ):
        if not deadline > 0:
            raise InvalidParameter(
                f"TmdbClient: deadline must be a number of seconds above 0; got {deadline!r}."
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._retry = DeadlineRetry.following(
            retry or default_retry(), deadline=deadline, attempt_timeout=sum(timeout)
        )
        self.rate_limiter = limiter_for(self.base_url, requests_per_second, rate_limit_redis_url)
        self._auth_params: dict[str, str] = {}
        # Masked wherever an answer is quoted: a proxy's page may echo the request, credential and all.
        self._secrets = (credential,)
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if auth_kind(credential) == "bearer":
            self._session.headers["Authorization"] = f"Bearer {credential}"
        else:
            self._auth_params["api_key"] = credential
        self._adapter = HTTPAdapter(max_retries=self._retry)
        self._session.mount("http://", self._adapter)
        self._session.mount("https://", self._adapter)

    def get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        what: str = "",
        shape: Callable[[Any], str | None] | None = None,
    ) -> TmdbResponse:
        """GET ``{base_url}{path}``: TMDB's 200 with a JSON body, else a TmdbError naming ``what`` (the path
        by default) was asked and what came back.

        ``shape`` says what is wrong with the parsed body (None: nothing). An answer that is not valid JSON,
        or is cut short or stalls, is retried within the same attempts and deadline as a 5xx; JSON of the
        wrong shape, or a body over MAX_BODY_BYTES, fails at once (``TmdbUnexpectedAnswer``).
        """
        url = f"{self.base_url}{path}?{urlencode(params)}"
        self.rate_limiter.acquire()
        started = time.monotonic()
        retry = self._retry.new(started=started)
        while True:
            # The adapter hands its one Retry to every request: this request's deadline counts from started.
            self._adapter.max_retries = retry
            try:
                response = self._session.get(
                    f"{self.base_url}{path}",
                    params={**params, **self._auth_params},
                    timeout=self.timeout,
                    stream=True,
                )
            except requests.RequestException as error:
                # from None: requests' own message carries the full URL, api_key included.
                raise _unanswered(error, url, self.timeout, time.monotonic() - started) from None
            try:
                return self._accept(response, _Asked(what or path, url), shape, started)
            except _Refused as refused:
                if issubclass(refused.error, Permanent):
                    raise refused.as_error(self._secrets, gave_up="") from None
                retry = self._after(response.raw.retries or retry, refused, started)
                log.warning("%s; trying again", refused.as_error(self._secrets, gave_up=""))
            finally:
                response.close()
            retry.sleep()
            self.rate_limiter.acquire()

    def _accept(
        self,
        response: requests.Response,
        asked: _Asked,
        shape: Callable[[Any], str | None] | None,
        started: float,
    ) -> TmdbResponse:
        """The answer, once its status, content type, size, JSON and shape are as TMDB's; else _Refused."""
        content_type = response.headers.get("Content-Type", "")
        body, broke_off = self._read(response, started)
        if response.status_code != 200:
            raise _error_from(response.status_code, response.reason, body, asked.url)
        answer = _Answer(asked, response.status_code, content_type, body, whole=not broke_off)
        if broke_off:
            raise _Refused(broke_off, answer)
        if content_type.partition(";")[0].strip().lower() != JSON_MEDIA_TYPE:
            raise _Refused("is not JSON", answer)
        if len(body) > MAX_BODY_BYTES:
            raise _Refused("is larger than the client accepts (MAX_BODY_BYTES)", answer, TmdbUnexpectedAnswer)
        try:
            data = json.loads(body)
        except ValueError as error:
            raise _Refused(f"does not parse as JSON ({error})", answer) from None
        problem = shape(data) if shape else None
        if problem:
            raise _Refused(problem, answer, TmdbUnexpectedAnswer)
        response.raw.release_conn()
        return TmdbResponse(url=asked.url, body=body, data=data, fetched_at=utc_timestamp())

    def _read(self, response: requests.Response, started: float) -> tuple[bytes, str | None]:
        """The body as decoded, stopping one read past MAX_BODY_BYTES; and why it broke off, if it did."""
        body = bytearray()
        problem = None
        try:
            while len(body) <= MAX_BODY_BYTES and (
                chunk := response.raw.read1(READ_CHUNK, decode_content=True)
            ):
                body += chunk
                if time.monotonic() - started > self._retry.deadline:
                    problem = f"was still coming in when the {self._retry.deadline:g} s deadline passed"
                    break
        except ReadTimeoutError:
            problem = f"stopped coming in (read timeout {self.timeout[1]:g} s)"
        except DecodeError:
            problem = (
                f"does not decode as its Content-Encoding {response.headers.get('Content-Encoding')!r} says"
            )
        except HTTPError:
            declared = response.headers.get("Content-Length")
            problem = f"was cut short of the {declared} bytes it announced" if declared else "was cut short"
        return bytes(body), problem

    def _after(self, retry: Retry, refused: _Refused, started: float) -> Retry:
        """The Retry for the next attempt after a bad answer, as after a 5xx; when none is left, the error."""
        try:
            return retry.increment("GET", refused.answer.asked.url, error=ProtocolError(refused.problem))
        except (MaxRetryError, ProtocolError) as exhausted:
            attempts = getattr(exhausted, "attempts", len(retry.history) + 1)
            gave_up = _gave_up(attempts, time.monotonic() - started)
            raise refused.as_error(self._secrets, gave_up=f": {gave_up}") from None

    def discover_tv(self, query: DiscoverQuery, page: int) -> TmdbResponse:
        return self.get(
            "/discover/tv",
            query.params(page),
            what=f"discover page {page}",
            shape=discover_page_problem(page),
        )

    def tv_details(self, series_id: int, language: str) -> TmdbResponse:
        try:
            return self.get(
                f"/tv/{series_id}",
                {"language": language, "append_to_response": "external_ids"},
                what=f"TV series {series_id}",
                shape=series_details_problem(series_id),
            )
        except TmdbNotFound as error:
            raise TmdbNotFound(
                f"TMDB has no TV series with id {series_id}. {error}",
                url=error.url,
                status=404,
                tmdb_code=error.tmdb_code,
            ) from None


@dataclass(frozen=True)
class _Asked:
    what: str
    """What was asked for, in words: ``TV series 42``, ``discover page 1``."""
    url: str
    """The request URL without any credential."""


@dataclass(frozen=True)
class _Answer:
    """What came back for one request, as far as it was read."""

    asked: _Asked
    status: int
    content_type: str
    body: bytes
    whole: bool


class _Refused(Exception):
    """An answer the client will not hand on: why, and the error class it makes."""

    def __init__(self, problem: str, answer: _Answer, error: type[TmdbBadAnswer] = TmdbBadAnswer):
        super().__init__(problem)
        self.problem = problem
        self.answer = answer
        self.error = error

    def as_error(self, secrets: tuple[str, ...], gave_up: str) -> TmdbBadAnswer:
        """``TMDB's answer for TV series 42 is not JSON (HTTP 200, content type 'text/html', 318 bytes
        starting '<!DOCTYPE html>...') at <url>``, then ``gave_up``; never a credential."""
        answer = self.answer
        content_type = f"content type {answer.content_type!r}" if answer.content_type else "no content type"
        head = _excerpt(answer.body, secrets)
        if not answer.body:
            size = "no body" if answer.whole else "nothing of its body read"
        elif len(answer.body) > MAX_BODY_BYTES:
            size = f"more than {MAX_BODY_BYTES} bytes starting {head}"
        else:
            size = f"{len(answer.body)} bytes{'' if answer.whole else ' read'} starting {head}"
        return self.error(
            f"TMDB's answer for {answer.asked.what} {self.problem} (HTTP {answer.status}, {content_type}, "
            f"{size}) at {answer.asked.url}{gave_up}",
            url=answer.asked.url,
            status=answer.status,
            content_type=answer.content_type,
            head=head,
        )


def _excerpt(body: bytes, secrets: tuple[str, ...]) -> str:
    """The first EXCERPT_CHARS characters of ``body``, quoted and escaped, any credential in them masked."""
    window = body[: 4 * EXCERPT_CHARS + max(map(len, secrets), default=0)]
    text = _API_KEY_VALUE.sub(r"\1***", window.decode("utf-8", "backslashreplace"))
    for secret in secrets:
        text = text.replace(secret, "***")
    return repr(text[:EXCERPT_CHARS]) + (
        "..." if len(text) > EXCERPT_CHARS or len(body) > len(window) else ""
    )


def _gave_up(attempts: int | None, elapsed: float) -> str:
    tried = f"{attempts} attempt{'s' * (attempts != 1)} in " if attempts else ""
    return f"gave up after {tried}{elapsed:.1f} s"


def _unanswered(
    error: requests.RequestException, url: str, timeout: tuple[float, float], elapsed: float
) -> TmdbError:
    """A TmdbError that tells a slow TMDB from an unreachable one, with the attempts made and their time."""
    cause = error.args[0] if error.args and isinstance(error.args[0], Exception) else error
    reason = cause.reason if isinstance(cause, MaxRetryError) else cause
    gave_up = _gave_up(getattr(cause, "attempts", None), elapsed)
    connect, read = timeout
    if isinstance(reason, ReadTimeoutError):
        return TmdbError(f"TMDB answered too slowly at {url} (read timeout {read:g} s): {gave_up}", url=url)
    return TmdbError(
        f"TMDB could not be reached at {url} ({_unreachable_why(reason, connect)}): {gave_up}", url=url
    )


def _unreachable_why(reason: Exception | None, connect_timeout: float) -> str:
    if isinstance(reason, NameResolutionError):
        return "its host name did not resolve"
    if isinstance(reason, NewConnectionError):
        # The socket's own words, e.g. "connection refused", "network is unreachable".
        return (getattr(reason.__cause__, "strerror", None) or "no connection").lower()
    if isinstance(reason, ConnectTimeoutError):
        return f"connect timeout {connect_timeout:g} s"
    return type(reason).__name__


def _error_from(status: int, reason: str, body: bytes, url: str) -> TmdbError:
    """A TmdbError from TMDB's error body: ``{"success": false, "status_code": N, "status_message": ...}``."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    tmdb_code = parsed.get("status_code")
    detail = parsed.get("status_message") or reason
    where = f"TMDB answered HTTP {status} for {url}"
    if status in (401, 403):
        return TmdbAuthError(
            f"{where}: the credential was refused ({detail}). Check the TMDB connection's password.",
            url=url,
            status=status,
            tmdb_code=tmdb_code,
        )
    if status == 404:
        return TmdbNotFound(f"{where}: {detail}", url=url, status=404, tmdb_code=tmdb_code)
    return TmdbError(f"{where}: {detail}", url=url, status=status, tmdb_code=tmdb_code)

"""A small client for TMDB's v3 API that keeps the raw bytes of every answer.

Both of TMDB's credentials work: a v4 read-access token (a JWT, ``eyJ...``) is sent as
``Authorization: Bearer``, a 32-hex v3 key as the ``api_key`` parameter. The credential
never appears in an error, a log line or a returned URL.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from datalake.errors import InvalidConnection, InvalidParameter, TmdbAuthError, TmdbError, TmdbNotFound
from datalake.layout import utc_timestamp
from datalake.tmdb.ranking import DiscoverQuery
from datalake.tmdb.rate_limit import DEFAULT_PER_SECOND, limiter_for

DEFAULT_BASE_URL = "https://api.themoviedb.org/3"
DEFAULT_TIMEOUT = (5.0, 30.0)
"""Seconds to connect and to wait for each read."""
MAX_RETRY_AFTER = 60
"""Seconds: a longer Retry-After is cut to this, so one answer cannot stall a run for hours."""
DEFAULT_DEADLINE = 100.0
"""Seconds one request may take, retries and their waits included: the longest Retry-After honoured
plus one whole attempt (60 + 5 + 30) fit in it, so a rate-limited request is retried as TMDB asks."""

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


def default_retry() -> Retry:
    """Retries for what is transient: rate limiting (honouring a bounded Retry-After), 5xx, lost connections.

    Exponential backoff with jitter; a bounded number of attempts.
    """
    return Retry(
        total=4,
        backoff_factor=0.5,
        backoff_jitter=0.25,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        retry_after_max=MAX_RETRY_AFTER,
        raise_on_status=False,
    )


class AttemptsExhausted(MaxRetryError):
    """urllib3's "no more retries", with the number of attempts made, for an error that says it."""

    def __init__(self, pool: ConnectionPool | None, url: str | None, reason: Exception | None, attempts: int):
        super().__init__(pool, url, reason)  # type: ignore[arg-type]
        self.attempts = attempts


class DeadlineRetry(Retry):
    """A urllib3 Retry that is also exhausted when the next attempt could not end before the deadline.

    The counts alone let a series of slow answers run for attempts x (connect + read timeout) plus the
    backoff; the deadline bounds one request, retries and waits included, whatever the counts allow.
    ``started`` is the monotonic time the request began; while it is None (the template) no clock runs.
    """

    def __init__(
        self,
        *args: Any,
        deadline: float,
        attempt_timeout: float = 0.0,
        started: float | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.attempt_timeout = attempt_timeout
        self.started = started

    @classmethod
    def following(cls, retry: Retry, *, deadline: float, attempt_timeout: float) -> DeadlineRetry:
        """The same counts, backoff and status list as ``retry``, with a deadline."""
        policy = {name: getattr(retry, name) for name in inspect.signature(Retry).parameters}
        return cls(**policy, deadline=deadline, attempt_timeout=attempt_timeout)

    def new(self, **kw: Any) -> DeadlineRetry:
        # urllib3 builds every next Retry through new(): the deadline and the clock go along.
        clock = {"deadline": self.deadline, "attempt_timeout": self.attempt_timeout, "started": self.started}
        return super().new(**{**clock, **kw})

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> DeadlineRetry:
        attempts = len(self.history) + 1
        try:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exhausted:
            raise AttemptsExhausted(_pool, url, exhausted.reason, attempts) from exhausted.reason
        if not retry._next_attempt_fits(response):
            reason = error or ResponseError(
                ResponseError.SPECIFIC_ERROR.format(status_code=response.status)
                if response
                else ResponseError.GENERIC_ERROR
            )
            raise AttemptsExhausted(_pool, url, reason, attempts) from reason
        return retry

    def _next_attempt_fits(self, response: BaseHTTPResponse | None) -> bool:
        """Whether the wait urllib3 is about to sleep, then a whole attempt, still end by the deadline."""
        if self.started is None:
            return True
        retry_after = self.get_retry_after(response) if response and self.respect_retry_after_header else None
        wait = self.get_backoff_time() if retry_after is None else retry_after
        return time.monotonic() - self.started + wait + self.attempt_timeout <= self.deadline


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
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if auth_kind(credential) == "bearer":
            self._session.headers["Authorization"] = f"Bearer {credential}"
        else:
            self._auth_params["api_key"] = credential
        self._adapter = HTTPAdapter(max_retries=self._retry)
        self._session.mount("http://", self._adapter)
        self._session.mount("https://", self._adapter)

    def get(self, path: str, params: Mapping[str, Any]) -> TmdbResponse:
        """GET ``{base_url}{path}``; raises TmdbError unless TMDB answers 200 with JSON."""
        url = f"{self.base_url}{path}?{urlencode(params)}"
        self.rate_limiter.acquire()
        started = time.monotonic()
        # The adapter hands its one Retry to every request: this request's deadline counts from now.
        self._adapter.max_retries = self._retry.new(started=started)
        try:
            response = self._session.get(
                f"{self.base_url}{path}", params={**params, **self._auth_params}, timeout=self.timeout
            )
        except requests.RequestException as error:
            # from None: requests' own message carries the full URL, api_key included.
            raise _unanswered(error, url, self.timeout, time.monotonic() - started) from None
        if response.status_code != 200:
            raise _error_from(response, url)
        try:
            data = response.json()
        except ValueError:
            problem = f"TMDB answered {url} with a body that is not JSON"
            raise TmdbError(problem, url=url, status=200) from None
        return TmdbResponse(url=url, body=response.content, data=data, fetched_at=utc_timestamp())

    def discover_tv(self, query: DiscoverQuery, page: int) -> TmdbResponse:
        response = self.get("/discover/tv", query.params(page))
        results = response.data.get("results") if isinstance(response.data, dict) else None
        if not isinstance(results, list) or "total_pages" not in response.data:
            raise TmdbError(
                f"TMDB answered {response.url} without 'results' and 'total_pages'", url=response.url
            )
        return response

    def tv_details(self, series_id: int, language: str) -> TmdbResponse:
        try:
            response = self.get(
                f"/tv/{series_id}", {"language": language, "append_to_response": "external_ids"}
            )
        except TmdbNotFound as error:
            raise TmdbNotFound(
                f"TMDB has no TV series with id {series_id}. {error}",
                url=error.url,
                status=404,
                tmdb_code=error.tmdb_code,
            ) from None
        found = response.data.get("id") if isinstance(response.data, dict) else None
        if found != series_id:
            raise TmdbError(
                f"TMDB answered {response.url} with id {found!r}, expected {series_id}", url=response.url
            )
        return response


def _unanswered(
    error: requests.RequestException, url: str, timeout: tuple[float, float], elapsed: float
) -> TmdbError:
    """A TmdbError that tells a slow TMDB from an unreachable one, with the attempts made and their time."""
    cause = error.args[0] if error.args and isinstance(error.args[0], Exception) else error
    reason = cause.reason if isinstance(cause, MaxRetryError) else cause
    attempts = getattr(cause, "attempts", None)
    tried = f"{attempts} attempt{'s' * (attempts != 1)} in " if attempts else ""
    gave_up = f"gave up after {tried}{elapsed:.1f} s"
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


def _error_from(response: requests.Response, url: str) -> TmdbError:
    """A TmdbError from TMDB's error body: ``{"success": false, "status_code": N, "status_message": ...}``."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    tmdb_code = body.get("status_code")
    detail = body.get("status_message") or response.reason
    where = f"TMDB answered HTTP {response.status_code} for {url}"
    if response.status_code in (401, 403):
        return TmdbAuthError(
            f"{where}: the credential was refused ({detail}). Check the TMDB connection's password.",
            url=url,
            status=response.status_code,
            tmdb_code=tmdb_code,
        )
    if response.status_code == 404:
        return TmdbNotFound(f"{where}: {detail}", url=url, status=404, tmdb_code=tmdb_code)
    return TmdbError(f"{where}: {detail}", url=url, status=response.status_code, tmdb_code=tmdb_code)

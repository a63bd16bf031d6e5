"""How the TMDB client retries one request: what is transient, with backoff, within a deadline for all
attempts together (urllib3's ``Retry`` bounds their number, not their time)."""

from __future__ import annotations

import inspect
import time
from types import TracebackType
from typing import Any

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

MAX_RETRY_AFTER = 60
"""Seconds: a longer Retry-After is cut to this, so one answer cannot stall a run for hours."""


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

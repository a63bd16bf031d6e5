"""A request rate shared by every process on a host: TMDB allows about 40 requests/s per client.

Mapped Airflow tasks run in separate processes, so an in-memory limiter would let each of them
use the whole budget. On one host the next free slot lives in a small file, taken under ``flock``, in
the folder ``$DATALAKE_RATE_LIMIT_DIR`` names (default: the system temp folder); across the hosts of a
Celery cluster it lives in a Redis they share (``SharedRateLimiter``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

from datalake.errors import InvalidParameter
from datalake.settings import RATE_LIMIT_DIR_ENV

DEFAULT_PER_SECOND = 35.0


def state_folder() -> Path:
    """Where the host-local state files live: ``$DATALAKE_RATE_LIMIT_DIR``, else the system temp folder."""
    return Path(os.environ.get(RATE_LIMIT_DIR_ENV) or tempfile.gettempdir())


def state_file_for(name: str) -> Path:
    """The shared state file for one limited resource, e.g. one API base URL; its folder is created if
    missing."""
    folder = state_folder()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"datalake-rate-{_digest(name)}"


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


class RateLimiter:
    """Spaces calls of ``acquire`` at least ``1 / per_second`` apart across threads and processes."""

    def __init__(self, per_second: float, state_file: Path):
        if per_second <= 0:
            raise InvalidParameter(f"A rate limit must be positive requests per second; got {per_second}.")
        self.interval = 1.0 / per_second
        self.state_file = state_file
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for the next free slot; returns the seconds waited."""
        with self._lock, self.state_file.open("a+") as state:
            fcntl.flock(state, fcntl.LOCK_EX)
            state.seek(0)
            now = time.time()
            slot = max(now, float(state.read() or 0.0))
            state.seek(0)
            state.truncate()
            state.write(repr(slot + self.interval))
            state.flush()
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
        return wait


class SharedRateLimiter:
    """The same spacing kept in Redis, so every worker of a cluster draws on one budget.

    pyrate-limiter's GCRA with a burst of one spaces admissions ``1 / per_second`` apart in one Redis
    hash, updated atomically by a Lua script. Redis is imported here, not at module level: the Lambda's
    package has no Redis client and never needs one.
    """

    def __init__(self, per_second: float, redis_url: str, name: str):
        if per_second <= 0:
            raise InvalidParameter(f"A rate limit must be positive requests per second; got {per_second}.")
        from pyrate_limiter import GCRA, Limiter, Rate, RedisStateStore, StateBucket
        from redis import Redis

        # Per 1000 s, so a fractional rate (e.g. 2.5/s) stays exact in the integer Rate.
        rate = Rate(limit=round(per_second * 1000), interval=1_000_000, burst=1)
        store = RedisStateStore(Redis.from_url(redis_url), key=f"datalake-rate:{_digest(name)}")
        self._limiter = Limiter(StateBucket([rate], GCRA(), store))

    def acquire(self) -> float:
        """Wait for the next free slot in the shared budget; returns the seconds waited."""
        started = time.monotonic()
        self._limiter.try_acquire("tmdb")
        return time.monotonic() - started


class Limiter(Protocol):
    def acquire(self) -> float: ...


def limiter_for(name: str, per_second: float, redis_url: str | None = None) -> Limiter:
    """The budget for one resource: in the Redis at ``redis_url`` when one is given, else host-local."""
    if redis_url:
        return SharedRateLimiter(per_second, redis_url, name)
    return RateLimiter(per_second, state_file_for(name))

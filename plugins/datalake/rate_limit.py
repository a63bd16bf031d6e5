"""A request rate shared by every process on a host: TMDB allows about 40 requests/s per client.

Mapped Airflow tasks run in separate processes, so an in-memory limiter would let each of them
use the whole budget. Here the next free slot lives in a small file, taken under ``flock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_PER_SECOND = 35.0


def state_file_for(name: str) -> Path:
    """The shared state file for one limited resource, e.g. one API base URL."""
    return Path(tempfile.gettempdir()) / f"datalake-rate-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


class RateLimiter:
    """Spaces calls of ``acquire`` at least ``1 / per_second`` apart across threads and processes."""

    def __init__(self, per_second: float, state_file: Path):
        if per_second <= 0:
            raise ValueError(f"A rate limit must be positive requests per second; got {per_second}.")
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

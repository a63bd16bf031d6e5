"""The TMDB request rate is shared by every process on the host."""

from __future__ import annotations

import time

import pytest

from datalake.errors import InvalidParameter
from datalake.tmdb.rate_limit import RateLimiter


def test_threads_share_one_limiter(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    limiter = RateLimiter(100.0, tmp_path / "state")
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: limiter.acquire(), range(21)))
    assert time.monotonic() - started >= 0.19


def test_a_rate_must_be_positive(tmp_path):
    with pytest.raises(InvalidParameter, match="positive"):
        RateLimiter(0, tmp_path / "state")

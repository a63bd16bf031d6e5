"""One TMDB budget for a whole cluster: the limiter kept in a real redis-server on a free loopback port."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datalake.errors import InvalidParameter
from datalake.tmdb.rate_limit import RateLimiter, SharedRateLimiter, limiter_for

pytestmark = pytest.mark.skipif(
    not shutil.which("redis-server"), reason="needs redis-server (apt-get install -y redis-server)"
)

RATE = 10.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    from local_stack.databases import redis_server

    folder = tmp_path_factory.mktemp("redis")
    with redis_server(folder / "data", "test-password", folder / "redis.log") as url:
        yield url


def _acquire_many(redis_url: str, count: int, out: str) -> None:
    limiter = SharedRateLimiter(RATE, redis_url, "http://tmdb.test/3")
    stamps = []
    for _ in range(count):
        limiter.acquire()
        stamps.append(time.time())
    Path(out).write_text("\n".join(map(repr, stamps)))


def test_processes_sharing_one_redis_stay_under_the_rate_together(redis_url, tmp_path):
    outs = [tmp_path / f"out{i}" for i in range(4)]
    procs = [multiprocessing.Process(target=_acquire_many, args=(redis_url, 6, str(out))) for out in outs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    stamps = sorted(float(line) for out in outs for line in out.read_text().split())
    assert len(stamps) == 24
    # Each process alone would take 0.5 s; together they keep one schedule of 24 slots 0.1 s apart.
    assert stamps[-1] - stamps[0] >= 23 / RATE - 0.05
    assert max(sum(1 for s in stamps if start <= s < start + 1) for start in stamps) <= RATE


def test_budgets_of_different_resources_do_not_share_a_slot(redis_url):
    first, second = SharedRateLimiter(1.0, redis_url, "a"), SharedRateLimiter(1.0, redis_url, "b")
    first.acquire(), second.acquire()
    assert second.acquire() > 0.5  # b's own budget is spent; a's does not matter
    assert first.acquire() > 0.0


def test_a_redis_url_selects_the_shared_store_and_none_the_host_local_one(redis_url):
    assert isinstance(limiter_for("x", 5.0, redis_url), SharedRateLimiter)
    assert isinstance(limiter_for("x", 5.0, None), RateLimiter)


def test_a_rate_that_is_not_positive_is_refused(redis_url):
    with pytest.raises(InvalidParameter, match="positive requests per second; got 0"):
        SharedRateLimiter(0, redis_url, "x")


def test_the_tmdb_client_imports_no_redis_until_a_shared_store_is_asked_for():
    """The Lambda's package has no Redis client: importing the client must not need one."""
    code = "import sys, datalake.tmdb.client; print('redis' in sys.modules, 'pyrate_limiter' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO / "plugins", capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]

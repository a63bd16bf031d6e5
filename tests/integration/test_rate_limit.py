"""The TMDB request rate is shared by every process on the host."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from datalake.tmdb.rate_limit import RateLimiter

RATE = 35.0


def _acquire_many(state_file: str, count: int, out: str) -> None:
    limiter = RateLimiter(RATE, Path(state_file))
    stamps = []
    for _ in range(count):
        limiter.acquire()
        stamps.append(time.time())
    Path(out).write_text("\n".join(map(repr, stamps)))


def test_processes_together_stay_under_the_rate(tmp_path):
    state = tmp_path / "state"
    outs = [tmp_path / f"out{i}" for i in range(4)]
    procs = [multiprocessing.Process(target=_acquire_many, args=(str(state), 10, str(out))) for out in outs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=30)
    stamps = sorted(float(line) for out in outs for line in out.read_text().split())
    assert len(stamps) == 40
    # The schedule: 40 slots 1/RATE apart, whoever takes them. Exact, whatever the load.
    assert stamps[-1] - stamps[0] >= 39 / RATE - 0.05
    # Wake-ups on a loaded 2-core machine can bunch by a few slots; without a shared limiter all 40
    # would fall within about 0.3 s.
    assert max(sum(1 for s in stamps if start <= s < start + 1) for start in stamps) <= RATE + 3

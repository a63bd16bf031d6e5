"""The TMDB request rate is shared by every process on the host."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from datalake.errors import InvalidParameter
from datalake.settings import RATE_LIMIT_DIR_ENV
from datalake.tmdb.rate_limit import RateLimiter, state_file_for


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


def test_the_state_files_live_in_the_folder_the_environment_names(tmp_path, monkeypatch):
    folder = tmp_path / "not-yet" / "rate-limit"
    monkeypatch.setenv(RATE_LIMIT_DIR_ENV, str(folder))
    state = state_file_for("http://127.0.0.1:9/3")
    assert state.parent == folder and folder.is_dir()
    assert state.name.startswith("datalake-rate-")
    RateLimiter(100.0, state).acquire()
    assert state.exists()


def test_without_a_folder_named_the_state_files_live_in_the_system_temp_folder(monkeypatch):
    monkeypatch.delenv(RATE_LIMIT_DIR_ENV, raising=False)
    assert state_file_for("http://127.0.0.1:9/3").parent == Path(tempfile.gettempdir())

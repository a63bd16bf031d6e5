"""The running TMDB sandbox's faults, set through its admin API (``sandbox/tmdb_app.py``) for one block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from local_stack.services import LocalTmdb

ADMIN_TIMEOUT = 5


@contextmanager
def tmdb_faults(tmdb: LocalTmdb, *rules: dict[str, Any]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The sandbox answers by ``rules`` until the block ends, then by none; yields what lists the ``/3``
    requests it received since the block began."""
    admin = tmdb.base_url.removesuffix("/3")
    requests.delete(f"{admin}/_sandbox/requests", timeout=ADMIN_TIMEOUT).raise_for_status()
    requests.put(f"{admin}/_sandbox/faults", json=list(rules), timeout=ADMIN_TIMEOUT).raise_for_status()

    def received() -> list[dict[str, Any]]:
        answer = requests.get(f"{admin}/_sandbox/requests", timeout=ADMIN_TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    try:
        yield received
    finally:
        requests.delete(f"{admin}/_sandbox/faults", timeout=ADMIN_TIMEOUT).raise_for_status()

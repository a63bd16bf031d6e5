"""The unit tier runs in this process alone: a test (or a fixture it sets up, whatever its scope) that
starts a child process, opens a network socket or connects to a database fails, naming what it did and
where such a test belongs."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib.font_manager  # noqa: F401 (its first import on a machine runs fc-list: here, unguarded)
import pytest
from sqlalchemy.engine import Engine

NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)
"""A Unix socket is a file (the CSV contract refuses one); these reach a server."""


def forbidden(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(
            f"tests/unit {what}: move this test to tests/integration (tests/conftest.py TIERS)", pytrace=False
        )

    return refuse


def network_only(method: Callable[..., Any], what: str) -> Callable[..., Any]:
    refuse = forbidden(what)

    def guarded(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if sock.family in NETWORK_FAMILIES:
            refuse()
        return method(sock, *args, **kwargs)

    return guarded


@contextmanager
def in_process_only() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", forbidden("starts no child process (subprocess.Popen)"))
        patch.setattr(os, "fork", forbidden("starts no child process (os.fork, multiprocessing)"))
        patch.setattr(os, "system", forbidden("starts no child process (os.system)"))
        for name in ("connect", "connect_ex", "bind"):
            method = getattr(socket.socket, name)
            what = f"opens no network socket (socket.{name})"
            patch.setattr(socket.socket, name, network_only(method, what))
        patch.setattr(Engine, "connect", forbidden("touches no database (Engine.connect)"))
        yield


# Each phase of a unit test runs guarded: setup covers its fixtures of every scope, set up on first use.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with in_process_only():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with in_process_only():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with in_process_only():
        return (yield)

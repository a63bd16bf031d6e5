"""How the runners start, watch and stop what they start, so that no process outlives them.

Every child runs in its own process group (a Ctrl-C at the terminal reaches only the runner, which stops
the children in order) and is told by Linux to end when the runner ends, even by SIGKILL
(``PR_SET_PDEATHSIG``). SIGINT, SIGTERM and SIGHUP end a runner the same way, through ``Interrupted``.

The long-running children a stack depends on (its ``Component``s: Airflow's processes, the embedded
services) are watched while it runs (``watching``): the first one to end stops the runner with
``ComponentExited``, which names it and its log, rather than leaving the run to time out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
STOP_SECONDS = 20.0
COMPONENT_STOP_SECONDS = 10.0
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class Interrupted(BaseException):
    """A stop signal arrived; a BaseException so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.during: str | None = None
        """What the runner was doing: set by the innermost ``during`` block."""

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP)."""
        return 128 + self.signum

    def message(self, runner: str) -> str:
        what = f" during {self.during}" if self.during else ""
        name = signal.Signals(self.signum).name
        return f"{runner}: interrupted by {name}{what}; every process it started is stopped."


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """The first SIGINT, SIGTERM or SIGHUP raises ``Interrupted`` in the main thread; later ones are ignored,
    so that the stopping itself (bounded by ``STOP_SECONDS`` per child) is not cut short."""
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        if not received:
            received.append(signum)
            raise Interrupted(signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def during(activity: str) -> Iterator[None]:
    """Name what the block does in the message of an interruption inside it (the innermost name wins)."""
    try:
        yield
    except Interrupted as interruption:
        interruption.during = interruption.during or activity
        raise


def _end_with_parent(parent: int, death_signal: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``death_signal`` when its parent dies, or ends if it already has."""

    def setup() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return setup


_CHILD_OUTPUT: ContextVar[tuple[int, Path] | None] = ContextVar("child_output", default=None)


@contextmanager
def children_write_to(descriptor: int, path: Path) -> Iterator[None]:
    """Children started in the block without an ``stdout`` of their own write their output (and errors) to
    ``descriptor``, the file at ``path`` (e.g. a run's log): the terminal keeps what the runner prints."""
    token = _CHILD_OUTPUT.set((descriptor, path))
    try:
        yield
    finally:
        _CHILD_OUTPUT.reset(token)


def children_output() -> Path | None:
    """Where the children started here write (``children_write_to``); None: the runner's own terminal."""
    output = _CHILD_OUTPUT.get()
    return output[1] if output else None


@dataclass(frozen=True)
class Component:
    """A long-running child a stack depends on, by the name messages give it, and the file its output goes
    to (None: the runner's terminal)."""

    name: str
    process: subprocess.Popen
    log: Path | None

    def exit_description(self) -> str:
        """``exited with code 1``, or ``was killed by SIGKILL``."""
        code = self.process.returncode
        if code is not None and code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"


class ComponentExited(BaseException):
    """A watched component ended while the stack ran; a BaseException, like ``Interrupted``, so that no
    ``except Exception`` swallows it on its way to the runner, which stops everything and exits 1."""

    exit_code = 1

    def __init__(self, component: Component) -> None:
        super().__init__(component.name)
        self.component = component

    def message(self, runner: str) -> str:
        component = self.component
        log = f"its log: {component.log}" if component.log else "its output is above"
        return (
            f"{runner}: {component.name} {component.exit_description()} during the run; {log} "
            "(every process it started is stopped)"
        )


_NAMING: ContextVar[tuple[str, Path | None, list[Component]] | None] = ContextVar("naming", default=None)


@contextmanager
def named(name: str, log: Path | None, components: list[Component]) -> Iterator[None]:
    """The children started in the block are added to ``components`` as ``name``, writing to ``log``: a
    service's own context manager (e.g. ``services.rclone_s3``) starts it, and the stack watches it."""
    token = _NAMING.set((name, log, components))
    try:
        yield
    finally:
        _NAMING.reset(token)


@contextmanager
def watching(components: list[Component], redundant: frozenset[str] = frozenset()) -> Iterator[None]:
    """While the block runs, the first of ``components`` to end raises ``ComponentExited`` in it (the main
    thread), at once: on SIGCHLD, which Linux sends this process when any child ends. Of the ``redundant``
    ones (e.g. the Celery workers) all but one may end: the others take over their work.

    Must be left before any component is stopped on purpose (the stacks stop theirs after the block)."""

    def ended() -> Component | None:
        gone = [component for component in components if component.process.poll() is not None]
        spares = [component for component in components if component.name in redundant]
        for component in gone:
            if component.name not in redundant or all(spare in gone for spare in spares):
                return component
        return None

    fired = []

    def check(signum: int | None = None, frame: object = None) -> None:
        if not fired and (component := ended()):
            fired.append(component)
            # What it left in its group goes at once: an API server's worker, orphaned, still holds the
            # port and takes connections it never answers, which the runner's way out would wait for.
            _signal_group(component.process.pid, signal.SIGKILL)
            raise ComponentExited(component)

    previous = signal.signal(signal.SIGCHLD, check)
    try:
        check()
        yield
    finally:
        signal.signal(signal.SIGCHLD, previous)


def start(command: list[str], death_signal: int = signal.SIGTERM, **popen: Any) -> subprocess.Popen:
    """``subprocess.Popen`` in a process group of its own, sent ``death_signal`` by Linux if this process dies
    (even by SIGKILL): SIGINT for a child that stops its own children only on Ctrl-C.

    Linux sends it when the *thread* that started the child ends: a child started from another thread
    (e.g. a test restarting a server) is not given one, or it would end with that thread.
    """
    main = threading.current_thread() is threading.main_thread()
    preexec = _end_with_parent(os.getpid(), death_signal) if main else None
    if (output := _CHILD_OUTPUT.get()) is not None and "stdout" not in popen:
        popen = {**popen, "stdout": output[0], "stderr": subprocess.STDOUT}
    process = subprocess.Popen(command, process_group=0, preexec_fn=preexec, **popen)
    if (naming := _NAMING.get()) is not None:
        name, log, components = naming
        components.append(Component(name, process, log))
    return process


def start_component(
    name: str,
    command: list[str],
    components: list[Component],
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> Component:
    """``start`` ``command`` as the component ``name``, added to ``components``: its output to ``log``, else
    where ``children_write_to`` sends it (the run's log), else to the terminal. It gets SIGTERM if this
    process dies; ``stop_in_order`` stops it otherwise."""
    if log is None:
        process = start(command, env=env, stdin=subprocess.DEVNULL)
        component = Component(name, process, children_output())
        if (output := _CHILD_OUTPUT.get()) is not None:  # which of the lines that follow are whose
            os.write(output[0], f"{name} started, pid {process.pid}: {shlex.join(command)}\n".encode())
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            process = start(
                command, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        component = Component(name, process, log)
    components.append(component)
    return component


def stop(process: subprocess.Popen, first: int = signal.SIGTERM, seconds: float = STOP_SECONDS) -> None:
    """Send ``first`` to the child's whole group, then SIGKILL if it has not ended within ``seconds``;
    SIGKILL goes to the group in any case, for what the child left behind."""
    _signal_group(process.pid, first)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    _signal_group(process.pid, signal.SIGKILL)


def stop_in_order(components: list[Component], seconds: float = COMPONENT_STOP_SECONDS) -> None:
    """Stop ``components`` one after the other, each with one SIGTERM to it alone, waited for up to
    ``seconds``, then SIGKILL to its group, for itself if it is still there and for what it left behind.

    One signal each, to the process that handles it: a SIGTERM to the whole group as well would reach its
    children beside their parent's own order to stop, and two stop signals milliseconds apart deadlock
    Airflow's components (structlog's lock) or let them exit before their children (issue 24)."""
    for component in components:
        process = component.process
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass


def run_child(command: list[str], forward: int = signal.SIGTERM, **popen: Any) -> int:
    """Run a child to its end and return its exit status; if this process is interrupted meanwhile, the child
    gets ``forward`` (then SIGKILL) before the interruption goes on. Its group ends with it."""
    process = start(command, **popen)
    try:
        process.wait()
    except BaseException:
        stop(process, forward)
        raise
    _signal_group(process.pid, signal.SIGKILL)
    return process.returncode


@contextmanager
def exclusive_use(lock_path: Path, holder: str) -> Iterator[None]:
    """Hold ``lock_path`` (flock) for the block, waiting for whoever holds it, whom a message names.

    The file keeps the holder's pid and description for the waiting ones to show; it is never removed,
    since removing a lock file lets two processes hold two different files under the same name.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"Waiting for {_holder(lock_path)}, which uses the same metadata DB "
                f"(lock {lock_path}); Ctrl-C gives up.",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps({"pid": os.getpid(), "holder": holder}).encode(), 0)
        yield
    finally:
        os.close(descriptor)


def _holder(lock_path: Path) -> str:
    """Who the lock file says holds it, e.g. ``make run for 2026-11-27 (pid 1234)``."""
    try:
        content = json.loads(lock_path.read_text())
        return f"{content['holder']} (pid {content['pid']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another runner (pid not yet written)"

"""The stacks' components, watched and stopped: one that ends stops the runner at once, naming it and its
log; the stop gives each one SIGTERM, to it alone, in order, each waited for within its bound."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from local_stack import processes, stack
from local_stack.processes import Component, ComponentExited, start_component, stop_in_order, watching

RECORDER = """
import os, signal, sys, time
name, record, ignore = sys.argv[1], sys.argv[2], sys.argv[3] == "ignore"
if os.fork() == 0:  # a child in the component's group, as Airflow's task and parsing processes are
    name += "'s child"
def note(signum, frame):
    with open(record, "a") as out:
        out.write(f"{time.monotonic()} {name} {signal.Signals(signum).name}\\n")
    if not ignore and "child" not in name:
        time.sleep(0.3)  # an orderly shutdown takes a moment
        os._exit(0)
signal.signal(signal.SIGTERM, note)
signal.signal(signal.SIGINT, note)
with open(record, "a") as out:
    out.write(f"{time.monotonic()} {name} started\\n")
while True:
    time.sleep(60)
"""


def recorders(tmp_path: Path, names: list[str], ignoring: str = "") -> tuple[list[Component], Path]:
    record = tmp_path / "signals"
    components: list[Component] = []
    for name in names:
        mode = "ignore" if name == ignoring else "obey"
        command = [sys.executable, "-c", RECORDER, name, str(record), mode]
        start_component(name, command, components, tmp_path / f"{name}.log")
    deadline = time.monotonic() + 20
    try:
        while (record.read_text().count("started") if record.exists() else 0) < 2 * len(names):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    except BaseException:
        stop_in_order(components)
        raise
    return components, record


def received(record: Path) -> list[tuple[float, str, str]]:
    lines = [line.split(" ", 1) for line in record.read_text().splitlines() if not line.endswith("started")]
    return [(float(at), *rest.rsplit(" ", 1)) for at, rest in lines]


def test_the_stop_sends_one_sigterm_to_each_component_alone_in_order_each_waited_for(tmp_path):
    components, record = recorders(tmp_path, ["scheduler", "dag-processor", "api-server"])
    children = [psutil.Process(c.process.pid).children()[0] for c in components]
    stop_in_order(components, seconds=10)
    signals = received(record)
    assert [(name, signum) for _, name, signum in signals] == [
        ("scheduler", "SIGTERM"),
        ("dag-processor", "SIGTERM"),
        ("api-server", "SIGTERM"),
    ], "one SIGTERM each, in order, and none to the children in their groups"
    gaps = [later[0] - earlier[0] for earlier, later in zip(signals, signals[1:], strict=False)]
    assert all(gap >= 0.3 for gap in gaps), "each one's shutdown waited for before the next is signalled"
    assert all(component.process.returncode == 0 for component in components)
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], "what a component left in its group is killed"


def test_a_component_that_ignores_its_sigterm_is_killed_after_its_bound_and_the_next_one_stopped(tmp_path):
    components, record = recorders(tmp_path, ["scheduler", "api-server"], ignoring="scheduler")
    started = time.monotonic()
    stop_in_order(components, seconds=1)
    assert time.monotonic() - started < 5
    assert components[0].process.returncode == -signal.SIGKILL
    assert [(name, signum) for _, name, signum in received(record)] == [
        ("scheduler", "SIGTERM"),
        ("api-server", "SIGTERM"),
    ]


def test_a_component_that_dies_stops_the_block_at_once_naming_it_and_its_log(tmp_path):
    components, _ = recorders(tmp_path, ["scheduler", "api-server"])
    orphans = psutil.Process(components[1].process.pid).children()
    try:
        with pytest.raises(ComponentExited) as exited:
            with watching(components):
                killed = time.monotonic()
                os.kill(components[1].process.pid, signal.SIGKILL)
                time.sleep(30)
        assert time.monotonic() - killed < 2
        _, alive = psutil.wait_procs(orphans, timeout=2)
        assert alive == [], "what the dead one left in its group (an API server's worker on its port) is gone"
    finally:
        stop_in_order(components)
    assert exited.value.component is components[1]
    assert exited.value.message("make run") == (
        f"make run: api-server was killed by SIGKILL during the run; its log: {tmp_path / 'api-server.log'} "
        "(every process it started is stopped)"
    )
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL, "the watch ends with its block"


def test_the_runner_exits_1_and_says_which_component_ended(tmp_path, capsys):
    components: list[Component] = []
    with processes.named("the TMDB sandbox", tmp_path / "tmdb.log", components):
        processes.start([sys.executable, "-c", "import sys, time; time.sleep(0.5); sys.exit(3)"])

    def body() -> int:
        with watching(components):
            time.sleep(30)
        return 0

    try:
        assert stack.guarded("make run", body) == 1
    finally:
        stop_in_order(components)
    assert (
        f"make run: the TMDB sandbox exited with code 3 during the run; its log: {tmp_path / 'tmdb.log'}"
        in capsys.readouterr().err
    )


def test_a_redundant_component_may_end_while_another_one_works_but_not_the_last(tmp_path):
    components, _ = recorders(tmp_path, ["worker-1", "worker-2"])
    try:
        with pytest.raises(ComponentExited) as exited:
            with watching(components, redundant=frozenset({"worker-1", "worker-2"})):
                os.kill(components[0].process.pid, signal.SIGKILL)
                time.sleep(2)  # survived: worker-2 works on
                os.kill(components[1].process.pid, signal.SIGKILL)
                time.sleep(30)
    finally:
        stop_in_order(components)
    assert exited.value.component.name in {"worker-1", "worker-2"}

"""What a runner starts ends with it; runners sharing a metadata DB take turns; a signal names what it
stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from local_stack import processes, stack
from local_stack.processes import during, exclusive_use

REPO = Path(__file__).resolve().parents[3]

START_A_SLEEPER = """
import sys, time
from local_stack import processes
child = processes.start([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def gone(pid: int, timeout: float = 10) -> bool:
    """Whether the process ``pid`` has ended (or become a zombie) within ``timeout``."""
    try:
        process = psutil.Process(pid)
        process.wait(timeout=timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return process.status() == psutil.STATUS_ZOMBIE
    return True


def test_a_child_ends_even_when_its_runner_is_killed_outright():
    runner = subprocess.Popen(
        [sys.executable, "-c", START_A_SLEEPER], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    child = int(runner.stdout.readline())
    assert psutil.Process(child).ppid() == runner.pid
    assert os.getpgid(child) == child, "in a group of its own, out of reach of the terminal's Ctrl-C"
    runner.kill()
    runner.wait()
    assert gone(child)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_stop_signal_stops_the_running_child_and_exits_with_128_plus_it(capsys, signum, code):
    before = signal.getsignal(signum)
    sleeper = f"import os, time; os.kill({os.getpid()}, {signum}); time.sleep(600)"

    def body() -> int:
        with during("the sleeper"):
            return processes.run_child([sys.executable, "-c", sleeper])

    assert stack.guarded("make test", body) == code
    name = signal.Signals(signum).name
    assert f"make test: interrupted by {name} during the sleeper;" in capsys.readouterr().err
    assert [child for child in psutil.Process().children(recursive=True) if sleeper in child.cmdline()] == []
    assert signal.getsignal(signum) == before


def test_the_innermost_activity_is_named():
    with pytest.raises(processes.Interrupted) as interruption:
        with during("the run"), during("the report"):
            raise processes.Interrupted(signal.SIGINT)
    assert interruption.value.during == "the report"


LOCK_THEN_SAY = """
import sys
from pathlib import Path
from local_stack.processes import exclusive_use
with exclusive_use(Path(sys.argv[1]), "the second"):
    print("acquired", flush=True)
"""


def test_a_second_runner_waits_naming_the_first_ones_pid(tmp_path):
    lock = tmp_path / "airflow" / "airflow.db.lock"
    with exclusive_use(lock, "make run for 2026-11-27"):
        second = subprocess.Popen(
            [sys.executable, "-c", LOCK_THEN_SAY, str(lock)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        waiting = second.stderr.readline()
        assert f"Waiting for make run for 2026-11-27 (pid {os.getpid()})" in waiting
        time.sleep(0.5)
        assert second.poll() is None, "it waits while the first holds the lock"
    assert second.stdout.readline() == "acquired\n"
    assert second.wait(timeout=30) == 0


def test_a_child_started_from_another_thread_outlives_that_thread():
    """Linux would end it with the thread that started it: such a child (a server restarted by a test's
    thread) is stopped by whoever holds it instead."""
    started: list[subprocess.Popen] = []
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    thread = threading.Thread(target=lambda: started.append(processes.start(sleeper)))
    thread.start()
    thread.join()
    try:
        assert not gone(started[0].pid, timeout=2)
    finally:
        processes.stop(started[0])

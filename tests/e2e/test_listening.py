"""Every socket that any process of a real ``make run`` listens on is bound to loopback: sampled on the
runner's whole process tree (the embedded services, Airflow's components and the task processes they start)
from its start to its end."""

from __future__ import annotations

import ipaddress
import re
import socket
import time

import psutil
import pytest

from tests.e2e.test_interrupts import start

pytestmark = pytest.mark.e2e

DAY = "2026-11-25"


def listening(root: psutil.Process) -> set[tuple[str, str, int, str]]:
    """``(type, address, port, command)`` of each TCP socket in LISTEN and each unconnected bound UDP socket
    of ``root`` and its descendants."""
    found = set()
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for process in tree:
        try:
            command = " ".join(process.cmdline())[:120]
            for connection in process.net_connections(kind="inet"):
                tcp = connection.type == socket.SOCK_STREAM
                if (tcp and connection.status == psutil.CONN_LISTEN) or (not tcp and not connection.raddr):
                    kind = "tcp" if tcp else "udp"
                    found.add((kind, connection.laddr.ip, connection.laddr.port, command))
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return found


def test_every_socket_a_run_listens_on_is_bound_to_loopback(tmp_path):
    process, output = start("local_stack.run", tmp_path, "--date", DAY)
    seen: set[tuple[str, str, int, str]] = set()
    try:
        root = psutil.Process(process.pid)
        deadline = time.monotonic() + 600
        while process.poll() is None:
            assert time.monotonic() < deadline, output.read_text()[-5000:]
            seen |= listening(root)
            time.sleep(0.3)
    finally:
        if process.poll() is None:
            process.kill()
    printed = output.read_text()
    assert process.returncode == 0, printed[-5000:]
    api_port = int(re.search(r"Airflow \(standalone\): http://127\.0\.0\.1:(\d+)", printed)[1])
    assert api_port in {port for _, _, port, _ in seen}, f"the sampling saw the API server: {seen}"
    assert any("rclone" in command for _, _, _, command in seen), seen
    exposed = sorted(entry for entry in seen if not ipaddress.ip_address(entry[1]).is_loopback)
    assert exposed == [], f"listening beyond loopback: {exposed}"

"""The tiers hold mechanically: the folder gives the marker; a cheap tier cannot start what it must not."""

from __future__ import annotations

import socket
import subprocess

import pytest
from sqlalchemy import create_engine

pytest_plugins = ["pytester"]

RIG = """
import pytest

from tests.conftest import pytest_collection_modifyitems  # noqa: F401 (the hook under test)


@pytest.fixture
def local_s3():
    return "a server"
"""
"""A tree whose conftest has the real tier hook and a stand-in for a server fixture (nothing starts)."""


@pytest.fixture
def tree(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(RIG)
    return pytester


@pytest.mark.parametrize("tier", ["unit", "dags"])
def test_a_serverless_tier_test_using_a_server_fixture_fails_at_collection_naming_it(tree, tier):
    tree.makepyfile(**{f"tests/{tier}/test_cheap.py": "def test_lands(local_s3):\n    pass\n"})
    result = tree.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*tests/{tier}/test_cheap.py::test_lands: tests/{tier} starts no server but this test uses "
            "local_s3: rclone serving S3 (tests/conftest.py); move it to tests/integration",
        ]
    )
    result.assert_outcomes()


def test_the_same_test_in_the_integration_tier_runs(tree):
    tree.makepyfile(**{"tests/integration/test_real.py": "def test_lands(local_s3):\n    pass\n"})
    tree.runpytest().assert_outcomes(passed=1)


def test_a_test_outside_a_tier_folder_fails_at_collection(tree):
    tree.makepyfile(**{"tests/test_loose.py": "def test_anything():\n    pass\n"})
    result = tree.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*tests/test_loose.py::test_anything: not in a tier folder*"])


def test_each_test_is_marked_with_its_folders_tier(tree):
    for tier in ("unit", "dags", "integration", "e2e"):
        tree.makepyfile(**{f"tests/{tier}/test_{tier}_one.py": "def test_one():\n    pass\n"})
    tree.runpytest("-m", "dags or e2e").assert_outcomes(passed=2, deselected=2)


def test_a_unit_test_starting_a_child_process_fails_naming_what_it_did():
    with pytest.raises(pytest.fail.Exception, match=r"tests/unit starts no child process \(subprocess"):
        subprocess.run(["true"], check=False)


def test_a_unit_test_opening_a_network_connection_fails_naming_what_it_did():
    with socket.socket() as sock, pytest.raises(pytest.fail.Exception, match="opens no network socket"):
        sock.connect(("127.0.0.1", 9))


def test_a_unix_socket_is_a_file_and_stays_allowed(tmp_path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
    assert (tmp_path / "s").is_socket()


def test_a_unit_test_touching_a_database_fails_naming_what_it_did():
    with pytest.raises(pytest.fail.Exception, match=r"touches no database \(Engine\.connect\)"):
        create_engine("sqlite://").connect()

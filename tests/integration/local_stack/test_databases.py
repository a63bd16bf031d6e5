"""The cluster's PostgreSQL from a clone under a folder other users cannot enter (root's home, a
``mktemp -d``): as root the server runs as ``postgres``, so its data must live where that user reaches it."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

import psutil
import psycopg2
import pytest

from local_stack.databases import POSTGRES_USER, SERVER_DATA_ROOT, missing_binaries, postgres_server

pytestmark = pytest.mark.skipif(
    bool(missing_binaries()) and not os.environ.get("CI"),
    reason="needs apt-get install -y postgresql redis-server",
)


def server_folders(data: Path) -> list[Path]:
    digest = hashlib.sha256(str(data).encode()).hexdigest()[:12]
    return sorted(SERVER_DATA_ROOT.glob(f"datalake-postgres-{digest}-*"))


def test_postgres_serves_a_clone_under_a_private_folder_and_leaves_nothing_at_exit():
    with tempfile.TemporaryDirectory() as private:  # 0700, as root's home
        assert Path(private).stat().st_mode & 0o777 == 0o700
        data = Path(private) / "clone" / ".local" / "cluster" / "postgres"
        password = secrets.token_urlsafe(16)
        with postgres_server(data, password, Path(private) / "postgres.log") as url:
            address = url.split("@")[1]
            host, port = address.split("/")[0].split(":")
            with (
                psycopg2.connect(
                    host=host, port=port, user=POSTGRES_USER, password=password, dbname="airflow"
                ) as connection,
                connection.cursor() as cursor,
            ):
                cursor.execute("SHOW data_directory")
                (served,) = cursor.fetchone()
            server = [
                p for p in psutil.process_iter(["name", "cmdline"]) if served in (p.info["cmdline"] or [])
            ]
            assert server, "the postmaster names its data folder"
            if os.geteuid() == 0:
                (folder,) = server_folders(data)
                assert Path(served) == folder / "data"
                for path in (folder, folder / "data"):
                    assert (path.stat().st_mode & 0o777, path.owner()) == (0o700, POSTGRES_USER)
            else:
                assert Path(served) == data
        assert server_folders(data) == []
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in server)

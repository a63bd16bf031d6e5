"""``make run`` migrates the metadata DB only when this Airflow has not already brought it to its head."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from local_stack import stack

HEAD = "d2f4e1b3c5a7"


def set_revision(db: Path, revision: str) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("DELETE FROM alembic_version")
        connection.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    connection.close()


@pytest.fixture
def migrations(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, ...]]:
    """Each ``airflow`` command run; ``db migrate`` brings the DB to HEAD, as the real one does."""
    commands: list[tuple[str, ...]] = []

    def airflow(*args: str) -> int:
        commands.append(args)
        set_revision(tmp_path / "airflow.db", HEAD)
        return 0

    monkeypatch.setattr(stack, "airflow", airflow)
    return commands


def test_a_fresh_db_is_migrated_and_stamped(tmp_path, migrations):
    db = tmp_path / "airflow.db"
    stack.migrate(db)
    assert migrations == [("db", "migrate")]
    assert json.loads((tmp_path / "airflow.db.migrated").read_text())["revision"] == HEAD


def test_a_db_this_airflow_migrated_is_not_migrated_again(tmp_path, migrations):
    db = tmp_path / "airflow.db"
    stack.migrate(db)
    stack.migrate(db)
    assert migrations == [("db", "migrate")]


def test_a_db_that_moved_since_its_migration_is_migrated(tmp_path, migrations):
    db = tmp_path / "airflow.db"
    stack.migrate(db)
    set_revision(db, "0123456789ab")  # e.g. downgraded, or replaced by an older DB
    stack.migrate(db)
    assert migrations == [("db", "migrate")] * 2


def test_a_db_created_empty_is_migrated(tmp_path, migrations):
    db = tmp_path / "airflow.db"
    stack.migrate(db)
    db.unlink()
    sqlite3.connect(db).close()
    stack.migrate(db)
    assert migrations == [("db", "migrate")] * 2


def test_another_airflow_version_migrates(tmp_path, migrations, monkeypatch):
    db = tmp_path / "airflow.db"
    stack.migrate(db)
    monkeypatch.setattr(stack.importlib.metadata, "version", lambda name: "9.9.9")
    stack.migrate(db)
    assert migrations == [("db", "migrate")] * 2


def test_a_failed_migration_stops_and_leaves_no_stamp(tmp_path, monkeypatch):
    monkeypatch.setattr(stack, "airflow", lambda *args: 1)
    with pytest.raises(SystemExit, match="airflow db migrate failed"):
        stack.migrate(tmp_path / "airflow.db")
    assert not (tmp_path / "airflow.db.migrated").exists()


def test_the_revision_check_never_creates_the_db(tmp_path):
    assert stack.db_revision(tmp_path / "airflow.db") is None
    assert not (tmp_path / "airflow.db").exists()

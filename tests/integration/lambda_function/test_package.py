"""The deployment package: what it holds, what it leaves out, and that a rebuild gives the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from lambda_function import build
from sandbox.lambda_app import link_runtime_libraries

DEPENDENCIES = {"requests", "urllib3", "certifi", "idna", "charset_normalizer"}


def entries(zip_path: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.infolist()


def test_it_holds_the_handler_the_shared_package_and_its_dependencies(lambda_zip):
    names = {entry.filename for entry in entries(lambda_zip)}
    assert {"handler.py", "datalake/__init__.py", "datalake/tmdb_ingest.py", "datalake/params.py"} <= names
    top_level = {name.split("/")[0] for name in names}
    metadata = {name for name in top_level if name.endswith(".dist-info")}
    assert {name.split("-")[0] for name in metadata} == DEPENDENCIES
    assert top_level - metadata == {"handler.py", "datalake"} | DEPENDENCIES


def test_it_leaves_out_airflow_tests_secrets_bytecode_and_the_runtimes_sdk(lambda_zip):
    names = [entry.filename for entry in entries(lambda_zip)]
    left_out = (
        "airflow_tasks.py", "assets.py", "operators.py", "report_tasks.py", "report.py", "report_files.py",
        "history.py",
    )
    for glue in left_out:
        assert f"datalake/{glue}" not in names
    for name in names:
        parts = name.split("/")
        assert not any(part.startswith(".") for part in parts), name  # .env and the like
        assert not any(part in ("tests", "test", "__pycache__", "bin") for part in parts), name
        assert not parts[-1].startswith("test_") and not name.endswith(".pyc"), name
        assert parts[0] not in ("boto3", "botocore", "airflow"), name
    for name in names:
        if name.startswith("datalake/") and name.endswith(".py"):
            source = Path(build.PACKAGE, name.removeprefix("datalake/")).read_text()
            assert "import airflow" not in source and "from airflow" not in source, name


def test_it_holds_exactly_the_modules_the_handler_reaches(lambda_zip):
    packaged = {
        e.filename.removeprefix("datalake/")
        for e in entries(lambda_zip)
        if e.filename.startswith("datalake/")
    }
    assert packaged == {
        "__init__.py",
        "csv_files.py",
        "layout.py",
        "params.py",
        "ranking.py",
        "rate_limit.py",
        "storage.py",
        "tmdb.py",
        "tmdb_errors.py",
        "tmdb_ingest.py",
    }


def test_every_module_imports_with_only_the_zip_and_the_runtimes_sdk(lambda_zip, tmp_path):
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(tmp_path / "task")
    modules = ["handler"] + sorted(
        f"datalake.{path.stem}"
        for path in (tmp_path / "task" / "datalake").glob("*.py")
        if path.stem != "__init__"
    )
    path = os.pathsep.join([str(tmp_path / "task"), str(link_runtime_libraries(tmp_path / "runtime"))])
    done = subprocess.run(
        [sys.executable, "-S", "-P", "-c", f"import {', '.join(modules)}, requests"],
        cwd=tmp_path / "task",
        env={"PYTHONPATH": path},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_entry_is_sorted_dated_1980_and_mode_0644(lambda_zip):
    infos = entries(lambda_zip)
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644


def test_a_rebuild_gives_the_same_bytes(lambda_zip, tmp_path):
    again = build.build(tmp_path / "again.zip")
    assert again.read_bytes() == lambda_zip.read_bytes()


def test_dependency_versions_come_from_the_lock_file(lambda_zip):
    pins = build.pinned_versions(build.CONSTRAINTS, tuple(sorted(DEPENDENCIES)))
    names = {entry.filename.split("/")[0] for entry in entries(lambda_zip)}
    for pin in pins:
        name, version = pin.split("==")
        assert f"{name.replace('-', '_')}-{version}.dist-info" in names

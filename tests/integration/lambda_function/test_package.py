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
    assert {"handler.py", "datalake/__init__.py", "datalake/tmdb/ingest.py", "datalake/run_params.py"} <= (
        names
    )
    top_level = {name.split("/")[0] for name in names}
    metadata = {name for name in top_level if name.endswith(".dist-info")}
    assert {name.split("-")[0] for name in metadata} == DEPENDENCIES
    assert top_level - metadata == {"handler.py", "datalake"} | DEPENDENCIES


def test_it_leaves_out_tests_secrets_bytecode_and_the_runtimes_sdk(lambda_zip):
    for name in (entry.filename for entry in entries(lambda_zip)):
        parts = name.split("/")
        assert not any(part.startswith(".") for part in parts), name  # .env and the like
        assert not any(part in ("tests", "test", "__pycache__", "bin") for part in parts), name
        assert not parts[-1].startswith("test_") and not name.endswith(".pyc"), name
        assert parts[0] not in ("boto3", "botocore", "airflow"), name


def test_it_holds_every_module_of_the_package_but_its_airflow_and_report_folders(lambda_zip):
    packaged = {
        e.filename.removeprefix("datalake/")
        for e in entries(lambda_zip)
        if e.filename.startswith("datalake/")
    }
    modules = {path.relative_to(build.PACKAGE).as_posix() for path in build.PACKAGE.rglob("*.py")}
    assert {"airflow/__init__.py", "report/__init__.py", "tmdb/ingest.py", "csvs/files.py"} <= modules
    assert packaged == {module for module in modules if module.split("/")[0] not in ("airflow", "report")}


def test_every_module_imports_with_only_the_zip_and_the_runtimes_sdk(lambda_zip, tmp_path):
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(tmp_path / "task")
    modules = ["handler"] + sorted(
        "datalake." + ".".join(path.relative_to(tmp_path / "task" / "datalake").with_suffix("").parts)
        for path in (tmp_path / "task" / "datalake").rglob("*.py")
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

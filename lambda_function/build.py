"""Build the Lambda's deployment package, ``dist/tmdb_ingest_lambda.zip``, reproducibly.

The zip holds ``handler.py`` at its root, the ``datalake`` package less its ``airflow/`` and
``report/`` folders, and the package's non-AWS dependencies (requests and what it pulls in) as
manylinux wheels for the Lambda runtime, at the versions of ``constraints.txt``. boto3 and botocore
are left out: the Lambda Python runtime provides them.

Same inputs, same bytes: entries sorted, every timestamp 1980-01-01, every mode 0644, no
``__pycache__`` and no console scripts (their shebang names the build machine's interpreter).

Why not ``aws-lambda-builders`` (what ``sam build`` uses): its pip workflow refuses to build for
python3.12 unless a python3.12 interpreter is on PATH (this project's venv is 3.11), it copies the
whole source folder rather than chosen files, leaves a folder rather than a zip (so the
reproducible zipping would be ours anyway) and took ~6 s where ``uv`` takes under 1 s.

Run it with ``make lambda-package`` (or ``python -m lambda_function.build --output PATH``).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDLER = Path(__file__).with_name("handler.py")
PACKAGE = REPO / "plugins" / "datalake"
CONSTRAINTS = REPO / "constraints.txt"
OUTPUT = REPO / "dist" / "tmdb_ingest_lambda.zip"

RUNTIME = "python3.12"
"""The Lambda runtime; template.yaml declares the same one."""
PLATFORM = "x86_64-manylinux2014"
"""Lambda's x86_64 architecture, as uv names pip's ``--platform manylinux2014_x86_64``."""
DEPENDENCIES = ("requests", "urllib3")
"""What ``datalake`` imports beyond the standard library and the runtime's boto3/botocore; the
resolver adds their own dependencies (certifi, idna, charset-normalizer)."""
LEFT_OUT_LAYERS = {"airflow", "report"}
"""The package's folders that never run in the Lambda: the Airflow glue, and the report whose polars and
matplotlib are not in the zip. The package's layering rule is what lets every other module go without them."""
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
LEFT_OUT_PARTS = {"__pycache__", "bin", "RECORD", "tests"}
"""Bytecode varies by interpreter build; ``bin/`` holds console scripts the Lambda never runs, and
a ``.dist-info/RECORD`` (the installer's uninstall list) would still name them; a dependency's own
``tests/`` (certifi ships one) is dead weight. Hidden files (``.env``, editor state) are left out too."""


def _normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them: charset_normalizer == charset-normalizer."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(constraints: Path, names: tuple[str, ...]) -> list[str]:
    """``name==version`` for each name, from the lock file, so the zip ships what the tests ran."""
    pins = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        if match:
            pins[_normalise(match[1])] = match[0]
    missing = [name for name in names if _normalise(name) not in pins]
    if missing:
        raise ValueError(f"{constraints} pins none of {', '.join(missing)}: run `make lock`.")
    return [pins[_normalise(name)] for name in names]


def uv_binary() -> str:
    """The uv that the Makefile installs into the venv, else one on PATH."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise FileNotFoundError("uv not found beside the interpreter or on PATH: run `make lambda-package`.")
    return found


def install_dependencies(target: Path, constraints: Path = CONSTRAINTS) -> None:
    """The runtime's wheels (never an sdist built here) for DEPENDENCIES, resolved within the lock file."""
    subprocess.run(
        [
            uv_binary(),
            "pip",
            "install",
            "--quiet",
            "--target",
            str(target),
            "--python-platform",
            PLATFORM,
            "--python-version",
            RUNTIME.removeprefix("python"),
            "--only-binary",
            ":all:",
            "--constraint",
            str(constraints),
            *pinned_versions(constraints, DEPENDENCIES),
        ],
        check=True,
    )


def _files_under(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        hidden = any(part.startswith(".") for part in relative.parts)
        if (
            path.is_file()
            and not hidden
            and not LEFT_OUT_PARTS & set(relative.parts)
            and path.suffix != ".pyc"
        ):
            yield path


def package_files(dependencies: Path) -> dict[str, Path]:
    """Every entry of the zip: its name in the archive -> the file it comes from."""
    files = {"handler.py": HANDLER}
    for path in _files_under(PACKAGE):
        relative = path.relative_to(PACKAGE)
        if path.suffix == ".py" and relative.parts[0] not in LEFT_OUT_LAYERS:
            files[f"datalake/{relative.as_posix()}"] = path
    for path in _files_under(dependencies):
        files[path.relative_to(dependencies).as_posix()] = path
    return files


def write_zip(files: Mapping[str, Path], output: Path) -> None:
    """A zip whose bytes depend only on the files' names and contents."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(files):
            entry = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            entry.create_system = 3
            entry.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, files[name].read_bytes(), compresslevel=9)
    partial.replace(output)


def build(output: Path = OUTPUT, constraints: Path = CONSTRAINTS) -> Path:
    with tempfile.TemporaryDirectory(prefix="lambda-deps-") as scratch:
        dependencies = Path(scratch)
        install_dependencies(dependencies, constraints)
        write_zip(package_files(dependencies), output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    started = time.monotonic()
    output = build(args.output)
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    with zipfile.ZipFile(output) as archive:
        entries = len(archive.infolist())
    print(
        f"Built {output} for {RUNTIME} x86_64: {entries} files, {output.stat().st_size:,} bytes, "
        f"sha256 {digest}, in {time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()

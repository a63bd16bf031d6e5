"""No value given to make reaches a shell as code: every target takes its variables as data.

The Makefile is run for real, in a copy whose venv is a stub: its ``python`` and ``uv`` record the
arguments and environment they were started with, so each target can be checked for exactly what it
passes on, without installing or running anything.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from local_stack import words

REPO = Path(__file__).resolve().parents[3]
STUB = """#!{python}
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    env = {{k: os.environ.get(k) for k in {names!r}}}
    log.write(json.dumps({{"argv": sys.argv[1:], "env": env}}) + "\\n")
sys.exit(int(os.environ.get("STUB_EXIT", "0")))
"""
PASSED = ["DATE", "FROM", "TO", "CONF", "EXECUTOR", "CMD", "PYTEST_ARGS", "QUICK", "MOVIES_CSV", "VERBOSE"]
HOSTILE = [
    "2026-13-45; touch INJECTED #",
    "{}' ; touch INJECTED ; echo '",
    '{"language": "it\'s"}',
    "$(shell touch INJECTED)",
    '`touch INJECTED`$(touch INJECTED)"; touch INJECTED; "',
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The Makefile beside a stub venv whose stamps are fresh, so only the target's own recipe runs."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    for name in ("pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_text("")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for program in ("python", "uv"):
        path = bin_dir / program
        path.write_text(STUB.format(python=shutil.which("python3"), names=PASSED))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "dist").mkdir()
    for stamp in (".venv/.installed", ".venv/.compiled", "dist/tmdb_ingest_lambda.zip"):
        (tmp_path / stamp).touch()
    return tmp_path


def make(project: Path, *arguments: str, **env: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    log = project / "calls.jsonl"
    environ = {k: v for k, v in os.environ.items() if k not in PASSED}
    result = subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        env={**environ, "STUB_LOG": str(log), **env},
        timeout=60,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


@pytest.mark.parametrize("value", HOSTILE)
def test_run_passes_date_and_conf_verbatim_as_single_arguments(project, value):
    result, calls = make(project, "run", f"DATE={value}", f"CONF={value}")
    assert result.returncode == 0, result.stderr
    assert not (project / "INJECTED").exists()
    assert calls[-1]["argv"] == ["-m", "local_stack.run", "--date", value, "--conf", value]


def test_run_without_variables_passes_empty_values_the_driver_reads_as_defaults(project):
    _, calls = make(project, "run")
    assert calls[-1]["argv"] == ["-m", "local_stack.run", "--date", "", "--conf", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_backfill_passes_from_to_and_conf_verbatim_as_single_arguments(project, value):
    result, calls = make(
        project, "backfill", f"FROM={value}", f"TO={value}", f"CONF={value}", f"EXECUTOR={value}"
    )
    assert result.returncode == 0, result.stderr
    assert not (project / "INJECTED").exists()
    arguments = ["--from", value, "--to", value, "--conf", value]
    assert calls[-1]["argv"] == ["-m", "local_stack.backfill", *arguments]
    assert calls[-1]["env"]["EXECUTOR"] == value


def test_backfill_without_variables_passes_empty_values_the_driver_refuses(project):
    _, calls = make(project, "backfill")
    assert calls[-1]["argv"] == ["-m", "local_stack.backfill", "--from", "", "--to", "", "--conf", ""]


@pytest.mark.parametrize(
    "target, variable, program",
    [
        ("airflow-cli", "CMD", ["local_stack.cli"]),
        ("test", "PYTEST_ARGS", ["pytest"]),
        ("test-fast", "PYTEST_ARGS", ["tests/dags"]),
    ],
)
@pytest.mark.parametrize("value", HOSTILE)
def test_word_lists_reach_python_through_the_environment(project, target, variable, program, value):
    result, calls = make(project, target, f"{variable}={value}")
    assert result.returncode == 0, result.stderr
    assert not (project / "INJECTED").exists()
    assert calls[-1]["argv"][:4] == ["-m", "local_stack.words", variable, "--"]
    assert calls[-1]["argv"][-1] == program[0]
    assert calls[-1]["env"][variable] == value


@pytest.mark.parametrize("value", HOSTILE)
def test_other_variables_are_data_too(project, value):
    result, calls = make(project, "bench", f"QUICK={value}", f"MOVIES_CSV={value}")
    assert result.returncode == 0, result.stderr
    assert not (project / "INJECTED").exists()
    assert calls[-1]["argv"] == ["-m", "bench", "--quick"]
    assert calls[-1]["env"]["MOVIES_CSV"] == value


def test_verbose_reaches_the_run_through_the_environment(project):
    result, calls = make(project, "run", "VERBOSE=1")
    assert result.returncode == 0, result.stderr
    assert calls[-1]["env"]["VERBOSE"] == "1"
    assert calls[-1]["argv"] == ["-m", "local_stack.run", "--date", "", "--conf", ""]


def test_a_failing_command_fails_make(project):
    result, _ = make(project, "run", "DATE=2026-11-27", STUB_EXIT="3")
    assert result.returncode != 0


def test_internal_paths_cannot_be_overridden(project):
    result, calls = make(project, "run", "BIN=/tmp; touch INJECTED #")
    assert result.returncode != 0 and "BIN is internal" in result.stderr
    assert not calls and not (project / "INJECTED").exists()


def test_make_alone_lists_the_targets(project):
    result, calls = make(project)
    assert result.returncode == 0 and not calls
    listed = {line.split()[1] for line in result.stdout.splitlines()}
    assert {"run", "backfill", "test", "airflow", "airflow-cli", "bench", "help"} <= listed


def test_a_bad_date_is_refused_by_the_real_driver_naming_it(tmp_path):
    """The real ``make run``: the driver refuses the value before anything starts, and nothing else runs."""
    value = "2026-13-45; touch INJECTED #"
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "run", f"DATE={value}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert f"DATE must be a date as YYYY-MM-DD; got {value!r}" in result.stderr
    assert not (tmp_path / "INJECTED").exists() and not (REPO / "INJECTED").exists()


def test_a_bad_range_is_refused_by_the_real_driver_naming_it(tmp_path):
    """The real ``make backfill``: an inverted range is refused with exit status 2 before anything starts."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "backfill", "FROM=2026-11-03", "TO=2026-11-01"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "TO (2026-11-01) is before FROM (2026-11-03)" in result.stderr
    assert "Embedded S3" not in result.stdout


def test_words_split_like_a_shell_without_running_anything():
    environ = {"CMD": "tasks test 'a b' \"$(touch x)\"; rm"}
    assert words.command("CMD", ["airflow"], environ) == [
        "airflow",
        "tasks",
        "test",
        "a b",
        "$(touch x);",
        "rm",
    ]
    assert words.command("CMD", ["airflow"], {}) == ["airflow"]
    with pytest.raises(SystemExit, match="CMD=.*cannot be split"):
        words.command("CMD", ["airflow"], {"CMD": "tasks 'unclosed"})

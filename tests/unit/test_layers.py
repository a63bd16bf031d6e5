"""The package's layering rule (stated in ``plugins/datalake/__init__.py``), checked on each module's imports.

Every import counts: at the top, inside a function, under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "datalake"

AIRFLOW_ONLY = ("airflow", "datalake.airflow")
"""Imported only by modules of ``datalake/airflow``."""
REPORT_ONLY = ("datalake.report", "polars", "matplotlib")
"""Imported only by modules of ``datalake/report`` and ``datalake/airflow``: the Lambda zip holds neither."""
GLUE_ONLY = "which only datalake/airflow may"
REPORT_AND_GLUE_ONLY = "which only datalake/report and datalake/airflow may"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> Iterator[tuple[int, list[str]]]:
    """Each import statement of ``path``: its line and the dotted names it may load, the module first
    (``from m import n`` loads ``m`` and, if ``n`` is a module, ``m.n``)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            yield node.lineno, [base, *(f"{base}.{alias.name}" for alias in node.names)]


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def import_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` (a module -> the package's modules it imports), as the path that closes it."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            if found := visit(target, [*path, module]):
                return found
        done.add(module)
        return None

    return next((found for module in sorted(graph) if (found := visit(module, []))), None)


def layer_violations(root: Path) -> list[str]:
    """What breaks the layering rule in the package at ``root``, each as ``file:line: what``."""
    modules = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    broken = []
    for name, path in modules.items():
        where = path.relative_to(root.parent)
        for line, loaded in imports(path, root):
            glue = next((n for n in loaded if within(n, AIRFLOW_ONLY)), None)
            if glue and not within(name, ("datalake.airflow",)):
                broken.append(f"{where}:{line}: imports {glue}, {GLUE_ONLY}")
            report = next((n for n in loaded if within(n, REPORT_ONLY)), None)
            if report and not within(name, ("datalake.airflow", "datalake.report")):
                broken.append(f"{where}:{line}: imports {report}, {REPORT_AND_GLUE_ONLY}")
            for imported in loaded:
                # importing a module runs each package's __init__ on the way to it
                parts = imported.split(".")
                loads = {".".join(parts[:depth]) for depth in range(1, len(parts) + 1)}
                graph[name] |= loads & modules.keys() - {name}
    if circle := import_circle(graph):
        broken.append(f"import circle: {' -> '.join(circle)}")
    return broken


def test_airflow_and_the_report_are_imported_only_where_the_layers_allow_and_nothing_imports_in_a_circle():
    assert layer_violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"csvs/landing.py": "def land():\n    from airflow.sdk import Variable\n"},
            [f"datalake/csvs/landing.py:2: imports airflow.sdk, {GLUE_ONLY}"],
            id="airflow-inside-a-function",
        ),
        pytest.param(
            {"tmdb/client.py": "import typing\nif typing.TYPE_CHECKING:\n    from datalake import airflow\n"},
            [f"datalake/tmdb/client.py:3: imports datalake.airflow, {GLUE_ONLY}"],
            id="the-glue-under-type-checking",
        ),
        pytest.param(
            {"lake/checks.py": "import polars as pl\n"},
            [f"datalake/lake/checks.py:1: imports polars, {REPORT_AND_GLUE_ONLY}"],
            id="polars-outside-the-report",
        ),
        pytest.param(
            {"lake/storage.py": "from ..report import files\n"},
            [f"datalake/lake/storage.py:1: imports datalake.report, {REPORT_AND_GLUE_ONLY}"],
            id="the-report-by-a-relative-import",
        ),
        pytest.param(
            {
                "layout.py": "from datalake.csvs import files\n",
                "csvs/files.py": "def header():\n    import datalake.layout\n",
            },
            ["import circle: datalake.csvs.files -> datalake.layout -> datalake.csvs.files"],
            id="a-circle-through-a-function",
        ),
        pytest.param(
            {"airflow/tasks.py": "import polars\nimport airflow.sdk\nfrom datalake.report import files\n"},
            [],
            id="the-glue-may-import-both",
        ),
    ],
)
def test_the_check_sees_imports_anywhere_in_a_module(tmp_path, files, expected):
    root = tmp_path / "datalake"
    for folder in ("", "csvs", "tmdb", "lake", "report", "airflow"):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / "__init__.py").write_text("")
    for name, source in files.items():
        (root / name).write_text(source)
    assert layer_violations(root) == expected

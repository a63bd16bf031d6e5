"""Only the modules the package docstring names import Airflow, and where it says: what keeps Airflow
out of the Lambda's zip."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from lambda_function import build


def airflow_imports(module: Path) -> str | None:
    """Where ``module`` imports Airflow at run time: "at import", "in functions", or None (never).

    Imports under ``if TYPE_CHECKING:`` are for type hints only and do not count.
    """
    def imports_airflow(node: ast.AST) -> bool:
        if isinstance(node, ast.Import):
            return any(alias.name.split(".")[0] == "airflow" for alias in node.names)
        return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "airflow"

    def walk(node: ast.AST, in_function: bool) -> Iterator[bool]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue
            if imports_airflow(child):
                yield in_function
            yield from walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    places = set(walk(ast.parse(module.read_text()), in_function=False))
    return "at import" if False in places else "in functions" if places else None


def test_only_the_modules_the_package_docstring_names_import_airflow_and_where_it_says():
    import datalake

    found = {path.stem: where for path in sorted(Path(build.PACKAGE).glob("*.py"))
             if (where := airflow_imports(path))}
    assert found == {
        "operators": "at import",
        "retry_rules": "at import",
        "assets": "at import",
        "airflow_tasks": "in functions",
    }
    docstring = " ".join(datalake.__doc__.split())
    assert "``datalake.operators``, ``datalake.assets`` and ``datalake.retry_rules`` at import" in docstring
    assert "``datalake.airflow_tasks`` only inside its functions" in docstring

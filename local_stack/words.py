"""Run a program with extra arguments taken from one environment variable, split like shell words:

    python -m local_stack.words PYTEST_ARGS -- python -m pytest

The Makefile passes every user-supplied value (``PYTEST_ARGS``, ``CMD``) through the environment, and
this splits it with ``shlex`` (quotes group words, nothing is executed): no value ever runs as shell code.
"""

from __future__ import annotations

import os
import shlex
import sys


def command(variable: str, program: list[str], environ: dict[str, str]) -> list[str]:
    """``program`` followed by the words of ``environ[variable]`` (none if unset or blank)."""
    try:
        words = shlex.split(environ.get(variable, ""))
    except ValueError as error:  # an unclosed quote
        raise SystemExit(f"{variable}={environ[variable]!r} cannot be split into words: {error}.") from None
    return [*program, *words]


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m local_stack.words VARIABLE -- PROGRAM [ARGUMENT ...]")
    full = command(argv[0], argv[2:], dict(os.environ))
    os.execv(full[0], full)


if __name__ == "__main__":
    main(sys.argv[1:])

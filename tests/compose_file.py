"""docker-compose.yaml as the compose tests of every tier read it: loaded, interpolated as compose does, its
bind mounts; its fixtures reach every test through ``tests/conftest.py``'s ``pytest_plugins``."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"

VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")
"""``${NAME}`` or ``${NAME:-default}``, not ``$${...}`` (a literal ``$`` for the container's shell)."""


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def services(compose) -> dict[str, Any]:
    return compose["services"]


def interpolate(value: str, environ: dict[str, str] | None = None) -> str:
    """Compose's interpolation of the forms this file uses, with the defaults unless ``environ`` says
    otherwise."""
    environ = environ or {}
    unsupported = re.search(r"(?<!\$)\$\{[^}]*:?[?+]", value)
    assert not unsupported, f"interpolation form not handled by this test: {unsupported.group(0)}"
    substituted = VARIABLE.sub(lambda m: environ.get(m["name"]) or (m["default"] or ""), value)
    return substituted.replace("$$", "$")


def mounts(service: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """Container path -> host path of a service's bind mounts (named volumes left out)."""
    table = {}
    for volume in service.get("volumes", []):
        source, target = interpolate(volume).split(":")[:2]
        if source.startswith((".", "/")):
            table[PurePosixPath(target)] = (REPO / source).resolve()
    return table

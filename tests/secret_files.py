"""What a run keeps secret on disk, found by its values: every file under the local folder that holds one
must be owner-only (0600 or 0400), and so every folder from the local folder down to it (0700)."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
CONFIG_SECRETS = (("core", "fernet_key"), ("api", "secret_key"), ("api_auth", "jwt_secret"))
"""The keys in ``airflow.cfg`` that sign or encrypt: Airflow generates them into the file it writes."""


def known_secrets(local: Path) -> dict[str, str]:
    """Each secret a run under ``local`` keeps on disk, by a name saying where it was found: the admin
    password, ``airflow.cfg``'s keys, the cluster's credentials."""
    home = local / "airflow"
    found = {"admin password": json.loads((home / PASSWORDS_FILE).read_text())["admin"]}
    config = configparser.ConfigParser(interpolation=None)
    config.read(home / "airflow.cfg")
    for section, key in CONFIG_SECRETS:
        if value := config.get(section, key, fallback=""):
            found[f"airflow.cfg [{section}] {key}"] = value
    credentials = local / "cluster" / "credentials.json"
    if credentials.exists():
        found.update({f"credentials.json {k}": v for k, v in json.loads(credentials.read_text()).items()})
    return found


def files_holding(root: Path, values: dict[str, str]) -> dict[Path, list[str]]:
    """Every regular file under ``root`` holding one of ``values``, with the names of those it holds."""
    holding: dict[Path, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            content = path.read_bytes()
            if names := [name for name, value in values.items() if value.encode() in content]:
                holding[path] = names
    return holding


def exposed(local: Path, holding: dict[Path, list[str]]) -> list[str]:
    """What others could read: each file of ``holding`` not owner-only, each folder on its way from
    ``local`` not 0700; empty when none."""
    found = []
    for path, names in sorted(holding.items()):
        if path.stat().st_mode & 0o177:
            found.append(f"{path} ({', '.join(names)}) is {oct(path.stat().st_mode & 0o777)}")
        between = [local / folder for folder in path.relative_to(local).parents[:-1]]
        for folder in [local, *between]:
            if folder.stat().st_mode & 0o777 != 0o700:
                found.append(f"{folder} (on the way to {path.name}) is {oct(folder.stat().st_mode & 0o777)}")
    return sorted(set(found))

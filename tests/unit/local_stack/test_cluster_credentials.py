"""The cluster's credentials file: owner-only in a private folder, even where an older run left it open."""

from __future__ import annotations

import json
from pathlib import Path

from local_stack.cluster import credentials


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_new_credentials_are_owner_only_in_an_owner_only_folder(tmp_path):
    folder = tmp_path / "cluster"
    chosen = credentials(folder)
    assert set(chosen) == {"postgres", "redis", "fernet_key", "jwt_secret"}
    assert (mode(folder), mode(folder / "credentials.json")) == (0o700, 0o600)
    assert credentials(folder) == chosen


def test_credentials_an_older_run_left_open_are_kept_and_made_owner_only(tmp_path):
    folder = tmp_path / "cluster"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    kept = {"postgres": "p", "redis": "r", "fernet_key": "f", "jwt_secret": "j"}
    (folder / "credentials.json").write_text(json.dumps(kept))
    (folder / "credentials.json").chmod(0o644)
    assert credentials(folder) == kept
    assert (mode(folder), mode(folder / "credentials.json")) == (0o700, 0o600)

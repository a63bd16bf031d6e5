from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from datalake.csvs.files import MOVIES

ROW = "tt0245429|A Viagem de Chihiro|Sen to Chihiro no kamikakushi|2001|125|Animation|8.6|800000|actress|Chihiro|Rumi Hiiragi|1987|\\N|actress|tt0245429"  # noqa: E501 (verbatim data)
HEADER = MOVIES.header


def write(tmp_path: Path, text: str | bytes, name: str = "movies.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_an_unreadable_file_says_permission_denied_when_the_kernel_denies_it():
    """The same without simulation: the check runs in a process of its own, dropped to nobody when root."""
    folder = Path(tempfile.mkdtemp(prefix="unreadable-"))  # not under tmp_path, which nobody cannot enter
    try:
        folder.chmod(0o755)
        path = write(folder, f"{HEADER}\n{ROW}\n")
        path.chmod(0o000)
        check = (
            "import sys, pathlib; from datalake.csvs.contract import check_csv; "
            "from datalake.csvs.files import MOVIES; check_csv(pathlib.Path(sys.argv[1]), MOVIES)"
        )
        command = [sys.executable, "-c", check, str(path)]
        uid = os.geteuid()
        if uid == 0:
            if not shutil.which("setpriv"):
                pytest.skip("running as root, and no setpriv to drop privileges with")
            command, uid = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command], 65534
        plugins = Path(__file__).resolve().parents[2] / "plugins"
        environment = {**os.environ, "PYTHONPATH": str(plugins)}
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        assert f"CsvContractError: {path}: cannot be read: permission denied to uid {uid}\n" in done.stderr
    finally:
        shutil.rmtree(folder)

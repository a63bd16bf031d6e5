"""The SAM template is clean for cfn-lint (a child process), which catches a broken copy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lambda_function import build
from tests.conftest import REPO

TEMPLATE = REPO / "template.yaml"
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))


def test_cfn_lint_passes_the_template_and_catches_a_broken_copy(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace(f"Runtime: {build.RUNTIME}", "Runtime: python2.7"))
    done = subprocess.run(
        [CFN_LINT, "--format", "parseable", str(TEMPLATE), str(broken)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    findings = done.stdout.splitlines()
    assert not [line for line in findings if line.startswith(str(TEMPLATE))], done.stdout + done.stderr
    assert [line for line in findings if line.startswith(str(broken)) and "E2533" in line], (
        done.stdout + done.stderr
    )

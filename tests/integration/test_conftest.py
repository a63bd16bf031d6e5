"""What every test run gets from tests/conftest.py: a closing line for skips, Airflow deprecations as
errors."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFTEST = (REPO / "tests" / "conftest.py").read_text()
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def project_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run is a subprocess (the conftest sets Airflow's home at import) in a temporary folder: it needs
    the repository on its path (``datalake`` comes from the editable install)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def test_skips_that_name_a_package_are_summed_up_with_one_install_command(pytester: pytest.Pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        **{
            "tests/unit/test_skips.py": """
        import pytest

        def test_page():
            pytest.skip("/usr/bin/chromium is missing: apt-get install -y chromium (.ci/run does)")

        def test_compose_a():
            pytest.skip("docker-compose is not installed: apt-get install -y docker-compose")

        def test_compose_b():
            pytest.skip("docker-compose is not installed: apt-get install -y docker-compose")

        def test_other():
            pytest.skip("not today")
        """
        }
    )
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(
        [
            "Skipped 3 tests for software this machine lacks (1 need chromium, 2 need docker-compose); "
            "enable them with: apt-get install -y chromium docker-compose",
        ]
    )


def test_nothing_is_added_when_no_package_is_missing(pytester: pytest.Pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(**{"tests/unit/test_fine.py": "def test_fine():\n    pass\n"})
    result = pytester.runpytest_subprocess()
    result.stdout.no_fnmatch_line("Skipped * tests for software*")


def test_an_airflow_deprecation_fails_the_test_that_triggers_it(pytester: pytest.Pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        **{
            "tests/unit/test_warnings.py": """
        import warnings
        from airflow.exceptions import AirflowProviderDeprecationWarning, RemovedInAirflow4Warning

        def test_core():
            warnings.warn("old", RemovedInAirflow4Warning)

        def test_provider():
            warnings.warn("old", AirflowProviderDeprecationWarning)

        def test_other_libraries_only_warn():
            warnings.warn("old", DeprecationWarning)
        """
        }
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1, failed=2)

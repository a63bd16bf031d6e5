"""The DAG tier parses the DAGs and checks them at rest: a test (or a fixture it sets up, whatever its
scope) that touches the Airflow database, as a DAG run or ``dag.test()`` does, fails, naming where such a
test belongs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine


def no_database(*args: object, **kwargs: object) -> None:
    pytest.fail(
        "tests/dags touches no database (Engine.connect): move this DAG run to tests/integration "
        "(tests/conftest.py TIERS)",
        pytrace=False,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Engine, "connect", no_database)
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Engine, "connect", no_database)
        return (yield)

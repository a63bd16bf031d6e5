"""The DAG tier checks the DAGs at rest: a run, or anything else that reaches the database, fails here."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine


def test_a_dag_tier_test_touching_a_database_fails_naming_where_it_belongs():
    with pytest.raises(pytest.fail.Exception, match="tests/dags touches no database.*tests/integration"):
        create_engine("sqlite://").connect()

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from datalake import run_params
from datalake.errors import InvalidParameter
from datalake.tmdb.ranking import DiscoverQuery


def test_every_query_field_has_exactly_one_schema():
    assert set(run_params.SCHEMAS) == {field.name for field in fields(DiscoverQuery)}


def test_missing_values_take_the_defaults():
    assert run_params.query_from({}) == DiscoverQuery()
    assert run_params.query_from({"top_n": 25}).top_n == 25


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"top_n": 0}, "'top_n' must be from 1 to 100; got 0"),
        ({"top_n": 101}, "'top_n' must be from 1 to 100; got 101"),
        ({"top_n": "10"}, "'top_n' must be an integer"),
        ({"top_n": True}, "'top_n' must be an integer"),
        ({"min_vote_count": -1}, "'min_vote_count' must be at least 0"),
        ({"language": "portuguese"}, "'language' must match"),
        ({"origin_country": "jp"}, "'origin_country' must match"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(values, message):
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(")):
        run_params.query_from(values)


def test_every_run_parameter_is_a_query_field_or_one_of_the_dags_own():
    own = [
        "lambda_function_name",
        "history_partitions",
        "history_min_partitions",
        "max_change_percent",
        "max_age_days",
        "strict_checks",
    ]
    assert list(run_params.RUN_PARAMS) == [*run_params.SCHEMAS, *own]
    assert set(run_params.RUN_DEFAULTS) == set(run_params.RUN_PARAMS)
    assert all(schema["description"] for schema in run_params.RUN_PARAMS.values())


def test_known_parameters_pass():
    run_params.check_known({name: None for name in run_params.RUN_PARAMS})
    run_params.check_known({})


def test_unknown_parameters_are_refused_with_the_close_match_and_the_known_ones():
    with pytest.raises(InvalidParameter) as refused:
        run_params.check_known({"topn": 5, "bogus": "x", "top_n": 3})
    assert str(refused.value) == (
        "Unknown parameter(s) 'topn' (did you mean 'top_n'?), 'bogus'; the known ones are: "
        "top_n, min_vote_count, language, genre_id, origin_country, lambda_function_name, "
        "history_partitions, history_min_partitions, max_change_percent, max_age_days, strict_checks."
    )


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("min_votes", "min_vote_count"),
        ("lambda_function", "lambda_function_name"),
        ("origin", "origin_country"),
    ],
)
def test_a_typo_names_the_parameter_it_resembles(typo, meant):
    with pytest.raises(InvalidParameter, match=re.escape(f"'{typo}' (did you mean '{meant}'?)")):
        run_params.check_known({typo: 1})


def test_a_least_history_longer_than_the_history_read_is_refused_naming_both():
    run_params.check_history({})
    run_params.check_history({"history_partitions": 7, "history_min_partitions": 7})
    with pytest.raises(InvalidParameter) as refused:
        run_params.check_history({"history_partitions": 5})
    assert str(refused.value) == (
        "Parameter 'history_min_partitions' (7) must not exceed 'history_partitions' (5): "
        "the checks read only that many partitions."
    )

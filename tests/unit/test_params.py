from dataclasses import fields

import pytest

from datalake import params
from datalake.ranking import DiscoverQuery


def test_every_query_field_has_exactly_one_schema():
    assert set(params.SCHEMAS) == {field.name for field in fields(DiscoverQuery)}


def test_missing_values_take_the_defaults():
    assert params.query_from({}) == DiscoverQuery()
    assert params.query_from({"top_n": 25}).top_n == 25


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
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        params.query_from(values)

"""The S3 client settings every client of the project takes, and how what a user sets wins over them."""

from __future__ import annotations

import pytest
from botocore.config import Config

from datalake.lake.storage import S3_CLIENT_CONFIG, s3_client_config, seconds_to_give_up


def test_without_a_users_settings_the_projects_apply():
    config = s3_client_config()
    assert (config.retries, config.connect_timeout, config.read_timeout) == (
        {"mode": "standard", "total_max_attempts": 5},
        5,
        30,
    )
    assert config is not S3_CLIENT_CONFIG, "a copy: a client may change its own"


def test_a_users_timeouts_and_other_settings_win_and_the_rest_stays():
    config = s3_client_config(Config(read_timeout=120, s3={"addressing_style": "path"}))
    assert (config.read_timeout, config.connect_timeout, config.s3) == (120, 5, {"addressing_style": "path"})
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}


@pytest.mark.parametrize(
    ("theirs", "merged"),
    [
        ({"max_attempts": 10}, {"mode": "standard", "max_attempts": 10}),
        ({"total_max_attempts": 2}, {"mode": "standard", "total_max_attempts": 2}),
        ({"mode": "adaptive"}, {"mode": "adaptive", "total_max_attempts": 5}),
        ({"mode": "legacy", "max_attempts": 0}, {"mode": "legacy", "max_attempts": 0}),
    ],
)
def test_a_users_retries_win_key_by_key(theirs, merged):
    assert s3_client_config(Config(retries=theirs)).retries == merged


def test_the_bound_on_an_unreachable_s3_follows_the_settings():
    assert (
        seconds_to_give_up(Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})) == 4
    )
    assert seconds_to_give_up(Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})) == 8.05


def test_the_bound_is_what_the_default_settings_give():
    """The figure docs/reliability.md states: 5 attempts of 5 s to connect, 1 s for ``100 Continue`` and
    30 s to read, plus standard mode's waits between them."""
    assert seconds_to_give_up(S3_CLIENT_CONFIG) == pytest.approx(5 * 36 + 0.75)

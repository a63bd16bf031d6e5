"""The TMDB client's rules that need no server: credential kinds, the deadline, Retry-After bounds."""

from __future__ import annotations

import time

import pytest

from datalake.errors import InvalidConnection, InvalidParameter
from datalake.tmdb.client import TmdbClient, auth_kind

V3_KEY = "0123456789abcdef0123456789abcdef"
V4_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ0ZXN0In0.c2lnbmF0dXJl"


def test_auth_kind_tells_v4_tokens_from_v3_keys():
    assert auth_kind(V4_TOKEN) == "bearer"
    assert auth_kind(V3_KEY) == "api_key"


def test_an_unknown_credential_shape_is_refused_without_echoing_it():
    with pytest.raises(InvalidConnection) as error:
        TmdbClient("not-a-credential-abc")
    assert "not-a-credential-abc" not in str(error.value)


def test_the_longest_retry_after_honoured_fits_in_the_default_deadline():
    from urllib3 import HTTPResponse

    from datalake.tmdb.client import DEFAULT_DEADLINE, DEFAULT_TIMEOUT
    from datalake.tmdb.retry import DeadlineRetry, default_retry

    retry = DeadlineRetry.following(
        default_retry(), deadline=DEFAULT_DEADLINE, attempt_timeout=sum(DEFAULT_TIMEOUT)
    )
    rate_limited = HTTPResponse(status=429, headers={"Retry-After": "86400"})
    next_retry = retry.new(started=time.monotonic()).increment("GET", "/3/tv/42", response=rate_limited)
    assert len(next_retry.history) == 1


@pytest.mark.parametrize("deadline", [0, -1.0])
def test_a_deadline_that_is_not_positive_is_refused(deadline):
    refused = rf"deadline must be a number of seconds above 0; got {deadline!r}"
    with pytest.raises(InvalidParameter, match=refused):
        TmdbClient(V3_KEY, deadline=deadline)


def test_a_huge_retry_after_is_bounded():
    from urllib3 import HTTPResponse

    from datalake.tmdb.retry import MAX_RETRY_AFTER, default_retry

    response = HTTPResponse(status=429, headers={"Retry-After": "86400"})
    assert default_retry().get_retry_after(response) == MAX_RETRY_AFTER

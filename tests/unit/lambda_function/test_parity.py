"""The parity check between the DAG's TMDB objects and the Lambda's, on hand-made reports."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest

from datalake import layout
from datalake.errors import InvalidInput
from datalake.lake.parity import PARITY_PREFIX, Difference, compare, summary

DAY = date(2026, 11, 27)
IDS = [209867, 31911]


def report(prefix: str, bodies: dict[str, bytes]) -> list[dict]:
    return [
        {"key": prefix + key, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        for key, body in bodies.items()
    ]


@pytest.fixture
def bodies() -> dict[str, bytes]:
    return {
        layout.discover_key(DAY, 1): b'{"page": 1}',
        **{layout.details_key(DAY, series_id): b'{"id": %d}' % series_id for series_id in IDS},
    }


def lambda_result(bodies: dict[str, bytes], ids=IDS) -> dict:
    return {"ids": ids, "objects": report(PARITY_PREFIX, bodies)}


def test_the_same_run_has_no_difference(bodies):
    assert compare(IDS, report("", bodies), lambda_result(bodies)) == []
    assert compare(IDS, report("", bodies), json.dumps(lambda_result(bodies))) == []


def test_one_changed_byte_names_that_key(bodies):
    changed = dict(bodies)
    key = layout.details_key(DAY, 31911)
    changed[key] = changed[key].replace(b"1", b"2", 1)
    differences = compare(IDS, report("", bodies), lambda_result(changed))
    assert [difference.key for difference in differences] == [key]
    assert key in summary(differences)


def test_missing_and_extra_keys_and_another_ranking_are_named(bodies):
    lambda_bodies = dict(bodies)
    only_dag = lambda_bodies.pop(layout.details_key(DAY, 31911))
    assert only_dag
    lambda_bodies[layout.details_key(DAY, 1429)] = b'{"id": 1429}'
    differences = compare(IDS, report("", bodies), lambda_result(lambda_bodies, ids=[209867, 1429]))
    assert differences == [
        Difference("ids", "the DAG ranked [209867, 31911], the Lambda [209867, 1429]"),
        Difference(layout.details_key(DAY, 1429), "written by the Lambda only"),
        Difference(layout.details_key(DAY, 31911), "written by the DAG only"),
    ]


def test_content_can_be_left_out_for_a_source_that_moves(bodies):
    changed = {key: body + b" " for key, body in bodies.items()}
    assert compare(IDS, report("", bodies), lambda_result(changed), compare_bytes=False) == []


def test_an_answer_that_is_not_the_handlers_is_refused(bodies):
    with pytest.raises(InvalidInput, match="'ids' and 'objects'"):
        compare(IDS, report("", bodies), {"errorMessage": "boom", "errorType": "ValueError"})
    outside = {"ids": IDS, "objects": report("Elsewhere/", bodies)}
    with pytest.raises(InvalidInput, match="not under the prefix 'Parity/Lambda/'"):
        compare(IDS, report("", bodies), outside)

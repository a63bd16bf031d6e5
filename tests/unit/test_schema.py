"""A ``/tv/{id}`` body's schema; the fields whose changed type fails are exactly the ones the report reads."""

from __future__ import annotations

import json

from datalake.lake.schema import REPORT_FIELDS, body_schema, json_type
from datalake.report import comparison
from local_stack.services import CATALOG


def test_each_top_level_field_gets_its_json_type():
    body = {"b": True, "n": 1, "f": 8.5, "s": "x", "a": [], "o": {}, "z": None}
    assert body_schema(body) == {
        "a": "array",
        "b": "boolean",
        "f": "number",
        "n": "number",
        "o": "object",
        "s": "string",
        "z": "null",
    }
    assert json_type(False) == "boolean", "a bool is no number, though Python's bool is an int"


class Recording(dict):
    """A body that notes every field read of it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def test_the_fields_whose_type_change_fails_are_the_ones_the_report_reads():
    body = Recording(json.loads(CATALOG.read_text())["series"][0])
    comparison.tmdb_series([{"rank": 1}], [body])
    assert body.read == REPORT_FIELDS

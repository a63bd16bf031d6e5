"""TMDB schema drift: the top-level fields of each ``/tv/{id}`` body and their JSON types, against the
previous partition's.

Pure: the detail task records each body's ``schema`` in its manifest entry (``body_schema``), and
``schema_checks`` compares two manifests' entries, title by title (a title new to the ranking against every
body of the previous partition). A new or a missing field warns, naming it and the titles; a field whose
type changed fails when the report reads it (``REPORT_FIELDS``), else warns. ``null`` is no type: a value
that appears or goes (``last_air_date`` once a series ends) is neither drift nor caught here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from datalake import layout
from datalake.lake.outcome import FAIL, PASS, WARN, Check, listed

SCHEMA_METHOD = "schema"

REPORT_FIELDS = frozenset(
    {
        "id",
        "external_ids",
        "name",
        "original_name",
        "vote_average",
        "vote_count",
        "first_air_date",
        "last_air_date",
        "status",
        "number_of_seasons",
        "number_of_episodes",
        "episode_run_time",
        "genres",
        "networks",
        "production_companies",
    }
)
"""The body's fields the report (``datalake.report.comparison.tmdb_series``) and the run summary read: a
changed type of one of them would break or quietly change the report, so it fails."""


def json_type(value: Any) -> str:
    """The JSON type of a parsed value: null, boolean, number, string, array or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def body_schema(body: Mapping[str, Any]) -> dict[str, str]:
    """Each top-level field of a parsed ``/tv/{id}`` body and its JSON type, sorted by field."""
    return {name: json_type(body[name]) for name in sorted(body)}


def _schemas(document: Mapping[str, Any]) -> dict[int, tuple[str, dict[str, str]]]:
    """Each ranked title's label and recorded schema, by TMDB id (titles without a schema left out)."""
    day = date.fromisoformat(document["partition"])
    entries = {entry["key"]: entry for entry in document["objects"]}
    found = {}
    for series in document["ranking"]:
        entry = entries.get(layout.details_key(day, int(series["id"])))
        if entry is not None and "schema" in entry:
            found[int(series["id"])] = (f"{series['id']} {series.get('name') or '?'}", dict(entry["schema"]))
    return found


def _typed(schema: Mapping[str, str]) -> dict[str, str]:
    return {name: kind for name, kind in schema.items() if kind != "null"}


def schema_checks(current: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> list[Check]:
    """The bodies' fields and types against the latest partition of ``history`` (oldest first) that
    recorded them; a pass saying why when there is nothing to compare."""
    names = ("TMDB schema new fields", "TMDB schema missing fields", "TMDB schema type changes")
    now = _schemas(current)
    previous = next((document for document in reversed(history) if _schemas(document)), None)
    if not now or previous is None:
        why = "no detail body in this partition" if not now else "no earlier partition recorded a schema"
        return [Check(name, PASS, "nothing to compare", why, None, SCHEMA_METHOD) for name in names]
    before = _schemas(previous)
    every_field = {name for _, schema in before.values() for name in schema}
    common = set.intersection(*(set(schema) for _, schema in before.values()))
    types_before: dict[str, set[str]] = {}
    for _, schema in before.values():
        for name, kind in _typed(schema).items():
            types_before.setdefault(name, set()).add(kind)

    new: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    changed: dict[str, list[str]] = {}
    for series_id, (label, schema) in now.items():
        earlier = before.get(series_id)
        for name in sorted(set(schema) - every_field):
            new.setdefault(name, []).append(label)
        expected_fields = set(earlier[1]) if earlier else common
        for name in sorted(expected_fields - set(schema)):
            missing.setdefault(name, []).append(label)
        for name, kind in sorted(_typed(schema).items()):
            if earlier is not None:
                was = _typed(earlier[1]).get(name)
                if was is not None and was != kind:
                    changed.setdefault(name, []).append(f"{label} {was}→{kind}")
            elif name in types_before and kind not in types_before[name]:
                was = "/".join(sorted(types_before[name]))
                changed.setdefault(name, []).append(f"{label} {was}→{kind}")

    def named(found: dict[str, list[str]]) -> list[str]:
        return [f"{name} ({', '.join(titles)})" for name, titles in sorted(found.items())]

    compared_with = previous["partition"]
    read_changed = sorted(set(changed) & REPORT_FIELDS)
    type_level = FAIL if read_changed else WARN
    type_expected = "each field of the same JSON type as before (a changed field the report reads fails"
    type_expected += f": {', '.join(read_changed)})" if read_changed else ")"

    def check(name: str, found: dict[str, list[str]], level: str, expected: str) -> Check:
        return Check(
            name,
            level if found else PASS,
            listed(named(found)),
            expected,
            compared_with,
            SCHEMA_METHOD,
            (compared_with,),
        )

    return [
        check(names[0], new, WARN, "no field the earlier bodies did not have"),
        check(names[1], missing, WARN, "every field the same title (a new title: every earlier body) had"),
        check(names[2], changed, type_level, type_expected),
    ]

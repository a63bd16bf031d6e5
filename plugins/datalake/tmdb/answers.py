"""The shape of TMDB's answers, as the client checks it before handing a body on: what a discover page and
a series' details must hold (the fields the ranking and the report read, with their JSON types)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def discover_page_problem(page: int) -> Callable[[Any], str | None]:
    """What is wrong with a discover answer for ``page``: the ranking reads each result's id and votes."""

    def problem(data: Any) -> str | None:
        if not isinstance(data, dict):
            return f"is a JSON {_json_type(data)}, not an object"
        if not isinstance(data.get("results"), list):
            return _wrong(data, "results", "array")
        if not _is_int(data.get("total_pages")):
            return _wrong(data, "total_pages", "integer")
        if data.get("page") != page:
            return f"is page {data.get('page')!r}, not {page}"
        for number, series in enumerate(data["results"], start=1):
            if not isinstance(series, dict) or not _is_int(series.get("id")):
                return f"has result {number} without an integer 'id'"
            for votes in ("vote_average", "vote_count"):
                if not _is_number(series.get(votes)):
                    return f"has result {number} (id {series['id']}) without a numeric {votes!r}"
        return None

    return problem


def series_details_problem(series_id: int) -> Callable[[Any], str | None]:
    """What is wrong with a ``/tv/{id}`` answer for ``series_id`` (asked with its external_ids)."""

    def problem(data: Any) -> str | None:
        if not isinstance(data, dict):
            return f"is a JSON {_json_type(data)}, not an object"
        if "id" not in data:
            return f"has no 'id' (expected {series_id})"
        if data["id"] != series_id or not _is_int(data["id"]):
            return f"has 'id' {data['id']!r}, not {series_id}"
        if not isinstance(data.get("name"), str):
            return _wrong(data, "name", "string")
        if not isinstance(data.get("external_ids"), dict):
            return _wrong(data, "external_ids", "object")
        return None

    return problem


def _wrong(data: dict, key: str, expected: str) -> str:
    """``has no 'results' array`` or ``has 'results' of type object, not array``."""
    if key not in data:
        return f"has no {key!r} {expected}"
    return f"has {key!r} of type {_json_type(data[key])}, not {expected}"


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")

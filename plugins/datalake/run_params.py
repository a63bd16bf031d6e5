"""The run parameters, defined once: the DAG's trigger form and the Lambda's event check both use them.

Each schema is JSON Schema, which Airflow's ``Param`` validates in the UI; ``query_from`` applies the
same constraints without Airflow (the Lambda has none) and names the parameter that is off.
``check_known`` refuses names that are none of them: Airflow would merge them into the params silently.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from datalake.errors import InvalidParameter
from datalake.tmdb.ranking import DiscoverQuery

SCHEMAS: dict[str, dict[str, Any]] = {
    "top_n": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "title": "Top N",
        "description": "How many of the best-rated series to fetch details for (1 to 100).",
    },
    "min_vote_count": {
        "type": "integer",
        "minimum": 0,
        "title": "Minimum vote count",
        "description": "Series with fewer TMDB votes are left out (vote_count.gte).",
    },
    "language": {
        "type": "string",
        "pattern": "^[a-z]{2}(-[A-Z]{2})?$",
        "title": "Language",
        "description": "TMDB response language: ISO 639-1, optionally with a region, e.g. pt-BR.",
    },
    "genre_id": {
        "type": "integer",
        "minimum": 1,
        "title": "Genre id",
        "description": "TMDB TV genre id (16 = Animation).",
    },
    "origin_country": {
        "type": "string",
        "pattern": "^[A-Z]{2}$",
        "title": "Origin country",
        "description": "ISO 3166-1 code of the country of origin, e.g. JP.",
    },
}

DEFAULTS = DiscoverQuery()

RUN_PARAMS: dict[str, dict[str, Any]] = {
    **SCHEMAS,
    "lambda_function_name": {
        "type": ["null", "string"],
        "title": "Lambda function",
        "description": "The Lambda to run for the parity check; empty: the Variable lambda_function_name; "
        "neither set: the check is skipped.",
    },
    "history_partitions": {
        "type": "integer",
        "minimum": 1,
        "maximum": 90,
        "title": "History (partitions)",
        "description": "How many of the last complete partitions the data checks learn each metric from "
        "(1 to 90).",
    },
    "history_min_partitions": {
        "type": "integer",
        "minimum": 2,
        "maximum": 90,
        "title": "Least history for the z-score",
        "description": "With fewer complete partitions holding a metric, its check falls back to the "
        "percent band against the latest of them.",
    },
    "max_change_percent": {
        "type": "number",
        "minimum": 0,
        "title": "Fallback band (%)",
        "description": "While a metric's history is shorter than the least history, a move of more than "
        "this percentage since the latest partition holding it is a warning of the run's checks.",
    },
    "max_age_days": {
        "type": "number",
        "minimum": 0,
        "title": "Largest age of a source (days)",
        "description": "A source whose newest landed object was fetched (a CSV: last modified) longer ago "
        "than this fails the freshness check.",
    },
    "strict_checks": {
        "type": "boolean",
        "title": "Strict checks",
        "description": "A check that warns or fails fails the run: the partition is not marked complete.",
    },
}
"""Every parameter the raw DAG accepts, with its schema: the query's, then the DAG's own."""

RUN_DEFAULTS: dict[str, Any] = {
    **{name: getattr(DEFAULTS, name) for name in SCHEMAS},
    "lambda_function_name": None,
    "history_partitions": 14,
    "history_min_partitions": 7,
    "max_change_percent": 10,
    "max_age_days": 7,
    "strict_checks": False,
}


def check_known(values: Mapping[str, Any]) -> None:
    """Refuse any name that is not a run parameter, suggesting the closest one: a typo would otherwise
    run with the default and be recorded in the manifest as if it meant something."""
    unknown = [str(name) for name in values if name not in RUN_PARAMS]
    if not unknown:
        return

    def named(name: str) -> str:
        close = difflib.get_close_matches(name, RUN_PARAMS, n=1)
        return f"'{name}' (did you mean '{close[0]}'?)" if close else f"'{name}'"

    raise InvalidParameter(
        f"Unknown parameter(s) {', '.join(named(name) for name in unknown)}; "
        f"the known ones are: {', '.join(RUN_PARAMS)}."
    )


def check_history(values: Mapping[str, Any]) -> None:
    """Refuse a least history longer than the history read: the z-score would never be used."""
    read = values.get("history_partitions", RUN_DEFAULTS["history_partitions"])
    least = values.get("history_min_partitions", RUN_DEFAULTS["history_min_partitions"])
    if least > read:
        raise InvalidParameter(
            f"Parameter 'history_min_partitions' ({least}) must not exceed 'history_partitions' ({read}): "
            "the checks read only that many partitions."
        )


def _check(name: str, value: Any) -> Any:
    schema = SCHEMAS[name]
    if schema["type"] == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameter(f"Parameter '{name}' must be an integer; got {value!r}.")
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise InvalidParameter(f"Parameter '{name}' must be {bounds}; got {value}.")
    elif not isinstance(value, str) or not re.fullmatch(schema["pattern"], value):
        raise InvalidParameter(
            f"Parameter '{name}' must match {schema['pattern']} ({schema['description']}); got {value!r}."
        )
    return value


def query_from(values: Mapping[str, Any]) -> DiscoverQuery:
    """The discover query from parameter values (missing ones take their defaults), each checked."""
    return DiscoverQuery(
        **{name: _check(name, values.get(name, getattr(DEFAULTS, name))) for name in SCHEMAS}
    )

"""Whether the Lambda wrote the same lake as the DAG: the same ranked ids, keys and bytes.

The Lambda writes under a prefix (``PARITY_PREFIX``) so that its objects sit beside the DAG's
instead of overwriting them; keys are compared with that prefix removed. Pure: the caller
brings both sides as the tasks and the handler report them (``StoredObject.as_dict()``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datalake.errors import InvalidInput

PARITY_PREFIX = "Parity/Lambda/"
"""Where the DAG asks the Lambda to write; the SAM template grants PutObject there too."""


@dataclass(frozen=True)
class Difference:
    key: str
    """The relative key that differs, or ``"ids"`` for the ranking."""
    detail: str

    def __str__(self) -> str:
        return f"{self.key}: {self.detail}"


def summary(differences: Sequence[Difference]) -> str:
    """One message naming every differing key, for the task that fails on them."""
    listed = "; ".join(str(difference) for difference in differences)
    return f"The Lambda's objects differ from the DAG's in {len(differences)} place(s): {listed}"


def _by_relative_key(
    objects: Iterable[Mapping[str, Any]], prefix: str, side: str
) -> dict[str, Mapping[str, Any]]:
    relative: dict[str, Mapping[str, Any]] = {}
    for stored in objects:
        key = str(stored["key"])
        if not key.startswith(prefix):
            raise InvalidInput(f"The {side}'s object {key!r} is not under the prefix {prefix!r}.")
        relative[key[len(prefix) :]] = stored
    return relative


def _content(stored: Mapping[str, Any]) -> tuple[int, str]:
    return int(stored["bytes"]), str(stored["sha256"])


def parse_lambda_result(payload: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    """The handler's result, from the payload as ``LambdaInvokeFunctionOperator`` returns it (a string) or
    parsed."""
    result = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    if not isinstance(result, Mapping) or not {"ids", "objects"} <= result.keys():
        raise InvalidInput(
            f"The Lambda's result must be an object with 'ids' and 'objects'; got {str(result)[:200]!r}."
        )
    return result


def compare(
    dag_ids: Sequence[int],
    dag_objects: Iterable[Mapping[str, Any]],
    lambda_result: str | bytes | Mapping[str, Any],
    prefix: str = PARITY_PREFIX,
    *,
    compare_bytes: bool = True,
) -> list[Difference]:
    """Every difference between the DAG's run and the Lambda's, ids first, then keys in order.

    ``dag_objects`` are the DAG's TMDB objects (discover pages and details), written without a prefix.
    ``compare_bytes=False`` leaves out the content, for a source whose answers change between two
    fetches (the real TMDB's vote counts move); the TMDB sandbox answers the same bytes every time.
    """
    result = parse_lambda_result(lambda_result)
    differences: list[Difference] = []
    lambda_ids = [int(series_id) for series_id in result["ids"]]
    if lambda_ids != [int(series_id) for series_id in dag_ids]:
        differences.append(Difference("ids", f"the DAG ranked {list(dag_ids)}, the Lambda {lambda_ids}"))
    ours = _by_relative_key(dag_objects, "", "DAG")
    theirs = _by_relative_key(result["objects"], prefix, "Lambda")
    for key in sorted(ours.keys() | theirs.keys()):
        if key not in theirs:
            differences.append(Difference(key, "written by the DAG only"))
        elif key not in ours:
            differences.append(Difference(key, "written by the Lambda only"))
        elif compare_bytes and _content(ours[key]) != _content(theirs[key]):
            (size, digest), (their_size, their_digest) = _content(ours[key]), _content(theirs[key])
            detail = (
                f"the DAG wrote {size} bytes (sha256 {digest}), "
                f"the Lambda {their_size} bytes (sha256 {their_digest})"
            )
            differences.append(Difference(key, detail))
    return differences

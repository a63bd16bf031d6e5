"""A data check's outcome, as the manifest records it: shared by every kind of check.

Levels: ``pass``; ``warn`` for a change worth a look; ``fail`` for what should not happen unless something
is wrong. Neither stops a run by itself: ``strict_checks`` turns any that is not ``pass`` into a failed run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PASS, WARN, FAIL = "pass", "warn", "fail"

METHODS = ("z-score", "percent band", "schema", "freshness", "uniqueness", "previous partition")
"""How a check judged: against the history's mean and spread, against a band around the previous partition,
by comparing the bodies' fields, by age, by counting repeats, or by comparing the ranking with the previous
partition's. ``None`` where there was nothing to compare."""


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    name: str
    level: str
    observed: str
    expected: str
    compared_with: str | None
    """The latest earlier partition it was compared with (ISO), or None when there is none."""
    method: str | None = None
    """One of ``METHODS``; None when there was nothing to compare."""
    partitions: tuple[str, ...] = ()
    """The partitions (ISO dates, oldest first) whose data it was compared with."""
    band: Mapping[str, float] | None = None
    """``{"low": x, "high": y}``: the values that pass, where the check has a numeric band."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level,
            "observed": self.observed,
            "expected": self.expected,
            "compared_with": self.compared_with,
            "method": self.method,
            "partitions": list(self.partitions),
            "band": dict(self.band) if self.band is not None else None,
        }

    def __str__(self) -> str:
        return f"{self.name}: {self.level} (observed {self.observed}; expected {self.expected})"


def listed(parts: Sequence[str]) -> str:
    """How a check names what it found: the count, then each; "none"."""
    return f"{len(parts)}: {'; '.join(parts)}" if parts else "none"

"""What a task read and wrote, named as OpenLineage names datasets.

The task bodies record their inputs and outputs while they run (``record``); the operator that runs
them (``datalake.airflow.operators``) hands what was recorded to the OpenLineage provider when the task ends.
Outside such a run (the Lambda, a unit test) recording does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from datalake.errors import InvalidParameter


@dataclass(frozen=True)
class LineageDataset:
    """One dataset in OpenLineage's naming: ``namespace`` says where it lives, ``name`` which one it is."""

    namespace: str
    name: str


def s3_object(bucket: str, key: str) -> LineageDataset:
    """An object of the lake: namespace ``s3://<bucket>``, name its key (as the Amazon provider names it)."""
    return LineageDataset(f"s3://{bucket}", key)


def local_file(path: str | Path) -> LineageDataset:
    """A file on this machine: namespace ``file``, name its absolute path (as Airflow's file assets)."""
    return LineageDataset("file", str(Path(path).absolute()))


def web_endpoint(url: str) -> LineageDataset:
    """An HTTP API's endpoint: namespace ``<scheme>://<host[:port]>``, name its path.

    The query and any user info are left out: a request's parameters (a page, a language, a v3
    ``api_key``) are not the dataset, and a credential must never reach a lineage backend.
    """
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise InvalidParameter(f"Not an absolute URL: {url!r}")
    host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    return LineageDataset(f"{parts.scheme}://{host}", parts.path or "/")


def source_of(stored: Mapping[str, Any]) -> LineageDataset:
    """Where a landed object came from (its manifest entry's ``source``): a request URL or a local file."""
    source = stored["source"]
    return web_endpoint(source) if "://" in source else local_file(source)


@dataclass(frozen=True)
class Assertion:
    """One check an input passed or failed, as OpenLineage's ``dataQualityAssertions`` facet lists it."""

    assertion: str
    success: bool
    column: str | None = None


@dataclass(frozen=True)
class DataQuality:
    """What a task measured of an input it read: OpenLineage's ``dataQualityMetrics`` (rows, bytes, the nulls
    of each column) and ``dataQualityAssertions`` input facets, as plain data (the glue builds the facets)."""

    row_count: int
    bytes: int
    null_counts: Mapping[str, int]
    assertions: tuple[Assertion, ...]


CSV_CONTRACT_ASSERTIONS = ("exact_header", "field_count_per_line", "utf8")
"""What a local CSV's contract asserts of every landed file (``datalake.csvs.contract``): a file that breaks
one lands nothing, so a landing's lineage only ever reports them passed."""


def landed_csv_quality(landed: Mapping[str, Any]) -> DataQuality:
    """The data quality of a landed CSV, from its landing result (``records``, ``bytes``, ``profile``)."""
    return DataQuality(
        row_count=landed["records"],
        bytes=landed["bytes"],
        null_counts=dict(landed["profile"]["null_counts"]),
        assertions=tuple(Assertion(name, success=True) for name in CSV_CONTRACT_ASSERTIONS),
    )


@dataclass
class Lineage:
    """The inputs and outputs of one task run, each once, in the order first recorded; with what was
    measured of an input (``quality``), when something was."""

    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)
    quality: dict[LineageDataset, DataQuality] = field(default_factory=dict)

    def add(
        self,
        inputs: Iterable[LineageDataset] = (),
        outputs: Iterable[LineageDataset] = (),
        quality: Mapping[LineageDataset, DataQuality] | None = None,
    ) -> None:
        self.inputs.extend(dataset for dataset in dict.fromkeys(inputs) if dataset not in self.inputs)
        self.outputs.extend(dataset for dataset in dict.fromkeys(outputs) if dataset not in self.outputs)
        self.quality.update(quality or {})


_current: ContextVar[Lineage | None] = ContextVar("datalake_lineage", default=None)


@contextmanager
def recording() -> Iterator[Lineage]:
    """Collect what ``record`` is told within the block."""
    lineage = Lineage()
    token = _current.set(lineage)
    try:
        yield lineage
    finally:
        _current.reset(token)


def record(inputs: Iterable[LineageDataset] = (), outputs: Iterable[LineageDataset] = ()) -> None:
    """Add to the lineage being recorded; nothing when no task is recording."""
    if (lineage := _current.get()) is not None:
        lineage.add(inputs, outputs)


def record_landed(bucket: str, landed: Iterable[Mapping[str, Any]]) -> None:
    """Each landed object (a StoredObject as a dict): its source read, its key written."""
    entries = list(landed)
    record(
        inputs=[source_of(entry) for entry in entries],
        outputs=[s3_object(bucket, entry["key"]) for entry in entries],
    )

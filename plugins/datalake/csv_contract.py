"""The contract a local CSV must meet before it lands: checked in one streaming pass.

Constant memory: the file is read in chunks, never whole. The field count of every line is
checked at C speed by reducing each chunk to its delimiters and newlines (``bytes.translate``)
and comparing that with the shape a valid chunk must have; only a failing chunk is split into
lines to find the line to name.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from datalake.datasets import DELIMITER, CsvDataset

CHUNK_BYTES = 1 << 20
_NEWLINE = b"\n"
_SEPARATOR = DELIMITER.encode()
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _SEPARATOR + _NEWLINE)


class CsvContractError(ValueError):
    """The file breaks its dataset's contract; the message names the file, the line and what was expected."""

    def __init__(self, path: Path, line: int | None, problem: str):
        where = f"{path}: line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class CsvFacts:
    """What the check learned on the way: the figures that travel with the object."""

    bytes: int
    rows: int
    """Data rows, the header excluded."""
    sha256: str


def check_csv(path: Path, dataset: CsvDataset, chunk_bytes: int = CHUNK_BYTES) -> CsvFacts:
    """Stream ``path`` once: it exists, is non-empty UTF-8 with the dataset's exact header and field count."""
    if not path.is_file():
        raise CsvContractError(path, None, f"not found: expected the {dataset.name} dataset's {dataset.filename}")
    expected_fields = len(dataset.columns)
    good_line = _SEPARATOR * (expected_fields - 1) + _NEWLINE
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()
    size = 0
    header = b""
    lines_done = 0
    carry = b""  # the delimiters of the line that the last chunk left unfinished
    ends_with_newline = False
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
            ends_with_newline = chunk.endswith(_NEWLINE)
            if not chunk.isascii() or decoder.getstate()[0]:
                _check_utf8(decoder, chunk, path, lines_done)
            if lines_done == 0:
                header += chunk
                if _NEWLINE not in header:
                    continue
                header, _, chunk = header.partition(_NEWLINE)
                _check_header(header, dataset, path)
                lines_done = 1
            structure = carry + chunk.translate(None, _NOT_STRUCTURE)
            cut = structure.rfind(_NEWLINE) + 1
            complete, carry = structure[:cut], structure[cut:]
            _check_fields(complete, good_line, path, lines_done, expected_fields)
            lines_done += complete.count(_NEWLINE)
    _check_utf8(decoder, b"", path, lines_done, final=True)
    if size == 0:
        raise CsvContractError(path, None, f"is empty: expected the header line {dataset.header!r} and data rows")
    if lines_done == 0:  # a lone header without newline
        _check_header(header, dataset, path)
        lines_done = 1
    elif not ends_with_newline:
        _check_fields(carry + _NEWLINE, good_line, path, lines_done, expected_fields)
        lines_done += 1
    return CsvFacts(bytes=size, rows=lines_done - 1, sha256=digest.hexdigest())


def _check_utf8(
    decoder: codecs.IncrementalDecoder, chunk: bytes, path: Path, lines_before: int, final: bool = False
) -> None:
    """``lines_before``: complete lines before ``chunk`` (it continues the line after them)."""
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError as error:
        line = lines_before + chunk[: error.start].count(_NEWLINE) + 1
        raise CsvContractError(path, line, f"is not UTF-8: {error.reason} at byte 0x{error.object[error.start]:02x}") from None


def _check_header(line: bytes, dataset: CsvDataset, path: Path) -> None:
    found = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
    if found == dataset.header:
        return
    if found.startswith("\ufeff"):
        raise CsvContractError(path, 1, "starts with a byte-order mark (BOM): expected plain UTF-8")
    columns = found.split(DELIMITER)
    for position, (want, got) in enumerate(zip(dataset.columns, columns), start=1):
        if want != got:
            raise CsvContractError(path, 1, f"header column {position} is {got!r}, expected {want!r}")
    raise CsvContractError(
        path, 1, f"header has {len(columns)} columns, expected the {len(dataset.columns)} of {dataset.header!r}"
    )


def _check_fields(lines: bytes, good_line: bytes, path: Path, lines_before: int, expected: int) -> None:
    """Every line of ``lines`` (complete, newline-terminated) has ``expected`` fields."""
    structure = lines.translate(None, _NOT_STRUCTURE)
    if structure == good_line * lines.count(_NEWLINE):
        return
    for offset, shape in enumerate(structure.split(_NEWLINE), start=1):
        found = shape.count(_SEPARATOR) + 1
        if found != expected:
            raise CsvContractError(
                path, lines_before + offset, f"expected {expected} fields separated by {DELIMITER!r}, found {found}"
            )

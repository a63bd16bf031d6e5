"""The contract a local CSV must meet before it lands: checked in one streaming pass.

Constant memory: the file is read in chunks, never whole. The field count of every line is
checked at C speed by reducing each chunk to its delimiters and newlines (``bytes.translate``)
and comparing that with the shape a valid chunk must have; only a failing chunk is split into
lines to find the line to name. ``CsvContract`` takes the bytes in whatever chunks they come, so
the same pass can run while the bytes are on their way to the lake (see ``datalake.csvs.landing``).

Bounded too: the header must end within ``HEADER_BOUND`` bytes, a data line is never held (only its
delimiters, and no more of them than a valid line has), and a message quotes at most an excerpt of
the file, however long its lines are.

The same pass profiles the data rows that met the contract (``datalake.csvs.profile``): the nulls of each
column and the exact duplicate rows.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from datalake.csvs.files import DELIMITER, CsvFile
from datalake.csvs.profile import CsvProfile, DataProfile
from datalake.errors import CsvContractError

CHUNK_BYTES = 1 << 20
HEADER_BOUND = 64 * 1024
"""The header line must end within this many bytes: a longer line cannot be the header, and waiting for
its end would hold all of it (a file with no newline at all is held whole)."""
EXCERPT_CHARS = 60
"""How much of a value from the file a message quotes."""
DECODE_BYTES = 256 * 1024
"""UTF-8 is validated by decoding at most this much at a time. The text decoded from a whole 8 MB chunk
would be a fresh allocation of its own, whose page faults cost more than the decoding (0.5 against 0.2 ms
per MB here); a slice this size reuses the memory the last one freed."""
_NEWLINE = b"\n"
_SEPARATOR = DELIMITER.encode()
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _SEPARATOR + _NEWLINE)
_NOT_REGULAR = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class CsvFacts:
    """What the check learned on the way: the figures that travel with the object."""

    bytes: int
    rows: int
    """Data rows, the header excluded."""
    sha256: str
    profile: CsvProfile


class CsvContract:
    """The check of one file's bytes, fed in order with ``update`` and concluded with ``finish``.

    ``update`` raises ``CsvContractError`` at the first chunk that breaks the contract; ``finish``
    raises for what only the end can tell (an empty file, a truncated UTF-8 sequence, a last line
    without newline that has the wrong field count). A line that already has too many fields when a
    chunk ends is refused there (its delimiters are not kept waiting for its end): "found more than".
    """

    def __init__(self, path: Path, csv_file: CsvFile):
        self.path = path
        self.csv_file = csv_file
        self._expected_fields = len(csv_file.columns)
        self._good_line = _SEPARATOR * (self._expected_fields - 1) + _NEWLINE
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._digest = hashlib.sha256()
        self._size = 0
        self._header = b""
        self._lines_done = 0
        self._carry = b""  # the delimiters of the line that the last chunk left unfinished (< expected)
        self._ends_with_newline = False
        self._profile = DataProfile(csv_file.columns)

    def update(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._digest.update(chunk)
        self._size += len(chunk)
        self._ends_with_newline = chunk.endswith(_NEWLINE)
        if not chunk.isascii() or self._decoder.getstate()[0]:
            _check_utf8(self._decoder, chunk, self.path, self._lines_done)
        if self._lines_done == 0:
            self._header += chunk
            end = self._header.find(_NEWLINE, 0, HEADER_BOUND)
            if end < 0:
                if len(self._header) >= HEADER_BOUND:
                    _refuse_endless_header(self._header, self.csv_file, self.path)
                return
            self._header, chunk = self._header[:end], self._header[end + 1 :]
            _check_header(self._header, self.csv_file, self.path)
            self._lines_done = 1
        structure = self._carry + chunk.translate(None, _NOT_STRUCTURE)
        cut = structure.rfind(_NEWLINE) + 1
        complete, self._carry = structure[:cut], structure[cut:]
        _check_fields(complete, self._good_line, self.path, self._lines_done, self._expected_fields)
        self._lines_done += complete.count(_NEWLINE)
        if len(self._carry) >= self._expected_fields:
            raise CsvContractError(
                self.path,
                self._lines_done + 1,
                (
                    f"expected {self._expected_fields} fields separated by {DELIMITER!r}, "
                    f"found more than {self._expected_fields}"
                ),
            )
        self._profile.update(chunk)

    def finish(self) -> CsvFacts:
        _check_utf8(self._decoder, b"", self.path, self._lines_done, final=True)
        if self._size == 0:
            raise CsvContractError(
                self.path, None, f"is empty: expected the header line {self.csv_file.header!r} and data rows"
            )
        lines = self._lines_done
        if lines == 0:  # a lone header without newline
            _check_header(self._header, self.csv_file, self.path)
            lines = 1
        elif not self._ends_with_newline:
            _check_fields(self._carry + _NEWLINE, self._good_line, self.path, lines, self._expected_fields)
            lines += 1
        return CsvFacts(
            bytes=self._size,
            rows=lines - 1,
            sha256=self._digest.hexdigest(),
            profile=self._profile.finish(),
        )


def open_csv(path: Path, csv_file: CsvFile) -> BinaryIO:
    """``path`` opened for reading, or the contract's error saying why it cannot be: not found, a broken
    link, a directory or other file that is not a regular one, permission denied.

    One open, then a look at what was opened: no check that the file could vanish or change after.
    Opened without blocking, so that a named pipe is refused at once instead of waiting for a writer.
    """
    expected = f"expected the {csv_file.name} dataset's {csv_file.filename} file"
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        problem = f"is a broken symbolic link to {os.readlink(path)}" if path.is_symlink() else "not found"
        raise CsvContractError(path, None, f"{problem}: {expected}") from None
    except PermissionError:
        problem = f"cannot be read: permission denied to uid {os.geteuid()}"
        raise CsvContractError(path, None, problem) from None
    except OSError as error:  # a socket (ENXIO), a loop of links, a parent that is a file...
        kind = _NOT_REGULAR.get(stat.S_IFMT(_mode_or_zero(path)))
        problem = f"is {kind}" if kind else f"cannot be read: {error.strerror}"
        raise CsvContractError(path, None, f"{problem}, {expected}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = _NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")
        raise CsvContractError(path, None, f"is {kind}, {expected}")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def check_csv(path: Path, csv_file: CsvFile, chunk_bytes: int = CHUNK_BYTES) -> CsvFacts:
    """Stream ``path`` once: it is a readable file of non-empty UTF-8 with the CSV file's exact header and
    field count."""
    contract = CsvContract(path, csv_file)
    with open_csv(path, csv_file) as stream:
        while chunk := stream.read(chunk_bytes):
            contract.update(chunk)
    return contract.finish()


def _check_utf8(
    decoder: codecs.IncrementalDecoder, chunk: bytes, path: Path, lines_before: int, final: bool = False
) -> None:
    """``lines_before``: complete lines before ``chunk`` (it continues the line after them). The chunk goes
    to the decoder in slices of ``DECODE_BYTES`` (a memoryview: no copy); the decoder carries a character
    cut by a slice's edge into the next, as it does at a chunk's edge."""
    view = memoryview(chunk)
    start = 0
    try:
        for start in range(0, len(chunk), DECODE_BYTES):
            decoder.decode(view[start : start + DECODE_BYTES])
        if final:
            start = len(chunk)
            decoder.decode(b"", True)
    except UnicodeDecodeError as error:
        line = lines_before + chunk[: start + error.start].count(_NEWLINE) + 1
        problem = f"is not UTF-8: {error.reason} at byte 0x{error.object[error.start]:02x}"
        raise CsvContractError(path, line, problem) from None


def _mode_or_zero(path: Path) -> int:
    try:
        return path.stat().st_mode
    except OSError:
        return 0


def _excerpt(text: str) -> str:
    """``text`` quoted, cut to its start and length when long: a message never echoes a whole line."""
    if len(text) <= EXCERPT_CHARS:
        return repr(text)
    return f"{text[:EXCERPT_CHARS]!r}... ({len(text)} characters)"


def _refuse_endless_header(start: bytes, csv_file: CsvFile, path: Path) -> None:
    found = start[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    raise CsvContractError(
        path,
        1,
        (
            f"no line end within the first {HEADER_BOUND} bytes (the line starts {found!r}...): "
            f"expected the header line {csv_file.header!r}"
        ),
    )


def _check_header(line: bytes, csv_file: CsvFile, path: Path) -> None:
    found = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
    if found == csv_file.header:
        return
    if found.startswith("\ufeff"):
        raise CsvContractError(path, 1, "starts with a byte-order mark (BOM): expected plain UTF-8")
    columns = found.split(DELIMITER)
    for position, (want, got) in enumerate(zip(csv_file.columns, columns, strict=False), start=1):
        if want != got:
            raise CsvContractError(path, 1, f"header column {position} is {_excerpt(got)}, expected {want!r}")
    raise CsvContractError(
        path,
        1,
        f"header has {len(columns)} columns, expected the {len(csv_file.columns)} of {csv_file.header!r}",
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
                path,
                lines_before + offset,
                f"expected {expected} fields separated by {DELIMITER!r}, found {found}",
            )

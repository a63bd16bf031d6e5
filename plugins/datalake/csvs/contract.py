"""The contract a local CSV must meet before it lands: checked in one streaming pass.

Constant memory: the file is read in chunks, never whole. The field count of every line is
checked at C speed by reducing each chunk to its delimiters and newlines (``bytes.translate``)
and comparing that with the shape a valid chunk must have; only a failing chunk is split into
lines to find the line to name. ``CsvContract`` takes the bytes in whatever chunks they come, so
the same pass can run while the bytes are on their way to the lake (see ``datalake.csvs.landing``).

Bounded too: the header must end within ``HEADER_BOUND`` bytes, a data line is never held (only its
delimiters, and no more of them than a valid line has), and a message quotes at most an excerpt of
the file, however long its lines are.

The same pass profiles the data rows that met the contract (``DataProfile``): the nulls of each column
and the exact duplicate rows. The one thing that grows with the file is the duplicates' memory: 8 bytes
per data row, until ``finish``.
"""

from __future__ import annotations

import array
import codecs
import hashlib
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from datalake.csvs.files import DELIMITER, NULL_MARKER, CsvFile
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
PROFILE_SLICE_BYTES = 256 * 1024
"""The profile works on slices of a chunk this size, so that its position arrays stay small however many
fields a chunk holds (a line of empty fields has a delimiter in every byte), and so that the row objects
hashed for the duplicates reuse the memory the last slice's freed: the rows of a whole 8 MB part cost
twice as much (1.4 against 0.7 ms per MB here), most of it the page faults of fresh memory."""
ROW_HASH_BOUND = 64 * 1024
"""A row cut by a chunk's edge is kept whole for its hash up to this many bytes (its newline included); a
longer row is hashed as it comes (BLAKE2b), as is every row that long, so that equal rows get equal keys."""
_NEWLINE = b"\n"
_SEPARATOR = DELIMITER.encode()
_NULL = NULL_MARKER.encode()
_CR = ord("\r")
_CR_BYTE = b"\r"
_NULL_PAIR = int.from_bytes(_NULL, "little")
"""``\\N`` read as a little-endian 2-byte number."""
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


@dataclass(frozen=True)
class CsvProfile:
    """What the data rows hold, beyond their count: the landing result's ``profile``."""

    null_counts: dict[str, int]
    """Each column of the header: the data rows whose field in it is ``\\N`` or empty."""
    duplicate_rows: int
    """Data rows that repeat an earlier data row byte for byte (the newline that ends each aside)."""

    def as_dict(self) -> dict[str, Any]:
        return {"null_counts": dict(self.null_counts), "duplicate_rows": self.duplicate_rows}


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


class DataProfile:
    """The null count of each column and the exact duplicate rows, fed the data bytes (the header left out)
    that met the contract, in order and in any chunks; so every line has one field per column.

    Nulls at numpy speed: the positions of a slice's delimiters and newlines give each field's length and,
    with the column it is in (the count of those before it, modulo the columns), which of them are empty or
    exactly ``\\N``. Only the field cut by a slice's edge is carried: its length and first three bytes.
    A ``\\r`` before the newline ends the line (CRLF): ``\\N\\r`` and ``\\r`` are null in the last column.

    Duplicates: a 64-bit key per row (Python's ``hash`` of its bytes: SipHash, at C speed over the lines of
    ``BytesIO.readlines``, a slice at a time), kept 8 bytes a row in an ``array`` and counted at ``finish``:
    rows minus distinct keys. A last line without newline is keyed as if it had one. The odds that two
    different rows share a key are about rows² / 2^65 (3e-8 for a million rows).

    numpy is imported by the methods that use it, not by the module: the Lambda's zip holds ``csvs/`` for the
    CSV files' schemas (``layout`` names their keys), never profiles a file, and has no numpy.
    """

    def __init__(self, columns: tuple[str, ...]):
        import numpy as np

        self._columns = columns
        self._width = len(columns)
        self._nulls = np.zeros(self._width, dtype=np.int64)
        self._columns_from = np.tile(
            np.arange(self._width, dtype=np.min_scalar_type(self._width)),
            PROFILE_SLICE_BYTES // self._width + 2,
        )
        """Element k is k % columns: the columns of a slice's fields, as a view."""
        self._column = 0
        """The column of the field in progress."""
        self._field_head = b""
        """Its first bytes (up to three: enough to tell ``\\N\\r``)."""
        self._field_length = 0
        self._line_length = 0
        """Bytes so far of the line in progress."""
        self._row_tail = b""
        """The line in progress, while it is at most ``ROW_HASH_BOUND`` long."""
        self._row_digest: Any = None
        """Its BLAKE2b once it is longer."""
        self._keys = array.array("q")

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        crlf = _CR_BYTE in data
        for start in range(0, len(data), PROFILE_SLICE_BYTES):
            longest = self._count_nulls(view[start : start + PROFILE_SLICE_BYTES], crlf)
            self._key_rows(data[start : start + PROFILE_SLICE_BYTES], longest)

    def finish(self) -> CsvProfile:
        """The profile; a last line without newline is a row too."""
        import numpy as np

        if self._line_length:
            self._end_field(b"", 0, at_line_end=True)
            self._key_rows(_NEWLINE, self._line_length)
        keys = np.frombuffer(self._keys, dtype=np.int64)
        keys.sort()
        distinct = int(np.count_nonzero(keys[1:] != keys[:-1])) + 1 if keys.size else 0
        return CsvProfile(
            null_counts=dict(zip(self._columns, map(int, self._nulls), strict=True)),
            duplicate_rows=keys.size - distinct,
        )

    def _count_nulls(self, piece: memoryview, crlf: bool) -> int:
        """Count the nulls of the fields that end in ``piece``; the longest line that ends in it. ``crlf``:
        the chunk holds a ``\\r`` (only then are line-end fields looked at for one)."""
        import numpy as np

        data = np.frombuffer(piece, dtype=np.uint8)
        ends = np.flatnonzero((data == _SEPARATOR[0]) | (data == _NEWLINE[0]))
        if not ends.size:
            self._field_head = (self._field_head + bytes(piece[:3]))[:3]
            self._field_length += len(piece)
            self._line_length += len(piece)
            return 0
        first, width = self._column, self._width
        self._end_field(bytes(piece[: min(int(ends[0]), 3)]), int(ends[0]), first == width - 1)
        # the fields after the first: field i (from 1) ends at ends[i], in column (first + i) % width, and
        # spans[i - 1] is its length plus one
        spans = np.diff(ends)
        last_column = (width - 1 - first) % width or width  # the first i whose field ends its line
        if crlf:
            carriage_return = data[ends[last_column::width] - 1] == _CR
            if carriage_return.any():
                line_ends = spans[last_column - 1 :: width]
                line_ends[carriage_return] -= 1
        null = spans == 1
        two = np.flatnonzero(spans == 3)
        if two.size:
            pairs = np.ndarray((len(piece) - 1,), dtype="<u2", buffer=piece, strides=(1,))
            null[two[pairs[ends[two] + 1] == _NULL_PAIR]] = True
        self._nulls += np.bincount(self._columns_from[first + 1 : first + ends.size][null], minlength=width)
        tail = piece[int(ends[-1]) + 1 :]
        self._column = (first + ends.size) % width
        self._field_head, self._field_length = bytes(tail[:3]), len(tail)
        newlines = ends[(width - 1 - first) % width :: width]
        if not newlines.size:
            self._line_length += len(piece)
            return 0
        longest = self._line_length + int(newlines[0])
        if newlines.size > 1:
            longest = max(longest, int(np.diff(newlines).max()) - 1)
        self._line_length = len(piece) - int(newlines[-1]) - 1
        return longest

    def _end_field(self, head: bytes, length: int, at_line_end: bool) -> None:
        """The field in progress ends after ``length`` more bytes, the first of them ``head``."""
        content = (self._field_head + head)[:3]
        length += self._field_length
        if at_line_end and length and content[length - 1 : length] == b"\r":
            content, length = content[: length - 1], length - 1
        if length == 0 or (length == len(_NULL) and content[:2] == _NULL):
            self._nulls[self._column] += 1
        self._column = (self._column + 1) % self._width
        self._field_head, self._field_length = b"", 0

    def _key_rows(self, data: bytes, longest: int) -> None:
        """Key each row that ends in ``data``, its newline included; ``longest``: the longest of them, newline
        aside. ``readlines`` finds the line ends with ``memchr``, faster than ``bytes.split``."""
        import numpy as np

        rows = io.BytesIO(data).readlines()
        tail = rows.pop() if rows and not rows[-1].endswith(_NEWLINE) else b""
        if rows:
            if self._row_digest is not None:
                self._row_digest.update(rows[0])
                self._keys.append(_digest_key(self._row_digest))
                rows = rows[1:]
            else:
                rows[0] = self._row_tail + rows[0]
            if longest < ROW_HASH_BOUND:
                self._keys.frombytes(np.fromiter(map(hash, rows), dtype=np.int64, count=len(rows)).tobytes())
            else:
                self._keys.extend(_row_key(row) for row in rows)
            self._row_tail, self._row_digest = b"", None
        if self._row_digest is None and len(self._row_tail) + len(tail) < ROW_HASH_BOUND:
            self._row_tail += tail
        else:
            if self._row_digest is None:
                self._row_digest = hashlib.blake2b(self._row_tail, digest_size=8)
                self._row_tail = b""
            self._row_digest.update(tail)


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


def _row_key(row: bytes) -> int:
    """A row's key, its newline included: ``hash`` up to ``ROW_HASH_BOUND`` bytes, BLAKE2b beyond (equal rows
    are equally long, so they always get their key the same way)."""
    return hash(row) if len(row) <= ROW_HASH_BOUND else _digest_key(hashlib.blake2b(row, digest_size=8))


def _digest_key(digest: Any) -> int:
    return int.from_bytes(digest.digest(), "little", signed=True)


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

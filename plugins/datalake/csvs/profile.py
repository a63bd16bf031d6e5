"""The profile of a CSV's data rows, built by the contract's one pass (``datalake.csvs.contract``): the nulls
of each column and the exact duplicate rows.

The one thing of the landing that grows with the file is the duplicates' memory: 8 bytes per data row, until
``finish``. numpy is imported by the methods that use it, not by the module: the Lambda's zip holds
``csvs/`` for the CSV files' schemas (``layout`` names their keys), never profiles a file, and has no numpy.
"""

from __future__ import annotations

import array
import hashlib
import io
from dataclasses import dataclass
from typing import Any

from datalake.csvs.files import DELIMITER, NULL_MARKER

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


@dataclass(frozen=True)
class CsvProfile:
    """What the data rows hold, beyond their count: the landing result's ``profile``."""

    null_counts: dict[str, int]
    """Each column of the header: the data rows whose field in it is ``\\N`` or empty."""
    duplicate_rows: int
    """Data rows that repeat an earlier data row byte for byte (the newline that ends each aside)."""

    def as_dict(self) -> dict[str, Any]:
        return {"null_counts": dict(self.null_counts), "duplicate_rows": self.duplicate_rows}


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


def _row_key(row: bytes) -> int:
    """A row's key, its newline included: ``hash`` up to ``ROW_HASH_BOUND`` bytes, BLAKE2b beyond (equal rows
    are equally long, so they always get their key the same way)."""
    return hash(row) if len(row) <= ROW_HASH_BOUND else _digest_key(hashlib.blake2b(row, digest_size=8))


def _digest_key(digest: Any) -> int:
    return int.from_bytes(digest.digest(), "little", signed=True)

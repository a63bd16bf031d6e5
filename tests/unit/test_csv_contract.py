from __future__ import annotations

import errno
import os
import re
import signal
import socket
from pathlib import Path

import pytest

from datalake.csvs.contract import CHUNK_BYTES, DECODE_BYTES, CsvContract, check_csv
from datalake.csvs.files import MOVIES, SERIES
from datalake.errors import CsvContractError

ROW = "tt0245429|A Viagem de Chihiro|Sen to Chihiro no kamikakushi|2001|125|Animation|8.6|800000|actress|Chihiro|Rumi Hiiragi|1987|\\N|actress|tt0245429"  # noqa: E501 (verbatim data)
HEADER = MOVIES.header


def write(tmp_path: Path, text: str | bytes, name: str = "movies.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_a_valid_file_yields_rows_bytes_and_sha256(tmp_path):
    import hashlib

    body = f"{HEADER}\n{ROW}\n{ROW}\n"
    facts = check_csv(write(tmp_path, body), MOVIES)
    assert (facts.rows, facts.bytes) == (2, len(body.encode()))
    assert facts.sha256 == hashlib.sha256(body.encode()).hexdigest()


@pytest.mark.parametrize("chunk_bytes", [7, 64, 1 << 20])
def test_chunk_boundaries_do_not_matter(tmp_path, chunk_bytes):
    body = f"{HEADER}\n" + f"{ROW.replace('Chihiro', 'Chihíro')}\n" * 50
    assert check_csv(write(tmp_path, body), MOVIES, chunk_bytes=chunk_bytes).rows == 50


@pytest.mark.parametrize("chunk_bytes", [7, 1 << 20])
def test_a_short_row_is_named_by_line(tmp_path, chunk_bytes):
    short = ROW.rsplit("|", 1)[0]
    path = write(tmp_path, f"{HEADER}\n{ROW}\n{ROW}\n{short}\n{ROW}\n")
    with pytest.raises(
        CsvContractError, match=r"movies.csv: line 4: expected 15 fields separated by '\|', found 14"
    ):
        check_csv(path, MOVIES, chunk_bytes=chunk_bytes)


def test_a_long_row_and_a_short_row_do_not_cancel_out(tmp_path):
    short, long = ROW.rsplit("|", 1)[0], ROW + "|extra"
    with pytest.raises(CsvContractError, match="line 2: expected 15 fields.*found 16"):
        check_csv(write(tmp_path, f"{HEADER}\n{long}\n{short}\n"), MOVIES)


def test_a_last_line_without_newline_is_checked_and_counted(tmp_path):
    assert check_csv(write(tmp_path, f"{HEADER}\n{ROW}\n{ROW}"), MOVIES).rows == 2
    with pytest.raises(CsvContractError, match="line 3: expected 15 fields"):
        check_csv(write(tmp_path, f"{HEADER}\n{ROW}\nshort|row"), MOVIES)


def test_a_wrong_header_names_the_column(tmp_path):
    path = write(tmp_path, HEADER.replace("tituloPincipal", "tituloPrincipal") + f"\n{ROW}\n")
    with pytest.raises(
        CsvContractError, match="line 1: header column 2 is 'tituloPrincipal', expected 'tituloPincipal'"
    ):
        check_csv(path, MOVIES)


def test_the_movies_header_is_not_the_series_header(tmp_path):
    with pytest.raises(
        CsvContractError, match="line 1: header column 5 is 'tempoMinutos', expected 'anoTermino'"
    ):
        check_csv(write(tmp_path, f"{HEADER}\n", "series.csv"), SERIES)


def test_a_header_missing_columns_says_how_many(tmp_path):
    with pytest.raises(CsvContractError, match="header has 14 columns, expected the 15"):
        check_csv(write(tmp_path, HEADER.rsplit("|", 1)[0] + "\n"), MOVIES)


def test_a_byte_order_mark_is_refused(tmp_path):
    with pytest.raises(CsvContractError, match="byte-order mark"):
        check_csv(write(tmp_path, "\ufeff" + HEADER + "\n"), MOVIES)


@pytest.mark.parametrize("chunk_bytes", [5, 1 << 20])
def test_latin1_bytes_are_not_utf8(tmp_path, chunk_bytes):
    body = f"{HEADER}\n{ROW}\n".encode() + ROW.replace("Chihiro", "Chihíro").encode("latin-1") + b"\n"
    with pytest.raises(CsvContractError, match="line 3: is not UTF-8"):
        check_csv(write(tmp_path, body), MOVIES, chunk_bytes=chunk_bytes)


def test_a_truncated_character_at_the_end_is_not_utf8(tmp_path):
    body = f"{HEADER}\n{ROW}".encode() + "í".encode()[:1]
    with pytest.raises(CsvContractError, match="is not UTF-8"):
        check_csv(write(tmp_path, body), MOVIES)


def accented_rows_past(size: int) -> bytes:
    """A movies body whose accented rows run past ``size`` bytes."""
    row = (ROW.replace("Chihiro", "Chihíro") + "\n").encode()
    return f"{HEADER}\n".encode() + row * (size // len(row) + 2)


def test_utf8_is_decoded_in_slices_of_a_chunk_never_whole(tmp_path):
    body = accented_rows_past(3 * DECODE_BYTES)
    contract = CsvContract(tmp_path / "movies.csv", MOVIES)
    decoded = []
    decode = contract._decoder.decode
    contract._decoder.decode = lambda data, final=False: decoded.append(len(data)) or decode(data, final)
    contract.update(body)
    assert contract.finish().rows == body.count(b"\n") - 1
    assert max(decoded) == DECODE_BYTES and sum(decoded) == len(body)


@pytest.mark.parametrize("cut", [1, 2], ids=["after-1st-byte", "after-2nd-byte"])
def test_a_character_cut_by_a_slice_edge_is_utf8(tmp_path, cut):
    ascii_rows = f"{HEADER}\n{ROW}\n" + f"{ROW}\n" * ((DECODE_BYTES - 1000) // (len(ROW) + 1))
    first, *rest = ROW.split("|")
    padding = DECODE_BYTES - cut - len(ascii_rows) - len(first) - 1
    straddling = "|".join([first, "x" * padding + "€", *rest[1:]])  # "€": 3 bytes from DECODE_BYTES - cut
    body = (ascii_rows + straddling + "\n" + f"{ROW.replace('Chihiro', 'Chihíro')}\n" * 3).encode()
    assert body[DECODE_BYTES - cut : DECODE_BYTES - cut + 3] == "€".encode()
    assert check_csv(write(tmp_path, body), MOVIES, chunk_bytes=CHUNK_BYTES).rows == body.count(b"\n") - 1


def test_a_bad_byte_past_the_first_slice_is_named_by_its_line(tmp_path):
    body = bytearray(accented_rows_past(2 * DECODE_BYTES))
    bad = body.index("í".encode(), DECODE_BYTES + 10)
    body[bad] = 0xED  # a lead byte that "h" cannot continue
    line = body[:bad].count(b"\n") + 1
    expected = f"line {line}: is not UTF-8: invalid continuation byte at byte 0xed"
    with pytest.raises(CsvContractError, match=expected):
        check_csv(write(tmp_path, bytes(body)), MOVIES, chunk_bytes=CHUNK_BYTES)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(
        CsvContractError, match=r"nope.csv: not found: expected the Movies dataset's movies.csv"
    ):
        check_csv(tmp_path / "nope.csv", MOVIES)


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(CsvContractError, match="movies.csv: is empty"):
        check_csv(write(tmp_path, ""), MOVIES)


def test_the_shipped_samples_meet_their_contracts():
    data = Path(__file__).resolve().parents[2] / "include" / "data"
    assert check_csv(data / "movies.csv", MOVIES).rows > 200
    assert check_csv(data / "series.csv", SERIES).rows > 200


def test_a_lone_header_is_a_file_with_no_rows(tmp_path):
    assert check_csv(write(tmp_path, HEADER), MOVIES, chunk_bytes=8).rows == 0
    assert check_csv(write(tmp_path, HEADER + "\n"), MOVIES).rows == 0


# --- bounded: messages quote an excerpt, memory does not grow with a line ----------------------------

BIG = 32 * 1024 * 1024
"""Far above any bound of the check (a chunk, the header bound), so that holding a line would show."""


def test_a_file_without_a_line_end_is_refused_at_the_header_bound_with_a_short_message(tmp_path):
    path = write(tmp_path, b"y" * BIG)
    with pytest.raises(CsvContractError) as refused:
        check_csv(path, MOVIES)
    message = str(refused.value)
    assert message.startswith(f"{path}: line 1: no line end within the first 65536 bytes (the line starts 'y")
    assert message.endswith(f"...): expected the header line {HEADER!r}")
    assert len(message) < len(str(path)) + len(HEADER) + 200


def test_a_huge_header_column_is_quoted_as_an_excerpt_with_its_length(tmp_path):
    path = write(tmp_path, HEADER.replace("tituloPincipal", "x" * 50_000) + f"\n{ROW}\n")
    with pytest.raises(CsvContractError) as refused:
        check_csv(path, MOVIES)
    message = str(refused.value)
    excerpt = f"{'x' * 60!r}... (50000 characters)"
    assert message == f"{path}: line 1: header column 2 is {excerpt}, expected 'tituloPincipal'"


@pytest.mark.parametrize(
    "body",
    [
        b"y" * BIG,
        f"{HEADER}\n".encode() + b"y" * BIG,
        f"{HEADER}\n".encode() + b"|" * BIG,
        f"{HEADER}\n{ROW}\n".encode() + b"y|" * (BIG // 2) + b"\n",
    ],
    ids=["no-line-end", "endless-data-line", "endless-line-of-delimiters", "huge-data-line"],
)
def test_checking_a_file_with_a_huge_line_holds_a_few_chunks_not_the_line(tmp_path, body):
    import tracemalloc

    path = write(tmp_path, body)
    del body
    tracemalloc.start()
    try:
        with pytest.raises(CsvContractError):
            check_csv(path, MOVIES)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * CHUNK_BYTES, f"{peak} bytes at the peak"


@pytest.mark.parametrize("chunk_bytes, found", [(7, "more than 15"), (1 << 20, "130")])
def test_a_line_with_too_many_delimiters_is_refused_at_the_chunk_that_shows_it(tmp_path, chunk_bytes, found):
    """A chunk that ends inside a line with too many fields already shows the violation: its delimiters
    are not kept until the line ends (which may be never)."""
    path = write(tmp_path, f"{HEADER}\n{ROW}\n{ROW}|{'|' * 100}{ROW}\n{ROW}\n")
    expected = rf"line 3: expected 15 fields separated by '\|', found {found}$"
    with pytest.raises(CsvContractError, match=expected):
        check_csv(path, MOVIES, chunk_bytes=chunk_bytes)


# --- what is not a readable regular file says what it is, at once ----------------------------------

EXPECTED = "expected the Movies dataset's movies.csv file"


def test_a_directory_is_named_as_one(tmp_path):
    (tmp_path / "movies.csv").mkdir()
    with pytest.raises(CsvContractError, match=f"movies.csv: is a directory, {EXPECTED}$"):
        check_csv(tmp_path / "movies.csv", MOVIES)


def test_a_broken_symbolic_link_names_its_target(tmp_path):
    (tmp_path / "movies.csv").symlink_to(tmp_path / "gone.csv")
    expected = f"movies.csv: is a broken symbolic link to {tmp_path}/gone.csv: {EXPECTED}$"
    with pytest.raises(CsvContractError, match=expected):
        check_csv(tmp_path / "movies.csv", MOVIES)


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> Path:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()  # the socket file stays
    return path


@pytest.mark.parametrize(
    "special, kind",
    [
        (make_fifo, "a named pipe (FIFO)"),
        (make_socket, "a socket"),
        (lambda _: Path("/dev/null"), "a character device"),
    ],
    ids=["fifo", "socket", "device"],
)
def test_a_special_file_is_refused_without_waiting_on_it(tmp_path, special, kind):
    path = special(tmp_path / "movies.csv")

    def blocked(*_):
        raise AssertionError("the check waited on the special file")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(10)  # a FIFO opened for reading waits for a writer: fail the test rather than hang it
    try:
        with pytest.raises(CsvContractError, match=re.escape(f"{path}: is {kind}, {EXPECTED}")):
            check_csv(path, MOVIES)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def deny_reading(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """The kernel's answer to a read of ``denied`` without permission. Simulated: tests run as root in CI,
    and root reads a file whatever its mode."""
    real_open = os.open

    def open_or_deny(path, flags, *args, **kwargs):
        if Path(path) == denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_or_deny)


def test_an_unreadable_file_says_permission_denied(tmp_path, monkeypatch):
    path = write(tmp_path, f"{HEADER}\n{ROW}\n")
    deny_reading(monkeypatch, path)
    expected = f"movies.csv: cannot be read: permission denied to uid {os.geteuid()}$"
    with pytest.raises(CsvContractError, match=expected):
        check_csv(path, MOVIES)


def test_a_file_that_vanishes_before_the_open_is_not_found(tmp_path, monkeypatch):
    path = write(tmp_path, f"{HEADER}\n{ROW}\n")
    real_open = os.open

    def vanish_then_open(name, flags, *args, **kwargs):
        Path(name).unlink(missing_ok=True)
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", vanish_then_open)
    with pytest.raises(CsvContractError, match=f"movies.csv: not found: {EXPECTED}$"):
        check_csv(path, MOVIES)

"""The profile measured in the contract's pass: nulls per column and exact duplicate rows."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from datalake.csvs.contract import CHUNK_BYTES, CsvContract, check_csv
from datalake.csvs.files import MOVIES
from datalake.csvs.profile import PROFILE_SLICE_BYTES, ROW_HASH_BOUND

HEADER = MOVIES.header
COLUMNS = MOVIES.columns
FIRST, LAST = COLUMNS[0], COLUMNS[-1]


def row(**values: str) -> str:
    """A movies row: every field ``x`` unless given."""
    return "|".join(values.get(column, "x") for column in COLUMNS)


def profile_of(tmp_path: Path, body: str | bytes, chunk_bytes: int = CHUNK_BYTES) -> dict:
    path = tmp_path / "movies.csv"
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return check_csv(path, MOVIES, chunk_bytes=chunk_bytes).profile.as_dict()


def nulls(**counts: int) -> dict[str, int]:
    return {column: counts.get(column, 0) for column in COLUMNS}


def expected_profile(body: bytes) -> dict:
    """The profile worked out line by line in plain Python: what the vectorised one must equal."""
    lines = body.split(b"\n")[1:]
    if lines and lines[-1] == b"":
        lines.pop()
    counts = dict.fromkeys(COLUMNS, 0)
    for line in lines:
        for column, field in zip(COLUMNS, line.removesuffix(b"\r").split(b"|"), strict=True):
            counts[column] += field in (b"", b"\\N")
    return {"null_counts": counts, "duplicate_rows": len(lines) - len(set(lines))}


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 64, CHUNK_BYTES])
def test_nulls_as_backslash_n_and_as_empty_fields_are_counted_per_column_first_and_last_included(
    tmp_path, chunk_bytes
):
    body = "\n".join(
        [
            HEADER,
            row(id="\\N", anoLancamento="", titulosMaisConhecidos="\\N"),
            row(id="", anoLancamento="\\N", titulosMaisConhecidos=""),
            row(tituloPincipal="\\N", tituloOriginal=""),
            row(),
        ]
    )
    expected = nulls(id=2, anoLancamento=2, titulosMaisConhecidos=2, tituloPincipal=1, tituloOriginal=1)
    assert profile_of(tmp_path, body + "\n", chunk_bytes)["null_counts"] == expected
    assert profile_of(tmp_path, body, chunk_bytes)["null_counts"] == expected, "no newline at the end"


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, CHUNK_BYTES])
def test_a_value_that_only_looks_like_a_null_is_not_one(tmp_path, chunk_bytes):
    lookalikes = row(id="\\Nx", tituloPincipal="x\\N", tituloOriginal="\\\\N", anoLancamento="N", genero=" ")
    trailing_space = row(titulosMaisConhecidos="\\N ")
    body = f"{HEADER}\n{lookalikes}\n{trailing_space}\n"
    assert profile_of(tmp_path, body, chunk_bytes)["null_counts"] == nulls()


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 4, CHUNK_BYTES])
def test_with_crlf_line_ends_the_last_column_is_null_as_backslash_n_or_empty(tmp_path, chunk_bytes):
    marked, empty = row(titulosMaisConhecidos="\\N"), row(titulosMaisConhecidos="")
    body = f"{HEADER}\r\n{marked}\r\n{empty}\r\n{row()}\r\n"
    assert profile_of(tmp_path, body, chunk_bytes) == {
        "null_counts": nulls(titulosMaisConhecidos=2),
        "duplicate_rows": 0,
    }


def test_a_header_only_file_has_no_nulls_and_no_duplicates(tmp_path):
    empty = {"null_counts": nulls(), "duplicate_rows": 0}
    assert profile_of(tmp_path, f"{HEADER}\n") == empty
    assert profile_of(tmp_path, HEADER) == empty


@pytest.mark.parametrize("chunk_bytes", [1, 7, CHUNK_BYTES])
def test_exact_repeats_are_counted_near_repeats_and_the_header_are_not(tmp_path, chunk_bytes):
    first, second = row(id="tt1"), row(id="tt2")
    near = [row(id="tt1", genero="y"), row(id="tt1") + " ", row(id="tt1", titulosMaisConhecidos="x\r")]
    body = "\n".join([HEADER, first, second, *near, first, HEADER.replace("id", "x", 1), first, second])
    assert profile_of(tmp_path, body + "\n", chunk_bytes)["duplicate_rows"] == 3
    assert profile_of(tmp_path, body, chunk_bytes)["duplicate_rows"] == 3, "the last row without newline"


def test_a_header_repeated_as_data_is_not_a_repeat_of_the_header(tmp_path):
    # A row of the header's own text is data only if it has the fields; the header itself is never a row.
    body = f"{HEADER}\n{HEADER}\n{row()}\n"
    assert profile_of(tmp_path, body)["duplicate_rows"] == 0


@pytest.mark.parametrize("seed", range(6))
def test_random_files_in_random_chunks_profile_as_line_by_line(tmp_path, seed):
    chooser = random.Random(seed)
    values = ["", "\\N", "\\N\\N", "N", "x", "ab", "\\", "ção", "long value " * 3]
    lines = [
        "|".join(chooser.choice(values) for _ in COLUMNS) + chooser.choice(["\n", "\r\n"]) for _ in range(300)
    ]
    lines += chooser.sample(lines, 40)
    chooser.shuffle(lines)
    body = (HEADER + "\n" + "".join(lines)).encode()
    contract = CsvContract(tmp_path / "movies.csv", MOVIES)
    position = 0
    while position < len(body):
        size = chooser.choice([1, 2, 3, 17, 500, 4096])
        contract.update(body[position : position + size])
        position += size
    assert contract.finish().profile.as_dict() == expected_profile(body)


def test_chunks_longer_than_a_slice_profile_as_line_by_line(tmp_path):
    lines = [row(id=f"tt{number % 5000}", genero="\\N" if number % 3 else "") for number in range(30_000)]
    body = (HEADER + "\n" + "\n".join(lines) + "\n").encode()
    assert len(body) > 3 * PROFILE_SLICE_BYTES
    assert profile_of(tmp_path, body) == expected_profile(body)


@pytest.mark.parametrize("chunk_bytes", [4096, CHUNK_BYTES])
def test_rows_longer_than_the_hash_bound_are_compared_whole_wherever_the_chunks_cut_them(
    tmp_path, chunk_bytes
):
    long = row(personagem="p" * (ROW_HASH_BOUND + 10))
    longer = row(personagem="p" * (ROW_HASH_BOUND + 11))
    body = "\n".join([HEADER, row(), long, longer, row(), long, long[:-1] + "y", long]) + "\n"
    assert profile_of(tmp_path, body, chunk_bytes)["duplicate_rows"] == 3


def test_profiling_a_valid_file_with_a_huge_field_holds_a_few_chunks_not_the_line(tmp_path):
    import tracemalloc

    huge = row(personagem="p" * (8 * CHUNK_BYTES))
    path = tmp_path / "movies.csv"
    path.write_text(f"{HEADER}\n{huge}\n{row(genero='')}\n{huge}\n")
    del huge
    tracemalloc.start()
    try:
        profile = check_csv(path, MOVIES).profile
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert profile.as_dict() == {"null_counts": nulls(genero=1), "duplicate_rows": 1}
    assert peak < 4 * CHUNK_BYTES, f"{peak} bytes at the peak"

from pathlib import Path

import pytest

from datalake.csv_contract import CsvContractError, check_csv
from datalake.datasets import MOVIES, SERIES

ROW = "tt0245429|A Viagem de Chihiro|Sen to Chihiro no kamikakushi|2001|125|Animation|8.6|800000|actress|Chihiro|Rumi Hiiragi|1987|\\N|actress|tt0245429"
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
    with pytest.raises(CsvContractError, match=r"movies.csv: line 4: expected 15 fields separated by '\|', found 14"):
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
    with pytest.raises(CsvContractError, match="line 1: header column 2 is 'tituloPrincipal', expected 'tituloPincipal'"):
        check_csv(path, MOVIES)


def test_the_movies_header_is_not_the_series_header(tmp_path):
    with pytest.raises(CsvContractError, match="line 1: header column 5 is 'tempoMinutos', expected 'anoTermino'"):
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


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CsvContractError, match=r"nope.csv: not found: expected the Movies dataset's movies.csv"):
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

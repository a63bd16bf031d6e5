from __future__ import annotations

import pytest

from datalake.csvs.files import CSV_FILES, MOVIES, SERIES, csv_file_named
from datalake.errors import InvalidParameter


def test_movies_header_is_the_bootcamp_one():
    assert MOVIES.header == (
        "id|tituloPincipal|tituloOriginal|anoLancamento|tempoMinutos|genero|notaMedia|numeroVotos|"
        "generoArtista|personagem|nomeArtista|anoNascimento|anoFalecimento|profissao|titulosMaisConhecidos"
    )
    assert len(MOVIES.columns) == 15


def test_series_adds_ano_termino_after_ano_lancamento():
    assert len(SERIES.columns) == 16
    assert SERIES.columns[3:5] == ("anoLancamento", "anoTermino")
    assert [c for c in SERIES.columns if c != "anoTermino"] == list(MOVIES.columns)


def test_each_csv_file_has_its_own_variable_and_folder():
    assert [(d.name, d.variable) for d in CSV_FILES] == [("Movies", "movies_csv"), ("Series", "series_csv")]


def test_a_csv_file_is_found_by_its_name_and_an_unknown_name_is_refused_listing_the_known_ones():
    assert csv_file_named("Series") is SERIES
    unknown = r"^Unknown CSV file 'Shows': expected one of Movies, Series\.$"
    with pytest.raises(InvalidParameter, match=unknown):
        csv_file_named("Shows")

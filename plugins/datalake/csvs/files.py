"""The local CSV files: which file, where it lands, and the exact header it must have.

Both files are IMDb extracts from the bootcamp: pipe-delimited, UTF-8, one row per
title x artist, ``\\N`` for nulls. The header typo ``tituloPincipal`` is the real one.
"""

from __future__ import annotations

from dataclasses import dataclass

from datalake.errors import InvalidParameter

DELIMITER = "|"
NULL_MARKER = r"\N"

_TITLE_COLUMNS = ("id", "tituloPincipal", "tituloOriginal", "anoLancamento")
_DETAIL_COLUMNS = (
    "tempoMinutos",
    "genero",
    "notaMedia",
    "numeroVotos",
    "generoArtista",
    "personagem",
    "nomeArtista",
    "anoNascimento",
    "anoFalecimento",
    "profissao",
    "titulosMaisConhecidos",
)


@dataclass(frozen=True)
class CsvFile:
    """One local CSV file and how it lands in the lake."""

    name: str
    """Folder name under ``Raw/Local/CSV/`` (``Movies``, ``Series``)."""
    filename: str
    """File name in ``include/data/`` and in the lake."""
    columns: tuple[str, ...]
    """The exact header, in order."""

    @property
    def variable(self) -> str:
        """Airflow Variable (and, upper-cased, environment variable) that points at the real file."""
        return self.filename.replace(".", "_")

    @property
    def header(self) -> str:
        return DELIMITER.join(self.columns)


MOVIES = CsvFile("Movies", "movies.csv", _TITLE_COLUMNS + _DETAIL_COLUMNS)
SERIES = CsvFile("Series", "series.csv", _TITLE_COLUMNS + ("anoTermino",) + _DETAIL_COLUMNS)

CSV_FILES: tuple[CsvFile, ...] = (MOVIES, SERIES)


def csv_file_named(name: str) -> CsvFile:
    """The CSV file called ``name``; an unknown name is refused, listing the known ones."""
    for csv_file in CSV_FILES:
        if csv_file.name == name:
            return csv_file
    raise InvalidParameter(
        f"Unknown CSV file {name!r}: expected one of {', '.join(known.name for known in CSV_FILES)}."
    )

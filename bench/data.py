"""Synthetic CSVs with the datasets' exact headers, at the real files' sizes, generated once and reused.

A block of realistic rows (accents included, so the UTF-8 path of the contract check runs as it does on
the real extracts) is written over and over with a block number stamped into every row's id by
``bytes.replace``: gigabytes at disk speed, with no Python loop per row.
"""

from __future__ import annotations

from pathlib import Path

from datalake.csvs.files import DELIMITER, NULL_MARKER, CsvFile

BLOCK_ROWS = 1000
_STAMP = b"@@@@@@@"
"""Replaced by the block number in every id of a block: ids stay unique and the same width."""

_PEOPLE = (
    ("actress", "Chihiro Ogino", "Rumi Hiiragi", "1987", NULL_MARKER, "actress,soundtrack"),
    ("actor", "Haku", "Miyu Irino", "1988", NULL_MARKER, "actor,soundtrack"),
    ("actor", "Kamajî", "Bunta Sugawara", "1933", "2014", "actor,producer"),
    ("actress", "Yubaba / Zeniba", "Mari Natsuki", "1952", NULL_MARKER, "actress,soundtrack"),
    ("actor", "Narrador", "José Luís Gonçalves", "1961", NULL_MARKER, "actor"),
)


def _row(csv_file: CsvFile, number: int) -> str:
    gender, character, artist, born, died, profession = _PEOPLE[number % len(_PEOPLE)]
    title_id = f"tt{_STAMP.decode()}{number:03d}"
    values = {
        "id": title_id,
        "tituloPincipal": f"A Viagem de Chihiro {number}",
        "tituloOriginal": "Sen to Chihiro no kamikakushi",
        "anoLancamento": str(1980 + number % 45),
        "anoTermino": NULL_MARKER if number % 3 else str(2000 + number % 25),
        "tempoMinutos": str(24 + number % 100),
        "genero": "Animation,Adventure,Family",
        "notaMedia": f"{5 + number % 50 / 10:.1f}",
        "numeroVotos": str(1000 + number * 37),
        "generoArtista": gender,
        "personagem": character,
        "nomeArtista": artist,
        "anoNascimento": born,
        "anoFalecimento": died,
        "profissao": profession,
        "titulosMaisConhecidos": f"{title_id},tt0245429,tt5323662",
    }
    return DELIMITER.join(values[column] for column in csv_file.columns) + "\n"


def synthetic_csv(folder: Path, csv_file: CsvFile, megabytes: int) -> Path:
    """``folder/<size>MB_<file>``: at least ``megabytes`` MB (10^6 bytes) of valid rows; made once, reused
    after."""
    path = folder / f"{megabytes}MB_{csv_file.filename}"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    block = "".join(_row(csv_file, number) for number in range(BLOCK_ROWS)).encode()
    target = megabytes * 1_000_000
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        written = out.write((csv_file.header + "\n").encode())
        number = 0
        while written < target:
            written += out.write(block.replace(_STAMP, b"%07d" % number))
            number += 1
    partial.rename(path)
    return path

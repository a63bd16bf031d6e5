"""A made partition for the comparison table's tests of every tier: its series.csv, TMDB bodies and
manifest."""

from __future__ import annotations

from datetime import date

from datalake import layout, settings
from datalake.csvs.files import DELIMITER, NULL_MARKER, SERIES

DAY = date(2026, 11, 27)
RUN_ID = "manual__2026-11-27T00:00:00+00:00"


def imdb_row(
    title_id: str, title: str, first: str, last: str, minutes: str, rating: str, votes: str, artist: str
) -> str:
    fields = {
        "id": title_id,
        "tituloPincipal": title,
        "tituloOriginal": title,
        "anoLancamento": first,
        "anoTermino": last,
        "tempoMinutos": minutes,
        "genero": "Animation",
        "notaMedia": rating,
        "numeroVotos": votes,
        "generoArtista": "actor",
        "personagem": "someone",
        "nomeArtista": artist,
        "anoNascimento": "1980",
        "anoFalecimento": NULL_MARKER,
        "profissao": "actor",
        "titulosMaisConhecidos": title_id,
    }
    return DELIMITER.join(fields[column] for column in SERIES.columns)


SERIES_CSV = (
    "\n".join(
        [
            SERIES.header,
            # One title, one row per artist: the report must see it once.
            imdb_row("tt0000001", "First", "2020", NULL_MARKER, "24", "9.1", "1000", "Artist A"),
            imdb_row("tt0000001", "First", "2020", NULL_MARKER, "24", "9.1", "1000", "Artist B"),
            imdb_row("tt0000001", "First", "2020", NULL_MARKER, "24", "9.1", "1000", "Artist C"),
            imdb_row("tt0000002", "Second", "1999", "2005", "23", "8.4", "250000", "Artist D"),
            imdb_row("tt0000009", "Not ranked", "2001", "2002", "30", "7.0", "10", "Artist E"),
        ]
    ).encode()
    + b"\n"
)


def details(series_id: int, imdb_id: str | None, **fields) -> dict:
    return {
        "id": series_id,
        "name": f"Série {series_id}",
        "original_name": f"シリーズ{series_id}",
        "vote_average": 8.5,
        "vote_count": 300,
        "first_air_date": "2021-04-01",
        "last_air_date": "2023-06-30",
        "status": "Ended",
        "number_of_seasons": 2,
        "number_of_episodes": 24,
        "episode_run_time": [24],
        "genres": [{"id": 16, "name": "Animação"}, {"id": 18, "name": "Drama"}],
        "networks": [{"id": 1, "name": "Fuji TV", "origin_country": "JP"}, {"id": 2, "name": "MBS"}],
        "production_companies": [{"id": 3, "name": "MAPPA"}],
        "external_ids": {"imdb_id": imdb_id, "tvdb_id": 1},
        **fields,
    }


BODIES = [
    details(10, "tt0000001", vote_average=8.9, vote_count=652),
    # No IMDb title for this id in series.csv.
    details(20, "tt9999999"),
    # Empty TMDB dates and run time: IMDb's years and minutes stand in.
    details(
        30, "tt0000002", first_air_date="", last_air_date=None, episode_run_time=[], number_of_episodes=100
    ),
    # No IMDb id at all, and no genres, networks or companies.
    details(40, None, genres=[], networks=[], production_companies=[]),
]
RANKING = [
    {
        "id": body["id"],
        "name": body["name"],
        "vote_average": body["vote_average"],
        "vote_count": body["vote_count"],
        "rank": position,
    }
    for position, body in enumerate(BODIES, start=1)
]
MANIFEST = {
    "dag_id": settings.RAW_DAG_ID,
    "run_id": RUN_ID,
    "partition": DAY.isoformat(),
    "params": {"top_n": 4},
    "ranking": RANKING,
    "objects": [
        {"key": layout.csv_key(SERIES, DAY), "fetched_at": "2026-11-27T08:00:00.000+00:00"},
        *(
            {"key": layout.details_key(DAY, body["id"]), "fetched_at": f"2026-11-27T09:00:0{i}.000+00:00"}
            for i, body in enumerate(BODIES)
        ),
        {"key": layout.discover_key(DAY, 1), "fetched_at": "2026-11-27T10:00:00.000+00:00"},
    ],
}

"""The comparison table read from its partition on the real S3 server: what it refuses, what a rerun
replaces."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import date

import polars as pl
import pytest

from datalake import layout, settings
from datalake.csvs.files import DELIMITER, NULL_MARKER, SERIES
from datalake.errors import PartitionChanged, PartitionIncomplete
from datalake.lake.storage import S3ObjectStore
from datalake.report import comparison
from datalake.report import files as report_files
from tests.conftest import TEST_BUCKET

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


def put_partition(client, bucket: str, day: date, manifest: dict, bodies: list[dict]) -> None:
    """``series.csv`` and the ``bodies`` in the lake, and a manifest recording them and every other detail of
    BODIES as they would have landed."""
    store = S3ObjectStore(client, bucket)
    at = "2026-11-27T09:00:00.000+00:00"
    objects = [store.put(layout.csv_key(SERIES, day), SERIES_CSV, source="t", records=5, fetched_at=at)]
    for body in bodies:
        key = layout.details_key(day, body["id"])
        objects.append(store.put(key, json.dumps(body).encode(), source="t", records=1, fetched_at=at))
    listed = {stored.key: stored.as_dict() for stored in objects}
    for body in BODIES[len(bodies) :]:
        encoded = json.dumps(body).encode()
        listed[layout.details_key(day, body["id"])] = {
            "key": layout.details_key(day, body["id"]),
            "bytes": len(encoded),
            "sha256": hashlib.sha256(encoded).hexdigest(),
            "fetched_at": at,
        }
    manifest_key = layout.manifest_key(day, settings.RAW_DAG_ID)
    document = {**manifest, "objects": list(listed.values())}
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(document).encode())


def test_the_report_reads_its_partition_from_s3_and_a_rerun_replaces_the_four_files(local_s3):
    client, day = local_s3.client(), date(2026, 1, 2)
    put_partition(client, TEST_BUCKET, day, {**MANIFEST, "partition": day.isoformat()}, BODIES)
    store = S3ObjectStore(client, TEST_BUCKET)
    raw = comparison.read_partition(client, TEST_BUCKET, day)
    assert [body["id"] for body in raw.details] == [10, 20, 30, 40] and raw.series_csv == SERIES_CSV
    first = report_files.write_report(store, comparison.comparison_report(raw))
    again = comparison.read_partition(client, TEST_BUCKET, day)
    second = report_files.write_report(store, comparison.comparison_report(again))
    keys = [layout.report_key(day, extension) for extension in ("parquet", "csv", "md", "html")]
    assert [stored.key for stored in first] == [stored.key for stored in second] == keys
    listed = client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=layout.report_prefix(day))["Contents"]
    assert sorted(obj["Key"] for obj in listed) == sorted(keys)
    parquet = client.get_object(Bucket=TEST_BUCKET, Key=keys[0])
    assert parquet["ContentType"] == "application/vnd.apache.parquet"
    assert pl.read_parquet(io.BytesIO(parquet["Body"].read())).height == 4


def test_a_partition_without_manifest_is_named_as_incomplete(local_s3):
    day = date(2026, 1, 3)
    with pytest.raises(
        PartitionIncomplete,
        match=re.escape(
            f"s3://{TEST_BUCKET}/{layout.manifest_key(day, settings.RAW_DAG_ID)} does not exist: "
            "the raw partition 2026-01-03 is not complete"
        ),
    ):
        comparison.read_partition(local_s3.client(), TEST_BUCKET, day)


def test_a_detail_the_manifest_lists_but_the_lake_lacks_is_named(local_s3):
    client, day = local_s3.client(), date(2026, 1, 4)
    put_partition(client, TEST_BUCKET, day, {**MANIFEST, "partition": day.isoformat()}, BODIES[:1])
    with pytest.raises(PartitionIncomplete, match=re.escape(layout.details_key(day, 20))):
        comparison.read_partition(client, TEST_BUCKET, day)


def test_an_object_overwritten_after_its_manifest_is_refused_naming_it(local_s3):
    """A failed re-run may have overwritten objects: the old manifest must not vouch for them."""
    client, day = local_s3.client(), date(2026, 1, 5)
    put_partition(client, TEST_BUCKET, day, {**MANIFEST, "partition": day.isoformat()}, BODIES)
    key = layout.details_key(day, 30)
    client.put_object(Bucket=TEST_BUCKET, Key=key, Body=json.dumps({**BODIES[2], "vote_count": 1}).encode())
    with pytest.raises(PartitionChanged, match=re.escape(f"s3://{TEST_BUCKET}/{key} is ")) as refused:
        comparison.read_partition(client, TEST_BUCKET, day)
    assert "but the manifest of run manual__2026-11-27T00:00:00+00:00 records" in str(refused.value)
    assert f"run {settings.RAW_DAG_ID} for {day} again" in str(refused.value)

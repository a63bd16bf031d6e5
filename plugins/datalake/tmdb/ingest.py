"""The TMDB half of the raw zone: discover, rank, fetch details, land the raw bodies.

The DAG's tasks and the Lambda both call these functions, so the two write the same objects.
Nothing is stored until its answer has been checked, so a bad answer leaves no object behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from datalake import layout
from datalake.lake.schema import body_schema
from datalake.lake.storage import S3ObjectStore, StoredObject
from datalake.tmdb.client import TmdbClient, TmdbResponse
from datalake.tmdb.ranking import MAX_PAGE, DiscoverQuery, cut_is_final, rank

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Discovery:
    ranking: list[dict[str, Any]]
    """The top series, best first: id, name, vote_average, vote_count."""
    objects: list[StoredObject]
    """The discover pages as landed."""
    total_results: int | None = None
    """How many series TMDB matched for the query, as its first page says: a volume the checks follow."""

    @property
    def ids(self) -> list[int]:
        return [series["id"] for series in self.ranking]


def discover_top_series(
    client: TmdbClient, store: S3ObjectStore, query: DiscoverQuery, day: date, prefix: str = ""
) -> Discovery:
    """Land every discover page the ranking needs and rank the top series.

    Pages are fetched until no later page can change the top-N (a tie with the n-th may
    continue on the next page), and stored only once all of them have arrived.
    """
    pages: list[TmdbResponse] = []
    seen: list[dict] = []
    while True:
        response = client.discover_tv(query, page=len(pages) + 1)
        pages.append(response)
        results = response.data["results"]
        seen.extend(results)
        last_page = min(int(response.data["total_pages"]), MAX_PAGE)
        if len(pages) >= last_page or cut_is_final(seen, results, query.top_n):
            break
    objects = [
        store.put(
            layout.discover_key(day, number, prefix),
            response.body,
            source=response.url,
            records=len(response.data["results"]),
            fetched_at=response.fetched_at,
        )
        for number, response in enumerate(pages, start=1)
    ]
    ranking = [
        {key: series.get(key) for key in ("id", "name", "vote_average", "vote_count")}
        for series in rank(seen, query.top_n)
    ]
    if ranking:
        log.info(
            "Top %d of %d series over %d page(s): %s",
            len(ranking),
            len(seen),
            len(pages),
            [series["id"] for series in ranking],
        )
    else:
        log.info(
            "TMDB found no series for %s: there is nothing to fetch, and no detail task will run.",
            pages[0].url,
        )
    total = pages[0].data.get("total_results")
    return Discovery(ranking, objects, None if total is None else int(total))


@dataclass(frozen=True)
class DetailsObject(StoredObject):
    """A landed ``/tv/{id}`` body with its schema, which the schema-drift check compares across partitions."""

    schema: dict[str, str] = field(default_factory=dict)
    """Each top-level field of the body and its JSON type (``datalake.lake.schema.body_schema``)."""


def land_series_details(
    client: TmdbClient, store: S3ObjectStore, series_id: int, language: str, day: date, prefix: str = ""
) -> DetailsObject:
    """Land the raw ``/tv/{id}`` body (with external_ids) of one series; return it with its schema."""
    response = client.tv_details(series_id, language)
    stored = store.put(
        layout.details_key(day, series_id, prefix),
        response.body,
        source=response.url,
        records=1,
        fetched_at=response.fetched_at,
    )
    log.info("Stored %s (%d bytes) from %s", stored.key, stored.bytes, response.url)
    return DetailsObject(**stored.as_dict(), schema=body_schema(response.data))

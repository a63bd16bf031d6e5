"""The TMDB half of the raw zone: discover, rank, fetch details, land the raw bodies.

The DAG's tasks and the Lambda both call these functions, so the two write the same objects.
"""

from __future__ import annotations

import logging
from datetime import date

from datalake import layout
from datalake.ranking import MAX_PAGE, DiscoverQuery, cut_is_final, rank
from datalake.storage import S3ObjectStore, StoredObject
from datalake.tmdb import TmdbClient, TmdbResponse

log = logging.getLogger(__name__)


def discover_top_series(
    client: TmdbClient, store: S3ObjectStore, query: DiscoverQuery, day: date, prefix: str = ""
) -> list[int]:
    """Land every discover page the ranking needs and return the top ids, best first.

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
    for number, response in enumerate(pages, start=1):
        store.put(layout.discover_key(day, number, prefix), response.body)
    top = [int(series["id"]) for series in rank(seen, query.top_n)]
    if top:
        log.info("Top %d of %d series over %d page(s): %s", len(top), len(seen), len(pages), top)
    else:
        log.info("TMDB found no series for %s; nothing to fetch.", pages[0].url)
    return top


def fetch_series_details(
    client: TmdbClient, store: S3ObjectStore, series_id: int, language: str, day: date, prefix: str = ""
) -> StoredObject:
    """Land the raw ``/tv/{id}`` body (with external_ids) of one series."""
    response = client.tv_details(series_id, language)
    stored = store.put(layout.details_key(day, series_id, prefix), response.body)
    log.info("Stored %s (%d bytes) from %s", stored.key, stored.bytes, response.url)
    return stored

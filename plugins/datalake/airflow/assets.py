"""The lake's Airflow assets: one per root of the layout, named after its zone; defined here once.

An asset's identity is fixed when a DAG is parsed, while the lake's bucket is a Variable read at run
time; and a partitioned schedule (the report's ``PartitionedAssetTimetable``) needs a concrete asset,
not an alias resolved at run time. So an asset names a root of the lake, the same in every bucket, and
each event says where the objects are: the bucket and every object's key, bytes and SHA-256 in its
extra, the lake day as its partition key.

The URIs use a scheme of this project's own (``x-``: Airflow leaves such URIs as they are), because no
URI naming a root of ``s3://<bucket>/`` could be true of every bucket.
"""

from __future__ import annotations

from airflow.sdk import Asset

from datalake import layout
from datalake.csvs.files import CsvFile

SCHEME = "x-datalake"


def _root(name: str, root: str) -> Asset:
    return Asset(name=name, uri=f"{SCHEME}://{root}")


def raw_csv(csv_file: CsvFile) -> Asset:
    """The objects ``CsvLandingOperator`` lands for ``csv_file``: ``datalake_raw_csv_movies``, and so on."""
    return _root(f"datalake_raw_csv_{csv_file.name.lower()}", layout.csv_root(csv_file))


RAW_TMDB = _root("datalake_raw_tmdb", layout.TMDB_ROOT)
"""TMDB's answers: the discover pages and each series' details."""

RAW_MANIFESTS = _root("datalake_raw_manifests", layout.MANIFEST_ROOT)
"""The run manifests: an event means a raw partition is complete; the report is scheduled on it."""

REFINED_REPORTS = _root("datalake_refined_anime_top10", layout.REPORT_ROOT)
"""The anime top-N report's four files, for whatever reads the refined zone."""

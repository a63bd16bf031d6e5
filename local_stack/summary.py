"""What a finished run wrote, as the runners print it: read back from the lake (the manifest, the details,
the report's Parquet), never worked out again."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from datalake import layout
from datalake.lake.checks import band_text, compared_span
from datalake.settings import RAW_DAG_ID


def read_json(client: Any, bucket: str, key: str) -> dict:
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def report_location(bucket: str, day: date, lake: Path | None) -> str:
    """Where the report's HTML page of ``day`` opens: a file in the embedded lake, else its S3 URL."""
    html_key = layout.report_key(day, "html")
    return str(lake / bucket / html_key) if lake else f"s3://{bucket}/{html_key}"


def partition_line(client: Any, bucket: str, day: date, lake: Path | None) -> str:
    """One line for a backfilled partition, from its manifest: objects, bytes, the top series, the report."""
    manifest = read_json(client, bucket, layout.manifest_key(day, RAW_DAG_ID))
    objects = manifest["objects"]
    top = "(no series)"
    if manifest["ranking"]:
        first = manifest["ranking"][0]
        top = f"#1 {read_json(client, bucket, layout.details_key(day, first['id']))['name']} ({first['id']})"
    size = sum(entry["bytes"] for entry in objects)
    report = report_location(bucket, day, lake)
    return f"{day}  {len(objects):>3} objects  {size:>13,} bytes  {top}  report: {report}"


def summary(client: Any, bucket: str, day: date, ranking: bool = True) -> str:
    """What the day's run landed and ranked, as its manifest records it: the run that happened, with its
    own parameters, not a ranking worked out again here. ``ranking=False`` leaves out the ranked table, for
    when the report's table of the same series follows."""

    def read(key: str) -> dict:
        return read_json(client, bucket, key)

    manifest_key = layout.manifest_key(day, RAW_DAG_ID)
    manifest = read(manifest_key)
    sizes = {entry["key"]: entry["bytes"] for entry in manifest["objects"]}
    sizes[manifest_key] = client.head_object(Bucket=bucket, Key=manifest_key)["ContentLength"]
    run_params = {name: manifest["params"][name] for name in sorted(manifest["params"])}
    lines = [
        f"Objects in s3://{bucket}/ for {day} (run {manifest['run_id']}, params {json.dumps(run_params)}):"
    ]
    lines += [f"  {size:>12,}  {key}" for key, size in sorted(sizes.items())]
    if ranking and manifest["ranking"]:
        lines += [
            "",
            f"{'rank':>4}  {'tmdb id':>8}  {'name':<40} {'vote avg':>8} {'votes':>7} "
            f"{'seasons':>7} {'episodes':>8}",
        ]
        for series in manifest["ranking"]:
            details = read(layout.details_key(day, series["id"]))
            lines.append(
                f"{series['rank']:>4}  {details['id']:>8}  {details['name'][:40]:<40} "
                f"{details['vote_average']:>8.3f} {details['vote_count']:>7} "
                f"{details['number_of_seasons']:>7} {details['number_of_episodes']:>8}"
            )
    if not manifest["ranking"]:
        lines += ["", "  (TMDB found no series for these parameters)"]
    lines += ["", *check_lines(manifest)]
    return "\n".join(lines)


def check_lines(manifest: dict) -> list[str]:
    """The run's freshness in one line, then its data checks: how many passed, and each that did not with its
    method, the partitions it was compared with and its band (an older manifest's checks without the three).
    Every check, passed or not, is in the manifest; a run's summary stays short however many columns the
    CSVs have."""
    fresh = manifest.get("freshness", {})
    lines = (
        [
            "Freshness: "
            + ", ".join(f"{source} {item['age_days']:.1f} days old" for source, item in fresh.items())
        ]
        if fresh
        else []
    )
    recorded = manifest.get("checks", [])
    compared = {check["compared_with"] for check in recorded} - {None}
    passed = sum(check["level"] == "pass" for check in recorded)
    lines.append(
        f"Data checks against {', '.join(sorted(compared)) or 'no earlier partition'}: "
        f"{passed} of {len(recorded)} passed" + ("" if passed == len(recorded) else "; the others:")
    )
    for check in recorded:
        if check["level"] == "pass":
            continue
        span = compared_span(check) if check.get("partitions") else ""
        band = band_text(check)
        how = [check.get("method") or "", f"over {span}" if span else "", f"band {band}" if band else ""]
        said = ", ".join(part for part in how if part)
        lines.append(
            f"  {check['level']:<4}  {check['name']}: {check['observed']} (expected {check['expected']})"
            + (f" [{said}]" if said else "")
        )
    return lines


def report_summary(client: Any, bucket: str, day: date, lake: Path | None) -> str:
    """The comparison table as the report's Parquet holds it, and where to open its HTML page.

    Rows start with the rank at the margin, so they never read as rows of the raw summary's table.
    """
    parquet = client.get_object(Bucket=bucket, Key=layout.report_key(day, "parquet"))["Body"].read()
    table = pl.read_parquet(io.BytesIO(parquet))
    lines = [
        "",
        f"TMDB against IMDb for {day} ({table.height} series, "
        f"{table['imdb_matched'].sum()} with an IMDb match):",
        f"{'rank':<5} {'name':<36} {'TMDB avg':>8} {'TMDB votes':>10} {'IMDb':>5} {'IMDb votes':>10} "
        f"{'seasons':>7} {'episodes':>8}",
    ]

    def shown(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines += [
        f"{row['rank']:<5} {row['name'][:36]:<36} {row['tmdb_vote_average']:>8.3f} "
        f"{row['tmdb_vote_count']:>10,} "
        f"{shown(row['imdb_rating'], '.1f'):>5} {shown(row['imdb_votes'], ','):>10} "
        f"{shown(row['seasons'], 'd'):>7} {shown(row['episodes'], 'd'):>8}"
        for row in table.iter_rows(named=True)
    ]
    lines.append(f"Report: {report_location(bucket, day, lake)}")
    return "\n".join(lines)

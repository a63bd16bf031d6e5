"""OpenLineage's data-quality facets of a landed CSV: built from the landing result, on its input only."""

from __future__ import annotations

from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.serde import Serde

from datalake.airflow.operators import ReportsLineage
from datalake.csvs.files import SERIES
from datalake.lake import lineage

LANDED = {
    "key": "Raw/Local/CSV/Series/2026/11/27/series.csv",
    "bytes": 1234,
    "sha256": "0" * 64,
    "source": "/data/series.csv",
    "records": 10,
    "fetched_at": "2026-11-27T08:00:00Z",
    "profile": {"null_counts": dict.fromkeys(SERIES.columns, 0) | {"anoTermino": 7}, "duplicate_rows": 2},
}


def test_a_landed_csvs_quality_is_its_rows_bytes_nulls_and_the_contracts_assertions_passed():
    quality = lineage.landed_csv_quality(LANDED)
    assert (quality.row_count, quality.bytes) == (10, 1234)
    assert quality.null_counts == LANDED["profile"]["null_counts"]
    assert quality.assertions == (
        lineage.Assertion("exact_header", True),
        lineage.Assertion("field_count_per_line", True),
        lineage.Assertion("utf8", True),
    )


def test_an_operator_reports_the_facets_on_the_input_it_measured_and_nothing_on_the_others():
    operator = ReportsLineage()  # what CsvLandingOperator reports with (its execute is tests/integration's)
    source, other, output = (
        lineage.local_file("/data/series.csv"),
        lineage.local_file("/x"),
        lineage.s3_object("lake", "k"),
    )
    operator.recorded_lineage = lineage.Lineage()
    operator.recorded_lineage.add(
        inputs=[source, other], outputs=[output], quality={source: lineage.landed_csv_quality(LANDED)}
    )
    reported = operator.get_openlineage_facets_on_complete(task_instance=None)
    assert isinstance(reported, OperatorLineage)
    measured, plain = (Serde.to_dict(item) for item in reported.inputs)
    facets = measured["inputFacets"]
    assert facets["dataQualityMetrics"]["rowCount"] == 10 and facets["dataQualityMetrics"]["bytes"] == 1234
    assert facets["dataQualityMetrics"]["columnMetrics"]["anoTermino"]["nullCount"] == 7
    assert set(facets["dataQualityMetrics"]["columnMetrics"]) == set(SERIES.columns)
    assert facets["dataQualityMetrics"]["_schemaURL"].endswith(
        "DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet"
    )
    assert [item["assertion"] for item in facets["dataQualityAssertions"]["assertions"]] == [
        "exact_header",
        "field_count_per_line",
        "utf8",
    ]
    assert "inputFacets" not in plain and (plain["namespace"], plain["name"]) == ("file", "/x")
    assert [(item.namespace, item.name) for item in reported.outputs] == [("s3://lake", "k")]
    assert not Serde.to_dict(reported.outputs[0]).get("facets")

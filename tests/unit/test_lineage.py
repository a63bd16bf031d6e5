"""Datasets named as OpenLineage names them, recorded only while a task records."""

from __future__ import annotations

from pathlib import Path

import pytest

from datalake.errors import InvalidParameter
from datalake.lake import lineage
from datalake.lake.lineage import LineageDataset


def test_a_lake_object_is_named_by_bucket_and_key():
    assert lineage.s3_object("datalake", "Raw/a.json") == LineageDataset("s3://datalake", "Raw/a.json")


def test_a_local_file_is_named_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lineage.local_file("data/movies.csv") == LineageDataset("file", str(tmp_path / "data/movies.csv"))


@pytest.mark.parametrize(
    "url",
    [
        "https://api.themoviedb.org/3/discover/tv?api_key=SECRET&page=2",
        "https://user:SECRET@api.themoviedb.org/3/discover/tv",
        "https://api.themoviedb.org/3/discover/tv#SECRET",
    ],
)
def test_an_endpoint_keeps_neither_query_nor_user_info(url):
    named = lineage.web_endpoint(url)
    assert named == LineageDataset("https://api.themoviedb.org", "/3/discover/tv")
    assert "SECRET" not in repr(named)


def test_an_endpoint_keeps_its_port():
    assert lineage.web_endpoint("http://127.0.0.1:8123/3/tv/1") == LineageDataset(
        "http://127.0.0.1:8123", "/3/tv/1"
    )


def test_a_relative_url_is_refused_naming_it():
    with pytest.raises(InvalidParameter, match="Not an absolute URL: '/3/tv/1'"):
        lineage.web_endpoint("/3/tv/1")


def test_a_landed_objects_source_is_its_request_or_its_file():
    assert lineage.source_of({"source": "https://api.themoviedb.org/3/tv/1?language=en"}) == LineageDataset(
        "https://api.themoviedb.org", "/3/tv/1"
    )
    assert lineage.source_of({"source": "/data/movies.csv"}) == LineageDataset("file", "/data/movies.csv")


def test_recording_keeps_each_dataset_once_in_first_order():
    first, second = lineage.s3_object("b", "1"), lineage.s3_object("b", "2")
    with lineage.recording() as recorded:
        lineage.record(inputs=[first, second, first], outputs=[second])
        lineage.record(inputs=[second], outputs=[first, second])
    assert recorded.inputs == [first, second] and recorded.outputs == [second, first]


def test_outside_a_recording_nothing_is_kept():
    lineage.record(inputs=[lineage.s3_object("b", "stray")])
    with lineage.recording() as recorded:
        pass
    assert recorded.inputs == [] and recorded.outputs == []


def test_landed_objects_record_their_sources_as_inputs_and_their_keys_as_outputs():
    landed = [
        {"key": "Raw/p1.json", "source": "https://api.example.org/3/discover/tv?page=1"},
        {"key": "Raw/p2.json", "source": "https://api.example.org/3/discover/tv?page=2"},
        {"key": "Raw/m.csv", "source": str(Path("/data/movies.csv"))},
    ]
    with lineage.recording() as recorded:
        lineage.record_landed("lake", landed)
    assert recorded.inputs == [
        LineageDataset("https://api.example.org", "/3/discover/tv"),
        LineageDataset("file", "/data/movies.csv"),
    ]
    assert recorded.outputs == [
        lineage.s3_object("lake", key) for key in ("Raw/p1.json", "Raw/p2.json", "Raw/m.csv")
    ]

"""The lake folder of the embedded S3: one that cannot serve is named before anything starts."""

from __future__ import annotations

import pytest

from local_stack.services import ServiceError, check_lake


def test_a_lake_that_is_a_file_is_named(tmp_path):
    lake = tmp_path / "lake"
    lake.write_text("")
    with pytest.raises(ServiceError, match=f"The lake folder {lake} is a file, not a folder"):
        check_lake(lake, "datalake")


def test_a_bucket_folder_that_is_a_file_is_named(tmp_path):
    (tmp_path / "datalake").write_text("")
    with pytest.raises(ServiceError, match=f"The lake folder {tmp_path / 'datalake'} is a file"):
        check_lake(tmp_path, "datalake")


def test_a_lake_that_cannot_be_created_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ServiceError, match="cannot be created: Not a directory"):
        check_lake(tmp_path / "file" / "lake", "datalake")


def test_a_usable_lake_is_left_as_it_was(tmp_path):
    check_lake(tmp_path / "lake", "datalake")
    assert list((tmp_path / "lake").iterdir()) == []

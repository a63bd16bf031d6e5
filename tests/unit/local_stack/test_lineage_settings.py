"""The local runners' OpenLineage settings: events as files under the local folder, unless the user chose."""

from __future__ import annotations

import json

import pytest

from local_stack.environment import lineage_settings


def test_events_go_to_files_under_the_local_folder_in_the_datalake_namespace(tmp_path):
    chosen = lineage_settings(tmp_path, {})
    assert json.loads(chosen["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == {
        "type": "file",
        "log_file_path": str(tmp_path / "openlineage" / "event"),
    }
    assert chosen["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "datalake"


@pytest.mark.parametrize(
    "setting",
    [
        {"AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "http", "url": "http://marquez:5000"}'},
        {"AIRFLOW__OPENLINEAGE__TRANSPORT_CMD": "cat /run/secrets/transport"},
        {"AIRFLOW__OPENLINEAGE__CONFIG_PATH": "/etc/openlineage.yml"},
        {"OPENLINEAGE_URL": "http://marquez:5000"},
        {"OPENLINEAGE_CONFIG": "/etc/openlineage.yml"},
        {"OPENLINEAGE__TRANSPORT__TYPE": "console"},
    ],
    ids=lambda setting: next(iter(setting)),
)
def test_a_transport_the_user_configured_wins(tmp_path, setting):
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" not in lineage_settings(tmp_path, setting)


def test_an_empty_setting_is_no_choice(tmp_path):
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" in lineage_settings(tmp_path, {"OPENLINEAGE_URL": ""})


@pytest.mark.parametrize("name", ["AIRFLOW__OPENLINEAGE__NAMESPACE", "OPENLINEAGE_NAMESPACE"])
def test_a_namespace_the_user_named_wins(tmp_path, name):
    assert "AIRFLOW__OPENLINEAGE__NAMESPACE" not in lineage_settings(tmp_path, {name: "theirs"})

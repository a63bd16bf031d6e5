"""Sessions from ``SharedModelsSessionFactory`` share botocore's parsed models but keep their own settings."""

from __future__ import annotations

from airflow.models.connection import Connection
from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

from local_stack.aws_sessions import LOADER, SharedModelsSessionFactory


def session(key: str, region: str):
    connection = Connection(conn_id=f"aws_{key}", conn_type="aws", login=key, password=f"secret-{key}",
                            extra={"region_name": region})
    return SharedModelsSessionFactory(conn=AwsConnectionWrapper(conn=connection)).create_session()


def test_sessions_share_one_loader_and_keep_their_own_credentials_and_region():
    first, second = session("first", "us-east-1"), session("second", "sa-east-1")
    assert first._session.get_component("data_loader") is LOADER
    assert second._session.get_component("data_loader") is LOADER
    assert (first.get_credentials().access_key, first.region_name) == ("first", "us-east-1")
    assert (second.get_credentials().access_key, second.region_name) == ("second", "sa-east-1")


def test_clients_from_shared_models_still_work():
    client = session("third", "us-east-1").client("s3", endpoint_url="http://127.0.0.1:9")
    assert client.meta.service_model.service_name == "s3"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"

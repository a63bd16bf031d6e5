"""boto3 sessions that share botocore's parsed models, for many tasks in one interpreter.

Each AWS hook builds a new boto3 session, and each new session parses botocore's endpoint and service
models (megabytes of JSON) again: about 0.4 s for every task when ``local_stack.airflow_batch`` runs all of a
DAG's tasks in one process. Sharing one loader, as the Amazon provider already does for its async
sessions, parses them once; credentials, region and config stay per session. Selected through Airflow's
``[aws] session_factory`` setting.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import botocore.session
from airflow.providers.amazon.aws.hooks.base_aws import BaseSessionFactory

LOADER = botocore.loaders.Loader()
"""Caches what it parses; boto3 appends its own data folder to the search path once per session."""


class SharedModelsSessionFactory(BaseSessionFactory):
    """The provider's own factory, but its plain sessions (no assumed role) read models through ``LOADER``."""

    def _create_basic_session(self, session_kwargs: dict[str, Any]) -> boto3.session.Session:
        session = botocore.session.get_session()
        session.register_component("data_loader", LOADER)
        return boto3.session.Session(botocore_session=session, **session_kwargs)

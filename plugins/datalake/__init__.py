"""The one implementation of the raw-zone ingest, shared by the Airflow DAG and the AWS Lambda.

Modules named here import no Airflow; only ``datalake.airflow_tasks`` does.
"""

"""The one implementation of the raw-zone ingest and its report, shared by the Airflow DAGs and the AWS
Lambda.

Three modules import Airflow: ``datalake.operators`` at import time (its operators subclass Airflow's),
``datalake.airflow_tasks`` and ``datalake.report_tasks`` only inside their functions (so that parsing
a DAG stays fast). Every other module imports no Airflow, so the Lambda and the tests use them alone.
"""

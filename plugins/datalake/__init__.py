"""The one implementation of the raw-zone ingest and its report, shared by the Airflow DAGs and the AWS
Lambda.

Four modules import Airflow: ``datalake.operators`` and ``datalake.assets`` at import time (its operators
subclass Airflow's; the assets are Airflow's, defined once for every DAG), ``datalake.airflow_tasks`` and
``datalake.report_tasks`` only inside their functions (so that parsing a DAG stays fast). Every other
module imports no Airflow, so the Lambda and the tests use them alone.
"""

"""The one implementation of the raw-zone ingest and its report, shared by the Airflow DAGs and the AWS
Lambda.

Airflow is imported by ``datalake.operators`` and ``datalake.assets`` at import time (its operators
subclass Airflow's; the assets are Airflow's, defined once for every DAG), and by ``datalake.airflow_tasks``
only inside its functions (so that parsing a DAG stays fast); ``datalake.report_tasks`` reaches it through
them, inside its functions. Every other module imports no Airflow, so the Lambda and the tests use them
alone.
"""

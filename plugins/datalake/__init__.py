"""The one implementation of the raw-zone ingest and its report, shared by the Airflow DAGs and the AWS
Lambda.

Airflow is imported by ``datalake.airflow.operators``, ``datalake.airflow.assets`` and
``datalake.airflow.retry_rules`` at import time (the operators subclass Airflow's; the assets and the retry
rules are Airflow's objects, defined once for every DAG), and by ``datalake.airflow.tasks`` only inside its
functions (so that parsing a DAG stays fast); ``datalake.airflow.report_tasks`` reaches it through them,
inside its functions. Every other module imports no Airflow, so the Lambda and the tests use them alone.
"""

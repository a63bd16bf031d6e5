"""The one implementation of the raw-zone ingest and its report, shared by the Airflow DAGs and the AWS
Lambda.

Its folders are layers. ``csvs``, ``tmdb`` and ``lake`` (and the top-level ``settings``, ``layout``,
``run_params`` and ``errors``) are plain Python the Lambda and the tests use alone; ``report`` adds polars and
matplotlib; ``airflow`` is the glue the DAG files call. The rule: Airflow (and ``datalake.airflow``) is
imported only in ``datalake/airflow``; ``datalake.report``, polars and matplotlib only in ``datalake/report``
and ``datalake/airflow``; no module imports another in a circle. Every import counts, inside a function and
under ``TYPE_CHECKING`` too. So the Lambda's zip leaves both folders out (``lambda_function/build.py``), and
``tests/unit/test_layers.py`` holds the package to it.
"""

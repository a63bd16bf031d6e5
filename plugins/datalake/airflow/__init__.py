"""The Airflow glue: the operators, the assets, the retry rules and the task functions the DAG files call;
the one folder of the package that imports Airflow."""

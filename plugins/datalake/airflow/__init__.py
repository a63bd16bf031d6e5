"""The Airflow glue: the operators, the assets, the retry rules and the task functions the DAG files call.
They read connections, Variables and the run's facts, and hand plain values to the layers below."""

"""How the project runs on one machine: the embedded services (``services``), the Airflow settings and
connections that point at them (``run.local_airflow``), and the runners on top: ``make run`` (``run``),
``make airflow`` (``standalone``), ``make airflow-cli`` (``cli``), ``make cluster`` (``cluster``).

Local tooling: it may import ``sandbox`` and ``datalake``; product code never imports it.
"""

from __future__ import annotations

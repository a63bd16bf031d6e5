"""How the project runs on one machine, in layers that import downward only:

- the commands: ``make run`` (``run``), ``make backfill`` (``backfill``), ``make airflow-cli`` (``cli``);
- the stacks: ``make airflow`` (``standalone``), ``make cluster`` (``cluster``);
- their base: ``stack`` (the lock, the services, the settings applied, the DB migrated; the ``Stack`` type),
  ``environment`` (the local Airflow configuration, one table per kind of stack), and below them the
  embedded ``services``, the cluster's ``databases``, ``processes``, ``airflow_api``, ``progress``,
  ``run_log``, ``summary``.

Local tooling: it may import ``sandbox`` and ``datalake``; product code never imports it.
"""

from __future__ import annotations

"""How the project runs on one machine: the embedded services (``services``), the Airflow settings and
connections that point at them (``run.local_airflow``), and the runners on top: ``make run`` (``run``),
``make airflow`` (``standalone``), ``make airflow-cli`` (``cli``), ``make cluster`` (``cluster``).

Local tooling: it may import ``sandbox`` and ``datalake``; product code never imports it. Importing this
package puts ``plugins/`` on the path, as Airflow does for the DAGs and pytest's ``pythonpath`` for the
tests, so that ``python -m local_stack.<runner>`` finds ``datalake`` whatever the order of its imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"

if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))

"""``[core] hostname_callable`` for a cluster whose workers share one host.

Airflow records ``task_instance.hostname`` from this callable, evaluated in the task's own process, not from
Celery's ``--celery-hostname``; two workers on one machine would otherwise record the same name.
"""

from __future__ import annotations

import os
import socket

WORKER_HOSTNAME_ENV = "DATALAKE_WORKER_HOSTNAME"


def worker_hostname() -> str:
    """The worker's own name from its environment; the machine's name for every other process."""
    return os.environ.get(WORKER_HOSTNAME_ENV) or socket.getfqdn()

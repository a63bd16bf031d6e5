"""One landing in a fresh interpreter, then its RSS high-water mark: ``python -m bench.peak FILE DATASET
BUCKET KEY``.

A process of its own per size, so no earlier landing's high-water mark hides this one's. The AWS
connection comes from ``AIRFLOW_CONN_AWS_DEFAULT``, as in the DAG's tasks. Prints the peak in MB.
"""

from __future__ import annotations

import sys
from pathlib import Path


def vm_hwm_megabytes() -> float:
    """This process's peak resident set (``VmHWM``) in MB, as the kernel counts it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("/proc/self/status has no VmHWM: peak memory needs Linux")


def main(argv: list[str]) -> int:
    path, dataset_name, bucket, key = argv
    from datalake.airflow.operators import land_checked_csv
    from datalake.csvs.files import csv_file_named

    land_checked_csv(Path(path), csv_file_named(dataset_name), bucket, key, aws_conn_id="aws_default")
    print(f"{vm_hwm_megabytes():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Any ``airflow`` command in ``make run``'s environment (home, connections, embedded services), e.g.

    python -m local_stack.cli tasks test datalake_raw_ingest discover_top_anime 2026-11-27

It holds the metadata DB's lock while it runs, like ``make run`` and ``make airflow`` (see
``local_stack.stack.local_airflow``), so it waits while either runs on the same ``--local``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from local_stack.processes import during
from local_stack.stack import add_location_arguments, airflow, guarded, local_airflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_location_arguments(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the airflow command and its arguments")
    args = parser.parse_args(argv)
    if not args.command:
        parser.error(
            "give an airflow command, e.g. tasks test datalake_raw_ingest discover_top_anime 2026-11-27"
        )
    return guarded("make airflow-cli", lambda: run_command(args.lake, args.local, args.command))


def run_command(lake: Path, local: Path, command: list[str]) -> int:
    """One ``airflow`` command, holding the metadata DB's lock as ``make run`` does."""
    with local_airflow(lake, local, holder=f"make airflow-cli {shlex.join(command)}"):
        with during(f"airflow {shlex.join(command)}"):
            return airflow(*command)


if __name__ == "__main__":
    sys.exit(main())

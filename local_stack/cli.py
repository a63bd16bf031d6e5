"""Any ``airflow`` command in ``make run``'s environment (home, connections, embedded services), e.g.

    python -m local_stack.cli tasks test datalake_raw_ingest discover_top_anime 2026-11-27
"""

from __future__ import annotations

import argparse
import sys

from local_stack.run import add_location_arguments, airflow, local_airflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_location_arguments(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the airflow command and its arguments")
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give an airflow command, e.g. tasks test datalake_raw_ingest discover_top_anime 2026-11-27")
    with local_airflow(args.lake, args.local):
        return airflow(*args.command)


if __name__ == "__main__":
    sys.exit(main())

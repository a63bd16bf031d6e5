"""Several ``airflow`` commands in one interpreter, one after the other, e.g.

    python -m local_stack.airflow_batch '[["dags", "test", "a", "2026-11-27"], ["dags", "list"]]'

Each command runs exactly as ``airflow <command>`` would, through Airflow's own CLI; but Airflow's import,
its in-process execution API, botocore's models (see ``local_stack.aws_sessions``) and the interpreter's
teardown are paid once rather than once per command or task.
Stops at the first command that fails. Exit status: 0, or the position (from 1) of the command that failed.
With a file descriptor FD (inherited, e.g. a pipe's write end), the position of each command goes there, one a
line, as the command starts: so the caller can tell which one an interruption stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback

SESSION_FACTORY = "local_stack.aws_sessions.SharedModelsSessionFactory"


def run(commands: list[list[str]], progress: int | None = None) -> int:
    """Run the commands in turn, telling ``progress`` (a file descriptor) each one's position as it starts;
    the position of the first one that failed, or 0."""
    from airflow import configuration  # first, as airflow's own entry point does, to avoid import cycles
    from airflow.cli import cli_parser

    configuration.write_default_airflow_configuration_if_needed()
    # Every task of every command runs in this process: unless the user chose a factory, let their
    # boto3 sessions share botocore's parsed models.
    if not configuration.conf.get("aws", "session_factory", fallback=None):
        os.environ["AIRFLOW__AWS__SESSION_FACTORY"] = SESSION_FACTORY
    parser = cli_parser.get_parser()
    for position, command in enumerate(commands, start=1):
        if progress is not None:
            os.write(progress, f"{position}\n".encode())
        if not succeeded(parser, command):
            return position
    return 0


def succeeded(parser: argparse.ArgumentParser, command: list[str]) -> bool:
    """Run one command; a failure is reported on stderr the way ``airflow`` reports it."""
    sys.argv = ["airflow", *command]  # the CLI records (and masks) the command line from sys.argv
    try:
        args = parser.parse_args(command)
        args.func(args)
    except SystemExit as exit:
        if isinstance(exit.code, str):
            print(exit.code, file=sys.stderr)
        return exit.code in (None, 0)
    except Exception:
        traceback.print_exc()
        return False
    return True


def main() -> None:
    status = run(json.loads(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
    # Every run is committed and every log line written: skip the interpreter's teardown of Airflow's
    # objects, which takes seconds.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()

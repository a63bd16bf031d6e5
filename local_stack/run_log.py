"""A run's full log: every child process's output in one file per run under ``.local/logs/``, streamed to
the terminal as well with ``VERBOSE=1`` (``local_stack.environment.warning_filters`` keeps third-party
noise out of it).

The terminal then shows only what the runner itself prints (``local_stack.progress``), and the file holds
everything a run used to print, for when something needs a closer look.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

_COPY_CHUNK = 65536


def run_log_path(local: Path, now: datetime | None = None) -> Path:
    """``<local>/logs/run-YYYY-MM-DD-HHMMSS.log`` for a run starting ``now`` (UTC)."""
    return local / "logs" / f"run-{(now or datetime.now(UTC)):%Y-%m-%d-%H%M%S}.log"


def verbose(environ: Mapping[str, str] = os.environ) -> bool:
    """``VERBOSE=1`` (or true/yes): the run's log is streamed to the terminal too."""
    return environ.get("VERBOSE", "").strip().lower() in ("1", "true", "yes")


class RunLog:
    """The run's log file, open for the children: pass ``sink`` as a child's ``stdout`` (with
    ``stderr=subprocess.STDOUT``). With ``echo``, a thread copies what the children write to the file and
    to ``terminal``; without, the children write to the file themselves.

    Every writer appends (``O_APPEND``), so the runner's own lines (``write``) and the children's never
    overwrite each other.
    """

    def __init__(self, path: Path, echo: bool = False, terminal: BinaryIO | None = None):
        self.path = path
        self.echo = echo
        self._terminal = terminal or sys.stdout.buffer
        self._file: int | None = None
        self._pipe_write: int | None = None
        self._copier: threading.Thread | None = None

    def __enter__(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        if self.echo:
            pipe_read, self._pipe_write = os.pipe()
            self._copier = threading.Thread(target=self._copy, args=(pipe_read,), daemon=True)
            self._copier.start()
        return self

    @property
    def sink(self) -> int:
        """The descriptor a child writes its output to (the file, or the pipe to the copier)."""
        descriptor = self._pipe_write if self.echo else self._file
        if descriptor is None:
            raise RuntimeError("RunLog is not open: use it as a context manager.")
        return descriptor

    def write(self, text: str) -> None:
        """A line of the runner's own in the file (a child's output is not interrupted mid-line by it only
        when each writes whole lines, as loggers do)."""
        if self._file is None:
            raise RuntimeError("RunLog is not open: use it as a context manager.")
        os.write(self._file, text.encode() + (b"" if text.endswith("\n") else b"\n"))

    def _copy(self, pipe_read: int) -> None:
        try:
            while chunk := os.read(pipe_read, _COPY_CHUNK):
                os.write(self._file, chunk)
                try:
                    self._terminal.write(chunk)
                    self._terminal.flush()
                except (OSError, ValueError):  # the terminal went away: the file still gets everything
                    pass
        finally:
            os.close(pipe_read)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._pipe_write is not None:
            os.close(self._pipe_write)
            self._pipe_write = None
        if self._copier:
            # Ends when every child holding the pipe has exited; one left behind must not hang the runner.
            self._copier.join(timeout=5)
            if self._copier.is_alive():
                return  # the file stays open for it
        if self._file is not None:
            os.close(self._file)
            self._file = None

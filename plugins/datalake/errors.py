"""Every error the package raises, in one tree (as requests' ``exceptions`` module does it).

``DatalakeError`` is the root. ``Permanent`` marks what another try cannot heal: the same file, setting or
question fails the same way, so the task fails at once (``datalake.airflow.retry_rules``); what is not
``Permanent`` (a service that failed) may heal. Each class keeps as a second base the built-in its callers
catch: ``ValueError`` for what is not as expected, ``RuntimeError`` for a service that failed.

Only the standard library here: the retry rules, read whenever a DAG file is parsed, name these classes
without loading the HTTP client or the S3 code that raise them.
"""

from __future__ import annotations

from pathlib import Path


class DatalakeError(Exception):
    """The root of every error the package raises."""


class Permanent:
    """Another try fails the same way: the input, the setting or the answer would be the same."""


class InvalidParameter(Permanent, DatalakeError, ValueError):
    """A run parameter, an argument or a name is none the code takes; the message names it and what is
    expected."""


class InvalidConnection(Permanent, DatalakeError, ValueError):
    """A connection or a credential is not as expected: a host that is no URL, no password, a credential of
    neither TMDB kind."""


class InvalidInput(Permanent, DatalakeError, ValueError):
    """What was read is not as expected: a file's columns, the Lambda's result."""


class CsvContractError(InvalidInput):
    """The file breaks its CSV file's contract; the message names the file, the line and what was expected."""

    def __init__(self, path: Path, line: int | None, problem: str):
        where = f"{path}: line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line


class PartitionIncomplete(Permanent, DatalakeError, ValueError):
    """The raw partition lacks its manifest or an object the manifest lists: nothing to read yet."""


class PartitionChanged(Permanent, DatalakeError, ValueError):
    """An object differs from what the partition's manifest records: it was overwritten after that run."""


class LakeWriteError(DatalakeError, RuntimeError):
    """The lake could not be written; the message names endpoint, bucket and key, never credentials."""


class CorruptWrite(LakeWriteError):
    """The store did not keep the bytes sent, on any attempt: a fault on the way, worth a retry."""


class LakeAccessError(Permanent, LakeWriteError):
    """S3 refused a read or a write for what the request is, not for how it went: credentials refused
    (``AccessDenied``, ``InvalidAccessKeyId``, ``SignatureDoesNotMatch``), no such bucket, or the bucket in
    another region. Another try is refused the same; the message names the S3 error code, the bucket, the
    key, the endpoint and what to check."""


class LakeUnreachable(LakeWriteError):
    """S3 did not answer after botocore's own retries (connection refused, a name that does not resolve,
    no answer within the read timeout, a connection reset): it may heal, so the task's retries try again.
    The message names the endpoint."""


class LakeReadError(DatalakeError, RuntimeError):
    """An object's bytes were cut off on their way back, on every attempt: worth another try."""


class CorruptRead(DatalakeError, RuntimeError):
    """An object's bytes, as read, fail the checksum the store keeps for them: corrupted on the way (another
    read heals it) or at rest (it does not, and the message says what to run)."""


class TmdbError(DatalakeError, RuntimeError):
    """TMDB answered with an error, or did not answer usefully."""

    def __init__(self, message: str, *, url: str, status: int | None = None, tmdb_code: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status
        self.tmdb_code = tmdb_code


class TmdbAuthError(Permanent, TmdbError):
    """TMDB refused the credential."""


class TmdbNotFound(Permanent, TmdbError):
    """The requested resource does not exist on TMDB."""


class TmdbBadAnswer(TmdbError):
    """TMDB's answer came but is not a valid one: not JSON (a proxy's or CDN's page), JSON that does not
    parse, a body cut short or stalled. Such answers come from the path to TMDB, not from TMDB's data, so
    another try may heal them; the message names what was asked, the status, the content type and the first
    bytes."""

    def __init__(self, message: str, *, url: str, status: int | None, content_type: str, head: str):
        super().__init__(message, url=url, status=status)
        self.content_type = content_type
        self.head = head


class TmdbUnexpectedAnswer(Permanent, TmdbBadAnswer):
    """TMDB answered valid JSON that is not what was asked for (no ``id``, another id, ``results`` not a
    list), or a body over the client's size cap: a document that is served again as it is, so another try
    meets the same."""

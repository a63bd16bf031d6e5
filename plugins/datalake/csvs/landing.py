"""Landing a local file in one pass: its contract is checked while its bytes go up, then the object is proven
whole."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from datalake.csvs.contract import CsvContract, CsvFacts, open_csv
from datalake.csvs.files import CsvFile

_COMPLETING_CALLS = ("PutObject", "CompleteMultipartUpload")
PROGRESS_MESSAGE = "Landing progress: %d%% (%d of %d bytes in %.1f s)"
"""A landing's progress line in its task log, which ``local_stack.progress`` reads back with
``PROGRESS_PATTERN``."""
PROGRESS_PATTERN = re.compile(r"Landing progress: \d+% \((\d+) of (\d+) bytes in ([\d.]+) s\)")
MD5_INSTEAD_OF_CRC32 = {"request_checksum_calculation": "when_required"}
"""Botocore settings for a client that lands through ``sending_md5s``: botocore then adds no CRC32 of
its own to each PUT (0.35 ms per MB here), since the MD5 the ETag needs goes as ``Content-MD5``."""


class ExpectedETag:
    """The ETag that S3 gives bytes uploaded with the given transfer settings, worked out as they are read.

    Below ``threshold`` bytes boto3 sends one PUT, and the ETag is the MD5 of the bytes. From
    ``threshold`` on it uploads parts of ``part_bytes``, and the ETag is the MD5 of the parts'
    MD5s followed by ``-<parts>`` (AWS's rule, which MinIO and ``rclone serve s3`` follow).

    Each byte is hashed once: below the threshold the bytes are all in the first part (boto3's default
    has threshold and part size equal), so its MD5 is the whole's. Only a threshold above the part size
    needs a second MD5 of the bytes before it.
    """

    def __init__(self, threshold: int, part_bytes: int):
        self._threshold = threshold
        self._part_bytes = part_bytes
        self._done: list[bytes] = []
        self._part = hashlib.md5(usedforsecurity=False)
        self._filled = 0
        self._size = 0
        self._whole: Any = hashlib.md5(usedforsecurity=False) if threshold > part_bytes else None
        """The MD5 of all bytes, kept only while they may still go as one PUT and span more than one part."""

    def update(self, data: bytes) -> None:
        self._size += len(data)
        if self._whole is not None:
            if self._size < self._threshold:
                self._whole.update(data)
            else:
                self._whole = None
        view = memoryview(data)
        while view:
            taken = view[: self._part_bytes - self._filled]
            self._part.update(taken)
            self._filled += len(taken)
            view = view[len(taken) :]
            if self._filled == self._part_bytes:
                self._done.append(self._part.digest())
                self._part = hashlib.md5(usedforsecurity=False)
                self._filled = 0

    def single_md5(self) -> bytes:
        """The MD5 of all the bytes read, valid while they are fewer than the threshold (one PUT)."""
        return (self._whole or self._part).digest()

    def part_md5(self, number: int) -> bytes:
        """The MD5 of part ``number`` (from 1), once its bytes are read: complete, or the last and short."""
        return self._done[number - 1] if number <= len(self._done) else self._part.digest()

    def value(self) -> str:
        if self._size < self._threshold:
            return self.single_md5().hex()
        parts = self._done + ([self._part.digest()] if self._filled else [])
        return f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"


class ProgressLog:
    """Tells how far a read of ``total`` bytes is, through ``tell(done, total, seconds)``: each time another
    ``step`` of the bytes is read, at least ``interval`` seconds after the start and the last line. A
    landing of a few seconds says nothing; a long one says at most one line per step.

    A read below the next step costs one comparison; the clock is read only once a step is crossed.
    """

    def __init__(
        self,
        total: int,
        tell: Callable[[int, int, float], None],
        *,
        step: float = 0.1,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._total = total
        self._tell = tell
        self._step = max(1, int(total * step))
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._next_time = self._started + interval
        self._next_bytes = self._step
        self._done = 0

    def advance(self, count: int) -> None:
        self._done += count
        if self._done < self._next_bytes:
            return
        now = self._clock()
        if now < self._next_time:
            return
        self._tell(self._done, self._total, now - self._started)
        self._next_bytes = self._done + self._step
        self._next_time = now + self._interval


def logging_progress(log: Any) -> Callable[[int, int, float], None]:
    """A ``ProgressLog`` teller writing ``PROGRESS_MESSAGE`` to ``log`` (a logger or adapter) at info."""

    def tell(done: int, total: int, seconds: float) -> None:
        log.info(PROGRESS_MESSAGE, done * 100 // max(total, 1), done, total, seconds)

    return tell


class ContractCheckedStream:
    """A local CSV opened for upload, checked against its contract by the very reads that upload it.

    It offers ``read`` and nothing to seek with, on purpose: boto3 then reads it strictly in order,
    part by part, and completes a multipart upload only after the read that reaches the end. So the
    contract sees every byte before the object can exist, and a violation raised from ``read`` makes
    boto3 abort the upload: nothing lands, and an object already at the key stays as it was.
    """

    def __init__(
        self,
        path: Path,
        csv_file: CsvFile,
        etag: ExpectedETag,
        progress: Callable[[int, int, float], None] | None = None,
    ):
        self._file = open_csv(path, csv_file)
        opened = os.fstat(self._file.fileno())
        self.modified = opened.st_mtime
        """The file's modification time, taken from the open file: the path may be gone by the end."""
        self._contract = CsvContract(path, csv_file)
        self.etag = etag
        self._progress = ProgressLog(opened.st_size, progress) if progress else None
        self.facts: CsvFacts | None = None
        """Set by the read that reaches the end, once the whole file met the contract."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if data:
            self._contract.update(data)
            self.etag.update(data)
            if self._progress:
                self._progress.advance(len(data))
        elif self.facts is None:
            self.facts = self._contract.finish()
        return data

    def __enter__(self) -> ContractCheckedStream:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._file.close()


@contextmanager
def upload_response(client: Any) -> Iterator[dict[str, Any]]:
    """The server's response to the call that completes an upload through ``client`` (PutObject or
    CompleteMultipartUpload), filled in when the upload returns; boto3's transfer manager keeps it to
    itself."""
    response: dict[str, Any] = {}

    def keep(parsed: Mapping[str, Any], **_: Any) -> None:
        response.update(parsed)

    for call in _COMPLETING_CALLS:
        client.meta.events.register(f"after-call.s3.{call}", keep)
    try:
        yield response
    finally:
        for call in _COMPLETING_CALLS:
            client.meta.events.unregister(f"after-call.s3.{call}", keep)


@contextmanager
def sending_md5s(client: Any, etag: ExpectedETag) -> Iterator[None]:
    """Each PutObject and UploadPart through ``client`` carries ``Content-MD5``, from ``etag``'s MD5s.

    The server refuses a body that does not match it (``BadDigest``), as AWS does with botocore's default
    CRC32 checksum, even where the ETag is not an MD5 (KMS): the MD5 worked out for the ETag is sent
    instead of a CRC32 computed again. boto3 reads a part whole before it sends it, so its MD5 is known.
    """

    def single(params: dict[str, Any], **_: Any) -> None:
        params["ContentMD5"] = base64.b64encode(etag.single_md5()).decode()

    def part(params: dict[str, Any], **_: Any) -> None:
        params["ContentMD5"] = base64.b64encode(etag.part_md5(params["PartNumber"])).decode()

    handlers = (
        ("before-parameter-build.s3.PutObject", single),
        ("before-parameter-build.s3.UploadPart", part),
    )
    for event, handler in handlers:
        client.meta.events.register(event, handler)
    try:
        yield
    finally:
        for event, handler in handlers:
            client.meta.events.unregister(event, handler)

"""Checks that an uploaded file landed whole: what the server reports against what was read locally."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datalake.csv_contract import CsvFacts

_PLAIN_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')


def landing_mismatch(
    head: Mapping[str, Any], path: Path, facts: CsvFacts, md5: Callable[[], str] | None = None
) -> str | None:
    """What differs between the object's HEAD and the local file, or None.

    Size always; SHA-256 when the server returns a full-object ``ChecksumSHA256`` (AWS, single part);
    MD5 when the ETag is a plain MD5 (a single-part upload not encrypted with KMS). ``md5`` gives the
    file's MD5 when the caller already has it under way (see ``md5_of``); by default it is read here.
    """
    size = head.get("ContentLength")
    if size != facts.bytes:
        return f"size {size} bytes, expected {facts.bytes}"
    checksum = head.get("ChecksumSHA256")
    if checksum and "-" not in checksum:
        expected = base64.b64encode(bytes.fromhex(facts.sha256)).decode()
        if checksum != expected:
            return f"SHA-256 {checksum}, expected {expected}"
    etag = _PLAIN_MD5_ETAG.fullmatch(head.get("ETag", ""))
    if etag and head.get("ServerSideEncryption") != "aws:kms":
        local = md5() if md5 else md5_of(path)
        if etag.group(1) != local:
            return f"ETag {etag.group(1)}, expected the file's MD5 {local}"
    return None


def md5_of(path: Path) -> str:
    """The file's MD5, read in chunks; hashlib releases the GIL, so a thread can run it beside an upload."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

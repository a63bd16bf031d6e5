"""A fault-injecting proxy in front of a real S3 server, on loopback: what a hostile network or a store that
misbehaves does to a request, done for real on the wire.

The proxy forwards every request unchanged (the ``Host`` header included, so SigV4 signatures still hold)
unless a rule matches it. A rule names the S3 operation (``PutObject``, ``UploadPart``,
``CreateMultipartUpload``, ``CompleteMultipartUpload``, ``GetObject``, ...), a key pattern and the fault:

- ``flip``: one byte of the body is flipped in transit: the request's on its way to the store (a write),
  or the answer's on its way back (a read);
- ``etag``: the store's answer carries an ETag of other bytes (a store that kept something else);
- ``503`` / ``500`` / ``403``: S3's own error answer (``SlowDown``, ``InternalError``, ``AccessDenied``),
  the request never reaching the store; ``InvalidAccessKeyId``, ``SignatureDoesNotMatch`` (403) and
  ``NoSuchBucket`` (404) the same way;
- ``redirect``: ``301 PermanentRedirect``, the bucket being in another region (``OTHER_REGION``), as S3
  answers a request signed for the wrong one;
- ``reset``: the connection is reset half-way through the request body, or, for a request without one
  (``GetObject``), half-way through the answer's body;
- ``stall``: the request is read, and never answered until the proxy stops.

``first=N`` faults only the first N matching requests of each key (``first=1``: each object's first write);
``first=None`` faults them all. ``seen`` records every request with the fault it met.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.client
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox import HOST

ERRORS = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "403": (403, "AccessDenied", "Access Denied"),
    "InvalidAccessKeyId": (
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
    "SignatureDoesNotMatch": (
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    ),
    "NoSuchBucket": (404, "NoSuchBucket", "The specified bucket does not exist"),
    "redirect": (
        301,
        "PermanentRedirect",
        "The bucket you are attempting to access must be addressed using the specified endpoint.",
    ),
}
"""Each error fault: the status, S3's error code and its message."""
FAULTS = ("flip", "etag", "reset", "stall", *ERRORS)
OTHER_REGION = "eu-west-3"
"""Where a ``redirect`` says the bucket is."""
HOP_BY_HOP = {"connection", "keep-alive", "expect", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@dataclass(frozen=True)
class S3Fault:
    fault: str
    operation: str = "*"
    """An S3 operation name, or ``*`` for any."""
    key: str = "*"
    """An ``fnmatch`` pattern over the object key."""
    first: int | None = 1
    """How many matching requests of each key meet the fault; None: all of them."""

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"Unknown S3 fault {self.fault!r}: expected one of {', '.join(FAULTS)}.")


@dataclass(frozen=True)
class Seen:
    operation: str
    key: str
    fault: str | None


def operation_of(method: str, path: str, query: str, headers: http.client.HTTPMessage) -> tuple[str, str]:
    """The S3 operation and object key of a path-style request."""
    _, _, key = unquote(path).lstrip("/").partition("/")
    params = parse_qs(query, keep_blank_values=True)
    copy = "x-amz-copy-source" in headers
    if method == "PUT":
        if "partNumber" in params:
            return ("UploadPartCopy" if copy else "UploadPart"), key
        return ("CopyObject" if copy else "PutObject"), key
    if method == "POST":
        if "uploads" in params:
            return "CreateMultipartUpload", key
        if "uploadId" in params:
            return "CompleteMultipartUpload", key
        return ("DeleteObjects" if "delete" in params else "PostObject"), key
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in params else "DeleteObject"), key
    if method == "HEAD":
        return ("HeadObject" if key else "HeadBucket"), key
    return ("GetObject" if key else "ListObjects"), key


@dataclass
class FaultProxy:
    upstream: tuple[str, int]
    rules: list[S3Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    _counts: dict[tuple[int, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when the proxy stops: a stalled request's connection is closed then."""
    endpoint_url: str = ""

    def fault_for(self, operation: str, key: str) -> str | None:
        """The fault this request meets (counting it against its rule), recorded in ``seen``."""
        with self._lock:
            chosen = None
            for number, rule in enumerate(self.rules):
                if rule.operation not in ("*", operation) or not fnmatch.fnmatchcase(key, rule.key):
                    continue
                count = self._counts.get((number, key), 0)
                if rule.first is None or count < rule.first:
                    self._counts[(number, key)] = count + 1
                    chosen = rule.fault
                    break
            self.seen.append(Seen(operation, key, chosen))
            return chosen

    def set_rules(self, *rules: S3Fault) -> None:
        with self._lock:
            self.rules = list(rules)
            self._counts.clear()
            self.seen.clear()


def _flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            """Quiet: tests read ``proxy.seen``."""

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response_only(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _reset(self, answered: bytes = b"") -> None:
            """Half the body read (or, for a request without one, half the answer sent), then an RST
            instead of the rest (SO_LINGER 0)."""
            self.rfile.read(int(self.headers.get("Content-Length") or 0) // 2)
            if answered:
                self.wfile.write(answered)
                self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def _stall(self) -> None:
            """The request read, no answer until the proxy stops."""
            self._read_body()
            proxy.stopping.wait()
            self.close_connection = True

        def _error(self, fault: str, path: str, key: str) -> None:
            self._read_body()
            status, code, message = ERRORS[fault]
            bucket = unquote(path).lstrip("/").partition("/")[0]
            where = f"<Key>{key}</Key><BucketName>{bucket}</BucketName>"
            if fault == "redirect":
                where += (
                    f"<Bucket>{bucket}</Bucket><Endpoint>{bucket}.s3.{OTHER_REGION}.amazonaws.com</Endpoint>"
                )
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>{where}"
                "<RequestId>fault-proxy</RequestId></Error>"
            ).encode()
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
            if fault == "503":
                headers.append(("Retry-After", "1"))
            if fault == "redirect":
                headers.append(("x-amz-bucket-region", OTHER_REGION))
            self._answer(status, headers, body)

        def _forward(self) -> None:
            split = urlsplit(self.path)
            operation, key = operation_of(self.command, split.path, split.query, self.headers)
            fault = proxy.fault_for(operation, key)
            if fault == "reset" and (self.command in ("PUT", "POST") or self.headers.get("Content-Length")):
                return self._reset()
            if fault == "stall":
                return self._stall()
            if fault in ERRORS:
                return self._error(fault, split.path, key)
            body = self._read_body()
            if fault == "flip" and body:
                body = _flipped(body)
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                answer = response.read()
                kept = [(n, v) for n, v in response.getheaders() if n.lower() not in HOP_BY_HOP]
            finally:
                upstream.close()
            if fault == "flip" and not body and answer:
                answer = _flipped(answer)
            if fault == "etag":
                other = hashlib.md5(body + b"elsewhere", usedforsecurity=False).hexdigest()
                kept = [(n, f'"{other}"' if n.lower() == "etag" else v) for n, v in kept]
            if self.command != "HEAD":
                kept = [(n, v) for n, v in kept if n.lower() != "content-length"]
                kept.append(("Content-Length", str(len(answer))))
            if fault == "reset":
                return self._reset(self._head_bytes(response.status, kept) + answer[: len(answer) // 2])
            self._answer(response.status, kept, answer)

        def _head_bytes(self, status: int, headers: list[tuple[str, str]]) -> bytes:
            """An answer's status line and headers, as they go on the wire."""
            lines = [f"HTTP/1.1 {status} {http.client.responses.get(status, '')}"]
            lines += [f"{name}: {value}" for name, value in headers]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


@contextmanager
def fault_proxy(upstream_url: str, *rules: S3Fault) -> Iterator[FaultProxy]:
    """A running proxy to ``upstream_url`` on a free loopback port; its ``endpoint_url`` is where to point
    an S3 client."""
    split = urlsplit(upstream_url)
    proxy = FaultProxy((split.hostname or HOST, split.port or 80), list(rules))
    server = ThreadingHTTPServer((HOST, 0), _handler(proxy))
    server.daemon_threads = True
    proxy.endpoint_url = f"http://{HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="s3-fault-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()

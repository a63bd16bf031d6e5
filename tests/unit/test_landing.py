from __future__ import annotations

import functools
import hashlib

import pytest

from datalake.csvs import landing
from datalake.csvs.contract import CsvFacts
from datalake.csvs.files import MOVIES
from datalake.csvs.landing import (
    PROGRESS_PATTERN,
    ContractCheckedStream,
    ExpectedETag,
    ProgressLog,
    logging_progress,
)
from datalake.csvs.profile import CsvProfile
from datalake.errors import CsvContractError
from datalake.lake.storage import stored_mismatch

BODY = b"id|x\n1|2\n"
MD5 = hashlib.md5(BODY).hexdigest()
HEADER = MOVIES.header
ROW = "|".join(["x"] * len(MOVIES.columns))


def no_head() -> dict:
    raise AssertionError("an MD5 ETag in the response needs no HEAD")


def test_a_response_etag_equal_to_the_expected_one_proves_the_object():
    assert stored_mismatch({"ETag": f'"{MD5}"'}, MD5, len(BODY), no_head) is None
    assert stored_mismatch({"ETag": f'"{MD5}-3"'}, f"{MD5}-3", len(BODY), no_head) is None


def test_a_different_etag_is_a_mismatch_named_with_both_values():
    problem = stored_mismatch({"ETag": '"' + "0" * 32 + '"'}, MD5, len(BODY), no_head)
    assert problem == f"ETag {'0' * 32}, expected {MD5} for the bytes sent"
    assert "ETag" in stored_mismatch({"ETag": f'"{MD5}-2"'}, f"{MD5}-3", len(BODY), no_head)


@pytest.mark.parametrize(
    "response",
    [
        {"ETag": '"' + "0" * 32 + '"', "ServerSideEncryption": "aws:kms"},
        {"ETag": '"' + "0" * 32 + '"', "SSECustomerAlgorithm": "AES256"},
        {"ETag": '"not-an-md5"'},
        {},
    ],
    ids=["kms", "customer-key", "other-etag", "no-etag"],
)
def test_without_an_md5_etag_the_size_from_head_decides(response):
    assert stored_mismatch(response, MD5, len(BODY), lambda: {"ContentLength": len(BODY)}) is None
    assert (
        stored_mismatch(response, MD5, len(BODY), lambda: {"ContentLength": 3})
        == f"size 3 bytes, expected {len(BODY)}"
    )


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


@pytest.mark.parametrize("feed", [1, 3, 10, 100], ids=lambda n: f"reads-of-{n}")
def test_the_expected_etag_follows_s3s_rule_however_the_bytes_are_read(feed):
    data = bytes(range(256)) * 4  # 1024 bytes
    single = ExpectedETag(threshold=2048, part_bytes=100)
    parts = ExpectedETag(threshold=1024, part_bytes=100)
    for start in range(0, len(data), feed):
        single.update(data[start : start + feed])
        parts.update(data[start : start + feed])
    assert single.value() == hashlib.md5(data).hexdigest()
    composite = hashlib.md5(b"".join(md5(data[i : i + 100]) for i in range(0, 1024, 100))).hexdigest()
    assert parts.value() == f"{composite}-11"


def test_a_file_of_exactly_whole_parts_has_no_empty_last_part():
    etag = ExpectedETag(threshold=200, part_bytes=100)
    etag.update(b"a" * 200)
    assert etag.value() == hashlib.md5(md5(b"a" * 100) * 2).hexdigest() + "-2"


def read_all(stream: ContractCheckedStream, size: int) -> bytes:
    """Reads the way boto3 does for a stream it cannot seek: fixed sizes until an empty read."""
    parts = []
    while part := stream.read(size):
        parts.append(part)
    stream.read(size)
    return b"".join(parts)


@pytest.mark.parametrize("size", [7, 64, 1 << 20])
def test_the_stream_passes_the_bytes_unchanged_and_learns_their_facts(tmp_path, size):
    body = (f"{HEADER}\n" + f"{ROW}\n" * 40).encode()
    path = tmp_path / "movies.csv"
    path.write_bytes(body)
    with ContractCheckedStream(path, MOVIES, ExpectedETag(1 << 30, 1 << 20)) as stream:
        assert stream.facts is None
        assert read_all(stream, size) == body
    every_row_again = CsvProfile(null_counts=dict.fromkeys(MOVIES.columns, 0), duplicate_rows=39)
    assert stream.facts == CsvFacts(
        bytes=len(body), rows=40, sha256=hashlib.sha256(body).hexdigest(), profile=every_row_again
    )
    assert stream.etag.value() == hashlib.md5(body).hexdigest()


def test_the_stream_cannot_seek_so_boto3_reads_it_in_order(tmp_path):
    from s3transfer.compat import readable, seekable

    path = tmp_path / "movies.csv"
    path.write_text(f"{HEADER}\n")
    with ContractCheckedStream(path, MOVIES, ExpectedETag(1 << 30, 1 << 20)) as stream:
        assert readable(stream) and not seekable(stream)


def test_a_bad_line_fails_the_read_that_carries_it(tmp_path):
    path = tmp_path / "movies.csv"
    path.write_text(f"{HEADER}\n{ROW}\nshort|row\n{ROW}\n")
    with (
        ContractCheckedStream(path, MOVIES, ExpectedETag(1 << 30, 1 << 20)) as stream,
        pytest.raises(CsvContractError, match="line 3"),
    ):
        read_all(stream, 1 << 20)
    assert stream.facts is None


def test_a_bad_last_line_fails_only_the_read_that_finds_the_end(tmp_path):
    path = tmp_path / "movies.csv"
    path.write_text(f"{HEADER}\n{ROW}\nshort|row")
    with ContractCheckedStream(path, MOVIES, ExpectedETag(1 << 30, 1 << 20)) as stream:
        assert stream.read(1 << 20)
        with pytest.raises(CsvContractError, match="line 3"):
            stream.read(1 << 20)


def test_a_missing_file_fails_before_anything_is_read(tmp_path):
    with pytest.raises(CsvContractError, match="not found"):
        ContractCheckedStream(tmp_path / "movies.csv", MOVIES, ExpectedETag(1 << 30, 1 << 20))


def test_a_directory_fails_before_anything_is_read(tmp_path):
    (tmp_path / "movies.csv").mkdir()
    with pytest.raises(CsvContractError, match="movies.csv: is a directory, expected the Movies"):
        ContractCheckedStream(tmp_path / "movies.csv", MOVIES, ExpectedETag(1 << 30, 1 << 20))


def test_a_file_that_vanishes_once_open_is_read_whole_with_its_modification_time(tmp_path):
    path = tmp_path / "movies.csv"
    path.write_text(f"{HEADER}\n{ROW}\n")
    modified = path.stat().st_mtime
    with ContractCheckedStream(path, MOVIES, ExpectedETag(1 << 30, 1 << 20)) as stream:
        path.unlink()
        assert read_all(stream, 1 << 20) == f"{HEADER}\n{ROW}\n".encode()
    assert (stream.facts.rows, stream.modified) == (1, modified)


REAL_MD5 = hashlib.md5


class CountingMd5:
    """hashlib.md5 that adds up the bytes it hashes, to count work rather than time it."""

    hashed = 0

    def __init__(self, *_, **__):
        self._md5 = REAL_MD5()

    def update(self, data) -> None:
        CountingMd5.hashed += len(data)
        self._md5.update(data)

    def digest(self) -> bytes:
        return self._md5.digest()

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


@pytest.mark.parametrize("size", [150, 250, 450], ids=["one-put", "parts", "parts-past-threshold"])
def test_the_expected_etag_hashes_each_byte_once_when_the_threshold_is_the_part_size(monkeypatch, size):
    monkeypatch.setattr("datalake.csvs.landing.hashlib.md5", CountingMd5)
    CountingMd5.hashed = 0
    etag = ExpectedETag(threshold=200, part_bytes=200)
    data = bytes(range(256)) * 2
    for start in range(0, size, 50):
        etag.update(data[start : min(start + 50, size)])
    assert CountingMd5.hashed == size
    if size < 200:
        assert etag.value() == REAL_MD5(data[:size]).hexdigest()


def test_part_and_single_md5s_are_those_of_the_bytes_read_so_far():
    data = bytes(range(256))
    etag = ExpectedETag(threshold=100, part_bytes=100)
    etag.update(data[:60])
    assert etag.single_md5() == md5(data[:60])
    etag.update(data[60:])
    assert [etag.part_md5(n) for n in (1, 2, 3)] == [md5(data[:100]), md5(data[100:200]), md5(data[200:])]
    wide = ExpectedETag(threshold=300, part_bytes=100)  # a threshold above the part size keeps a whole MD5
    wide.update(data)
    assert wide.single_md5() == md5(data)


def sent_headers(client, call) -> dict:
    """The headers of one call through ``client``, answered here (nothing goes over the network)."""
    from botocore.awsrequest import AWSResponse

    seen: dict = {}

    def answer(params, **_):
        seen.update(params["headers"])
        return AWSResponse(params["url"], 200, {"ETag": '"x"'}, None), {"ETag": '"x"'}

    client.meta.events.register_first("before-call.s3", answer)
    try:
        call()
    finally:
        client.meta.events.unregister("before-call.s3", answer)
    return {name.lower(): value for name, value in seen.items()}


def test_each_put_and_part_carries_its_md5_and_no_crc32():
    import base64

    import boto3
    from botocore.config import Config

    from datalake.csvs.landing import MD5_INSTEAD_OF_CRC32, sending_md5s

    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(**MD5_INSTEAD_OF_CRC32),
    )
    data = b"x" * 250
    etag = ExpectedETag(threshold=100, part_bytes=100)
    etag.update(data)
    with sending_md5s(client, etag):
        part = sent_headers(
            client,
            lambda: client.upload_part(Bucket="b", Key="k", UploadId="u", PartNumber=3, Body=data[200:]),
        )
        single = sent_headers(client, lambda: client.put_object(Bucket="b", Key="k", Body=data[:50]))
    assert part["content-md5"] == base64.b64encode(md5(data[200:])).decode()
    assert single["content-md5"] == base64.b64encode(etag.single_md5()).decode()
    assert not [name for name in part | single if name.startswith("x-amz-checksum")]
    after = sent_headers(client, lambda: client.put_object(Bucket="b", Key="k", Body=b"y"))
    assert "content-md5" not in after, "the handlers leave with the landing"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_told_once_per_step_and_never_before_the_interval():
    clock, told = FakeClock(), []
    progress = ProgressLog(1000, lambda *line: told.append(line), step=0.25, interval=2.0, clock=clock)
    progress.advance(300)  # a step crossed, but too soon
    clock.now += 1.0
    progress.advance(100)
    assert told == []
    clock.now += 1.5
    progress.advance(100)  # 500 bytes, 2.5 s in
    assert told == [(500, 1000, 2.5)]
    clock.now += 5.0
    progress.advance(100)  # time enough, but less than a step since the last line
    assert len(told) == 1
    progress.advance(200)
    assert told[-1] == (800, 1000, 7.5)


def test_progress_waits_for_the_interval_after_each_line():
    clock, told = FakeClock(), []
    progress = ProgressLog(1000, lambda *line: told.append(line), step=0.1, interval=2.0, clock=clock)
    clock.now += 3.0
    progress.advance(200)
    progress.advance(200)  # another step, no time
    clock.now += 2.0
    progress.advance(200)
    assert [done for done, _, _ in told] == [200, 600]


def test_the_stream_tells_its_progress_against_the_files_size(tmp_path, monkeypatch):
    """The landing's stream counts each read against the size of the file it opened, up to all of it."""
    path = tmp_path / "movies.csv"
    path.write_text(HEADER + "\n" + (ROW + "\n") * 2000)
    clock = FakeClock()
    monkeypatch.setattr(landing, "ProgressLog", functools.partial(ProgressLog, clock=clock))
    told = []
    etag = ExpectedETag(1 << 30, 1 << 20)
    with ContractCheckedStream(path, MOVIES, etag, lambda *line: told.append(line)) as stream:
        while stream.read(path.stat().st_size // 4 + 1):
            clock.now += 3.0
    size = path.stat().st_size
    assert told and all(total == size for _, total, _ in told)
    assert told[-1][0] == size


def test_the_progress_line_reads_back_with_its_pattern():
    class Log:
        def info(self, message, *args):
            self.line = message % args

    log = Log()
    logging_progress(log)(50, 200, 3.25)
    assert log.line == "Landing progress: 25% (50 of 200 bytes in 3.2 s)"
    assert PROGRESS_PATTERN.search(log.line).groups() == ("50", "200", "3.2")

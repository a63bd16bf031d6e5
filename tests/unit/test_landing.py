import base64
import hashlib

from datalake.csv_contract import CsvFacts
from datalake.landing import landing_mismatch

BODY = b"id|x\n1|2\n"


def facts() -> CsvFacts:
    return CsvFacts(bytes=len(BODY), rows=1, sha256=hashlib.sha256(BODY).hexdigest())


def test_matching_size_and_md5_etag_pass(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(BODY)
    head = {"ContentLength": len(BODY), "ETag": f'"{hashlib.md5(BODY).hexdigest()}"'}
    assert landing_mismatch(head, path, facts()) is None


def test_a_short_object_is_a_mismatch(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(BODY)
    assert landing_mismatch({"ContentLength": 3}, path, facts()) == f"size 3 bytes, expected {len(BODY)}"


def test_a_different_md5_etag_is_a_mismatch(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(BODY)
    assert "ETag" in landing_mismatch({"ContentLength": len(BODY), "ETag": '"' + "0" * 32 + '"'}, path, facts())


def test_multipart_and_kms_etags_are_not_md5s(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(BODY)
    assert landing_mismatch({"ContentLength": len(BODY), "ETag": '"abc-2"'}, path, facts()) is None
    kms = {"ContentLength": len(BODY), "ETag": '"' + "0" * 32 + '"', "ServerSideEncryption": "aws:kms"}
    assert landing_mismatch(kms, path, facts()) is None


def test_a_full_object_sha256_checksum_is_compared(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(BODY)
    good = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert landing_mismatch({"ContentLength": len(BODY), "ChecksumSHA256": good}, path, facts()) is None
    bad = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    assert "SHA-256" in landing_mismatch({"ContentLength": len(BODY), "ChecksumSHA256": bad}, path, facts())

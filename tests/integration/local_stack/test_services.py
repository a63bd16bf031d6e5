"""Each embedded service is checked to be the one just started before use; its config holds no file secret."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import requests

from local_stack import services
from local_stack.services import ServiceError, local_lambda, rclone_s3, tmdb_sandbox

REPO = Path(__file__).resolve().parents[3]


class NotImplementedHandler(BaseHTTPRequestHandler):
    """What a foreign server may answer to S3: 501 to everything."""

    def do_GET(self) -> None:
        self.send_response(501)
        self.end_headers()

    do_PUT = do_POST = do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def foreign_server() -> Iterator[int]:
    """Another HTTP server already holding a port; yields the port."""
    server = ThreadingHTTPServer((services.HOST, 0), NotImplementedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind((services.HOST, 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_s3_on_a_taken_port_fails_quoting_rclones_error(tmp_path, foreign_server):
    log = tmp_path / "rclone.log"
    log.write_text("2020/01/01 00:00:00 ERROR : an old run's error, not this start's\n")
    with pytest.raises(ServiceError) as failure:
        with rclone_s3(tmp_path / "lake", "bkt", log, port=foreign_server):
            pass
    message = str(failure.value)
    assert "rclone serve s3 exited with code" in message
    assert "address already in use" in message and "an old run's error" not in message


def test_s3_on_a_port_that_never_answers_fails_instead_of_hanging(tmp_path, silent_server):
    with pytest.raises(ServiceError, match="address already in use"):
        with rclone_s3(tmp_path / "lake", "bkt", tmp_path / "rclone.log", port=silent_server):
            pass


def test_the_tmdb_sandbox_on_a_taken_port_fails_quoting_its_error(tmp_path, foreign_server):
    expected = r"TMDB sandbox exited with code \d+ at start-up: .*address already in use"
    with pytest.raises(ServiceError, match=expected):
        with tmdb_sandbox(tmp_path / "tmdb.log", port=foreign_server):
            pass


def test_the_lambda_on_a_taken_port_fails_quoting_its_error(tmp_path, foreign_server):
    zip_path = REPO / "dist" / "any.zip"
    expected = r"local Lambda exited with code \d+ at start-up: .*address already in use"
    with pytest.raises(ServiceError, match=expected):
        with local_lambda("f", zip_path, {}, tmp_path / "lambda.log", tmp_path / "work", port=foreign_server):
            pass


def test_a_service_that_is_not_ours_is_refused(tmp_path, foreign_server, monkeypatch):
    """Ours answers with the credential it was given; a server on the port that does not is not used."""
    started = []

    def start_nothing(command, **popen):
        started.append(command)
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], process_group=0)

    monkeypatch.setattr(services.processes, "start", start_nothing)
    expected = f"what answers on port {foreign_server} is not the server just started"
    with pytest.raises(ServiceError, match=expected):
        with tmdb_sandbox(tmp_path / "tmdb.log", port=foreign_server):
            pass
    assert started


def test_the_lambdas_environment_is_never_written_to_a_file(tmp_path):
    secret = "s3cr3t-" + "x" * 24
    zip_path = tmp_path / "function.zip"
    zip_path.write_bytes(b"")
    work = tmp_path / "work"
    with local_lambda("f", zip_path, {"AWS_SECRET_ACCESS_KEY": secret}, tmp_path / "lambda.log", work) as url:
        answer = requests.post(
            f"{url}/2015-03-31/functions/f/invocations",
            data=b"{}",
            headers={"X-Amz-Invocation-Type": "DryRun"},
            timeout=10,
        )
        assert answer.status_code == 204
        port = url.rsplit(":", 1)[1]  # other tests' endpoints may be running too: find this one by its port
        endpoint = next(
            p
            for p in psutil.Process().children()
            if "sandbox.lambda_app" in p.cmdline() and port in p.cmdline()
        )
        assert endpoint.cmdline()[endpoint.cmdline().index("--config") + 1].startswith("/dev/fd/")
        candidates = [*tmp_path.rglob("*"), *Path("/tmp").glob("local-lambda-*/**/*")]
        holding = [path for path in candidates if path.is_file() and secret.encode() in path.read_bytes()]
        assert holding == []
    assert list(work.iterdir()) == [], "the unpacked code's folder is removed at exit"


def test_a_lake_this_user_cannot_write_is_named():
    """As root, permissions deny nothing: the check runs as nobody (uid 65534) over a folder root owns,
    in a folder nobody can reach (pytest's own are private to root)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)
        lake = Path(folder) / "lake"
        lake.mkdir(mode=0o755)
        assert_not_writable_as_nobody(lake)


def assert_not_writable_as_nobody(lake: Path) -> None:
    check = (
        "from pathlib import Path; from local_stack.services import check_lake; "
        f"check_lake(Path({str(lake)!r}), 'b')"
    )
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = subprocess.run(
        [*nobody, sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert f"The lake folder {lake} is not writable: Permission denied" in result.stderr
    assert list(lake.iterdir()) == []

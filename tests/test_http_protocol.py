"""``gridward serve`` answers a request the HTTP parser refuses, raw UTF-8 in the request line
above all, with the app's JSON error body, Chinese first (T40's raw-UTF-8 query, left open at
stop 38: it was uvicorn's plain text ``Invalid HTTP request received.``). Run for real: the
``serve`` command in a subprocess, raw bytes over a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.test_assign_cli import REPO
from tests.test_version_logging import CMD, _free_port
from tests.test_worker_watch_db import _until


def _raw(port: int, request_line: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request line as given (no encoding by a client library): status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def start_serve(pg_url: str, tmp_path: Path) -> tuple[subprocess.Popen, int, Path]:
    """``gridward serve`` on a free port against the test database, once it listens: the
    process, its port and the file its stderr goes to (the caller stops it)."""
    port, err = _free_port(), tmp_path / "serve.err"
    env = {**os.environ, "DATABASE_URL": pg_url}
    with err.open("w") as e:
        server = subprocess.Popen(
            [*CMD, "serve", "--port", str(port)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=e,
            env=env,
        )

    def up() -> bool:
        assert server.poll() is None, err.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        _until(up, "gridward serve listening")
    except BaseException:
        server.kill()
        server.wait()
        raise
    return server, port, err


@pytest.fixture()
def served(db, pg_url, tmp_path):  # noqa: ANN001, ANN201
    """``gridward serve`` on a free port against the test database: the port."""
    server, port, _err = start_serve(pg_url, tmp_path)
    try:
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_raw_utf8_in_the_request_line_is_a_json_400_saying_to_percent_encode(served) -> None:
    status, headers, body = _raw(served, "GET /health?name=清华 HTTP/1.1".encode())
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    answer = json.loads(body)
    assert answer["status"] == 400
    words = answer["error"]
    assert words.startswith("无法解析此 HTTP 请求")  # Chinese first
    assert "百分号编码" in words and "%E6%B8%85%E5%8D%8E" in words  # the remedy, with an example
    assert "percent-encoded" in words.split("invalid HTTP request")[1]  # then the English
    assert "Invalid HTTP request received." not in words


def test_the_same_request_percent_encoded_reaches_the_app(served) -> None:
    """The check is only the parser's: a well-formed request is the app's as before."""
    status, headers, body = _raw(served, b"GET /health?name=%E6%B8%85%E5%8D%8E HTTP/1.1")
    assert status == 200, body
    assert json.loads(body)["database"] == "ok"


def test_a_malformed_request_line_is_the_same_json_400(served) -> None:
    status, headers, body = _raw(served, b"GET /health HTTP/1.1 extra")
    assert status == 400 and json.loads(body)["status"] == 400, body

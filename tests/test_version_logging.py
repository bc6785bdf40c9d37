"""``gridward --version``, the version in ``/health``, and the log lines of ``serve`` (tester's
L1: ``gridward.*`` INFO lines had no handler and went nowhere)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from importlib.metadata import version

from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import version as built
from tests.test_assign_cli import GRIDWARD, REPO, run
from tests.test_tracks_db import demo as demo  # the fixture: demo streets, one steward
from tests.test_worker_watch_db import STAMP, _until, _walks

CMD = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]


def test_version_option_prints_the_package_version() -> None:
    """The package's version, and from a git checkout its commit (T68 #7)."""
    res = run("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"gridward {built()}" and not res.stderr
    assert built().startswith(version("gridward"))


def test_health_names_the_version(db) -> None:
    with TestClient(create_app(db)) as client:
        body = client.get("/health").json()
    assert body["version"] == built() and body["database"] == "ok"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_writes_timestamped_log_lines(demo, pg_url, tmp_path) -> None:
    """A track left queued is drained at start, and its INFO line reaches stderr, stamped."""
    from geo.track_store import store_track

    store_track(demo, _walks(demo, 1)[0], "q.csv", queue=True)
    port, err = _free_port(), tmp_path / "serve.err"
    env = {**os.environ, "DATABASE_URL": pg_url, "GRIDWARD_LOG_LEVEL": "warning"}
    with err.open("w") as e:
        server = subprocess.Popen(
            [*CMD, "serve", "--port", str(port), "--log-level", "info"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=e,
            env=env,  # --log-level wins over the setting
        )
    try:
        _until(
            lambda: "tracks left queued" in err.read_text() or server.poll() is not None,
            "the start-up log line",
        )
        assert server.poll() is None, err.read_text()

        answer: dict = {}

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    answer.update(json.load(r))
                    return True
            except OSError:  # not listening yet
                return False

        _until(healthy, "an answer on /health")
        assert answer["version"] == built()
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = [x for x in err.read_text().splitlines() if x.strip()]
    assert any(
        re.match(STAMP + r"INFO gridward\.jobs: 有轨迹仍在排队.* tracks left queued", x)
        for x in lines
    )
    assert all(re.match(STAMP, x) for x in lines), lines  # uvicorn's own lines too


def test_a_bad_log_level_is_one_line_naming_it() -> None:
    env = {**os.environ, "GRIDWARD_LOG_LEVEL": "loud"}
    res = subprocess.run(
        [*CMD, "tracks", "worker"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2 and "GRIDWARD_LOG_LEVEL" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = run("serve", "--log-level", "loud")
    assert res.returncode == 2 and "unknown log level 'loud'" in res.stderr, res.stderr

"""Faults: the database goes away mid-run and comes back; writes are all-or-nothing.

Uses its own throwaway embedded cluster (never the session's), stopped and restarted while a
client keeps writing. Every acknowledged write must be in the database afterwards exactly once;
every refused one must be a 503 with Retry-After; the app must recover by itself.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from geo.accounts_models import ApiToken


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def own_cluster():
    from geo.db import migrate
    from geo.embedded import EmbeddedCluster

    folder = Path(tempfile.mkdtemp(prefix="gridward-faults-"))
    folder.chmod(0o755)
    cluster = EmbeddedCluster(folder / "data", port=_free_port(), fast=True)
    state = cluster.start()
    engine = create_engine(
        state.url, pool_pre_ping=True, pool_size=5, connect_args={"connect_timeout": 5}
    )
    migrate(engine)
    try:
        yield cluster, engine
    finally:
        engine.dispose()
        cluster.destroy()


def test_database_restart_mid_run(own_cluster) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.accounts import create_user, issue_token

    cluster, engine = own_cluster
    with engine.begin() as conn:
        uid = create_user(conn, "faults-admin", "faults-password", "admin")
        token = issue_token(conn, uid, "api", "faults")[1]
    auth = {"Authorization": f"Bearer {token}"}
    acknowledged: list[int] = []
    refused: list[tuple[int, str | None, str]] = []
    stop = threading.Event()
    down = threading.Event()
    up_again = threading.Event()

    with TestClient(create_app(engine), raise_server_exceptions=False) as client:

        def writer() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                r = client.post("/auth/api-tokens", json={"name": f"w{i}"}, headers=auth)
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])
                    if up_again.is_set():
                        return
                else:
                    refused.append(
                        (r.status_code, r.headers.get("retry-after"), r.json().get("error"))
                    )
                    time.sleep(0.05)

        t = threading.Thread(target=writer)
        t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        before_stop = len(acknowledged)
        cluster.stop()
        down.set()
        time.sleep(1.5)
        cluster.start()
        up_again.set()
        t.join(timeout=60)
        stop.set()
        t.join(timeout=10)
        # the health route reports the database again, by itself, no restart of the app
        assert client.get("/health").status_code == 200

    assert before_stop >= 5
    assert refused, "no request hit the stopped database: the test did not test anything"
    assert all(code == 503 and ra for code, ra, _ in refused), refused[:5]
    assert all("database" in (msg or "") for _, _, msg in refused)
    assert len(acknowledged) > before_stop, "no write succeeded after the restart"
    tokens = ApiToken.__table__
    with engine.connect() as conn:
        stored = (
            conn.execute(select(tokens.c.id).where(tokens.c.user_id == uid, tokens.c.kind == "api"))
            .scalars()
            .all()
        )
    assert len(acknowledged) == len(set(acknowledged))
    missing = set(acknowledged) - set(stored)
    assert not missing, f"acknowledged writes lost: {sorted(missing)}"


def test_a_failed_write_leaves_nothing_half_written(own_cluster) -> None:
    """create_user writes the user and its audit entry; an error after both rolls back both."""
    from geo.accounts import create_user

    _cluster, engine = own_cluster
    with engine.connect() as conn:
        audit_before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar()
    with pytest.raises(RuntimeError), engine.begin() as conn:
        create_user(conn, "faults-half", "half-password", "viewer")
        raise RuntimeError("the process dies before commit")
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM users WHERE username = 'faults-half'")).scalar()
            == 0
        )
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == audit_before

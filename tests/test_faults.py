"""Faults: the database goes away mid-run and comes back; writes are all-or-nothing.

Uses its own throwaway embedded cluster (never the session's), stopped and restarted while a
client keeps writing. Every acknowledged write must be in the database afterwards exactly once;
every refused one must be a 503 with Retry-After; the app must recover by itself.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


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
        shutil.rmtree(folder, ignore_errors=True)


def _gpx(i: int) -> bytes:
    """A short walk, unique per ``i`` (its own start minute, and 3 m north of the one before:
    the same fixes nudged at another minute would be a copy), like one phone upload."""
    t0 = 8 * 60 + i
    pts = "".join(
        f'<trkpt lat="{39.999 + k * 0.00002 + i * 3e-5:.6f}" lon="{116.320 + k * 0.00003:.7f}">'
        f"<time>2026-05-12T{(t0 + k // 6) // 60:02d}:{(t0 + k // 6) % 60:02d}:{(k % 6) * 10:02d}Z"
        "</time></trkpt>"
        for k in range(24)
    )
    return (
        '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{pts}</trkseg></trk></gpx>"
    ).encode()


def test_database_restart_mid_uploads(own_cluster) -> None:
    """Phones keep uploading while the database stops and restarts; a refused upload is
    retried with the same bytes (as the app does). Afterwards every acknowledged upload is
    stored exactly once, refusals were 503 + Retry-After, and the app recovered by itself."""
    import hashlib

    from fastapi.testclient import TestClient

    from api.app import create_app
    from geo.accounts import create_user, issue_token

    cluster, engine = own_cluster
    with engine.begin() as conn:
        uid = create_user(conn, "faults-admin", "faults-password", "admin")
        token = issue_token(conn, uid, "api", "faults")[1]
    auth = {"Authorization": f"Bearer {token}"}
    acknowledged: list[str] = []
    refused: list[tuple[int, str | None, str]] = []
    stop = threading.Event()
    up_again = threading.Event()

    with TestClient(create_app(engine), raise_server_exceptions=False) as client:

        def uploader() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                data = _gpx(i)
                while not stop.is_set():  # retry the same bytes until acknowledged
                    r = client.post(
                        "/tracks",
                        files={"file": (f"walk{i}.gpx", data, "application/gpx+xml")},
                        headers=auth,
                    )
                    if r.status_code in (200, 201):
                        acknowledged.append(hashlib.sha256(data).hexdigest())
                        break
                    refused.append(
                        (r.status_code, r.headers.get("retry-after"), r.json().get("error"))
                    )
                    time.sleep(0.1)
                if up_again.is_set() and len(refused) and i > 3:
                    return

        t = threading.Thread(target=uploader)
        t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        before_stop = len(acknowledged)
        cluster.stop()
        time.sleep(1.5)
        cluster.start()
        up_again.set()
        t.join(timeout=90)
        stop.set()
        t.join(timeout=30)
        assert client.get("/health").status_code == 200  # recovered, no app restart

    assert before_stop >= 3
    assert refused, "no upload hit the stopped database: the test did not test anything"
    assert len(acknowledged) > before_stop, "no upload succeeded after the restart"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sha256, count(*) FROM tracks GROUP BY sha256")).all()
    stored = dict(rows)
    assert all(n == 1 for n in stored.values()), "an upload was stored twice"
    missing = set(acknowledged) - set(stored)
    assert not missing, f"acknowledged uploads lost: {len(missing)}"
    assert len(set(acknowledged)) == len(acknowledged)
    others = [r for r in refused if not (r[0] == 503 and r[1])]
    assert not others, others[:5]
    assert all("database" in (msg or "") for _, _, msg in refused)


@pytest.mark.parametrize("geometry", [False, True])
def test_a_connection_lost_before_a_read_is_reported_as_lost(engine, geometry) -> None:
    """Reads go through geo.sql_frames, which runs only the query. pandas.read_sql first runs
    a table-name lookup and swallows its error; with the connection gone, the read then
    failed with a PendingRollbackError that the API answered as a bug (500, not 503)."""
    from api.errors import _database_gone
    from geo.sql_frames import read_frame, read_geoframe

    with engine.connect() as victim:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        time.sleep(0.2)
        with pytest.raises(Exception) as err:
            if geometry:
                read_geoframe("SELECT id, geom FROM street_segments", victim)
            else:
                read_frame("SELECT count(*) FROM street_segments", victim)
    assert _database_gone(err.value), repr(err.value)


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

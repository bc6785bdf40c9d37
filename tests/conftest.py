"""Shared test fixtures: the real data in ../shared/data (read in place) and a real PostGIS.

The database is a throwaway embedded cluster per test session, or, when ``DATABASE_URL`` is
set, a throwaway database created on that server. Never SQLite, never mocks.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = REPO / "fixtures"
# the session cluster's app URL -> its superuser's (T42 #4: the app's role may not create
# databases or roles; a test that makes them does so as the cluster's superuser)
_ADMIN_URLS: dict[str, str] = {}


def admin_url(url: str) -> str:
    """The superuser's URL for the session cluster's app ``url`` (DATABASE_URL: itself)."""
    return _ADMIN_URLS.get(url, url)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests that need it skip loudly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is missing")
    return SHARED_DATA


def _throwaway_database(server_url: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    from geo.db import normalize_url

    # made by the superuser, and used as it: a server whose one role does everything
    url = make_url(normalize_url(admin_url(server_url)))
    name = f"gridward_test_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        from geo.db import dispose_engines

        dispose_engines()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object | None]:
    """The embedded cluster of this test session (None when DATABASE_URL is used)."""
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    from geo.embedded import EmbeddedCluster

    folder = Path(tempfile.mkdtemp(prefix="gridward-test-"))
    folder.chmod(0o755)  # the server may run as the 'postgres' user when tests run as root
    cluster = EmbeddedCluster(folder / "data", fast=True)
    cluster.start()
    try:
        yield cluster
    finally:
        from geo.db import dispose_engines

        dispose_engines()
        cluster.destroy()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_cluster: object | None) -> Iterator[str]:
    """URL of a migrated, empty gridward database for this test session."""
    if pg_cluster is None:
        yield from _throwaway_database(os.environ["DATABASE_URL"])
        return
    state = pg_cluster.read_state()  # type: ignore[attr-defined]
    _ADMIN_URLS[state.url] = state.admin_url
    yield state.url


@pytest.fixture(scope="session")
def pg_admin_url(pg_url: str) -> str:
    """The superuser's URL of the session's database (DATABASE_URL: that URL)."""
    return admin_url(pg_url)


@pytest.fixture(scope="session")
def engine(pg_url: str):  # -> Engine
    """The session's engine, migrated to the newest schema."""
    from geo.db import get_engine

    return get_engine(pg_url)


@pytest.fixture()
def folder() -> Iterator[Path]:
    """A data folder for a cluster of the test's own, which the server user (``postgres``
    when tests run as root) can reach; the cluster is destroyed after."""
    import shutil

    from geo.embedded import EmbeddedCluster

    base = Path(tempfile.mkdtemp(prefix="gridward-emb-"))
    base.chmod(0o755)
    try:
        yield base / "data"
    finally:
        EmbeddedCluster(base / "data").destroy()
        shutil.rmtree(base, ignore_errors=True)


def empty_database(engine):  # noqa: ANN001, ANN201
    """Every gridward table emptied, ids restarted: a test file's own start, whatever the
    files run before it on this worker left. The engine."""
    from sqlalchemy import text

    from geo.schema import metadata

    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


def demo_with_duties(engine) -> None:  # noqa: ANN001
    """The demo city without its patrols, in emptied tables: grids, people, and duties from
    a week ago (what the staffing and export tests read)."""
    import datetime as dt

    from geo.demo import load_city, make_duties, make_grids, make_people
    from geo.settings import city_today

    empty_database(engine)
    load_city(engine)
    make_grids(engine)
    make_people(engine, 0)
    make_duties(engine, city_today() - dt.timedelta(days=7))


@pytest.fixture()
def db(engine):  # -> Engine
    """The engine, with every gridward table emptied before the test."""
    return empty_database(engine)


@pytest.fixture()
def auth_headers(db):  # -> Callable[..., dict[str, str]]
    """Make a user of a role and return Authorization headers for a fresh token of theirs."""
    import secrets as _secrets

    from geo.accounts import create_user, issue_token

    def make(role: str = "admin", areas: tuple[str, ...] = (), person_id: int | None = None):
        name = f"{role}_{_secrets.token_hex(3)}"
        with db.begin() as conn:
            uid = create_user(conn, name, _secrets.token_urlsafe(16), role, areas, person_id)
            _tid, token, _exp = issue_token(conn, uid)
        return {"Authorization": f"Bearer {token}"}

    return make

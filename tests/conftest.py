"""Shared test fixtures: the real data in ../shared/data (read in place) and a real PostGIS.

The database is a throwaway embedded cluster per test session, or, when ``DATABASE_URL`` is
set, a throwaway database created on that server. Never SQLite, never mocks.
"""

from __future__ import annotations

import contextlib
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


@pytest.fixture(scope="session", autouse=True)
def _report_processes_end() -> Iterator[None]:
    """Report processes a test started (a report job) are stopped when the session ends,
    not waited for: the API's shutdown, which stops them, does not run in every test."""
    yield
    import sys

    if "api.background" in sys.modules:
        sys.modules["api.background"].terminate_report_processes()


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


# Of gridward's tables (:names), those written since their last TRUNCATE: a heap file that
# is not empty (rows, or rows deleted or rolled back), theirs or a partition's ...
_WRITTEN_TABLES = (
    "SELECT n FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS t(n, i), "
    "LATERAL (SELECT to_regclass(quote_ident(n)) AS r) AS c "
    "WHERE pg_relation_size(c.r) > 0 OR EXISTS ("
    "SELECT FROM pg_partition_tree(c.r) p WHERE pg_relation_size(p.relid) > 0) ORDER BY i"
)
# ... and their id sequences used since their last restart
_USED_SEQUENCES = (
    "SELECT s.oid::regclass::text FROM pg_class s "
    "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
    "AND d.deptype IN ('a', 'i') "
    "WHERE CASE WHEN s.relkind = 'S' THEN pg_sequence_last_value(s.oid) IS NOT NULL END "
    "AND d.refobjid IN (SELECT to_regclass(quote_ident(n)) FROM unnest(CAST(:names AS text[])) n)"
)


def empty_database(engine):  # noqa: ANN001, ANN201
    """Every gridward table emptied, ids restarted: a test file's own start, whatever the
    files run before it on this worker left. The engine.

    Only the tables written since their last TRUNCATE are truncated (with those that
    reference them), and the id sequences used since their last restart are restarted: the
    same fresh tables and ids from 1 as a TRUNCATE of every table (~5 ms a table, before
    some 800 tests), in a few milliseconds when most were not written."""
    from sqlalchemy import text

    from geo.schema import metadata

    names = [t.name for t in metadata.sorted_tables]
    with engine.begin() as conn:
        written = conn.execute(text(_WRITTEN_TABLES), {"names": names}).scalars().all()
        if written:
            tables = ", ".join(f'"{n}"' for n in written)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # a sequence moves on without a row kept (a rolled-back insert)
        for seq in conn.execute(text(_USED_SEQUENCES), {"names": names}).scalars().all():
            conn.execute(text(f"ALTER SEQUENCE {seq} RESTART"))
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


@contextlib.contextmanager
def _cheap_password_hash() -> Iterator[None]:
    """While in it, new password hashes are argon2id of the least cost (8 KiB, one pass),
    not the RFC 9106 profile's 64 MiB and three passes (~0.16 s of CPU each). For the users
    of :func:`auth_headers` only: their password is random and thrown away (they sign in by
    the token), so nothing ever checks it; hundreds of them are made in a run. The hash is
    a valid argon2id one all the same (its parameters are in it), and every test of
    passwords, sign-in and ``users add`` hashes with the real profile."""
    from argon2 import PasswordHasher

    import geo.accounts as accounts

    real = accounts._hasher
    accounts._hasher = lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        yield
    finally:
        accounts._hasher = real


@pytest.fixture()
def auth_headers(db):  # -> Callable[..., dict[str, str]]
    """Make a user of a role and return Authorization headers for a fresh token of theirs."""
    import secrets as _secrets

    from geo.accounts import create_user, issue_token

    def make(role: str = "admin", areas: tuple[str, ...] = (), person_id: int | None = None):
        name = f"{role}_{_secrets.token_hex(3)}"
        with db.begin() as conn, _cheap_password_hash():
            uid = create_user(conn, name, _secrets.token_urlsafe(16), role, areas, person_id)
            _tid, token, _exp = issue_token(conn, uid)
        return {"Authorization": f"Bearer {token}"}

    return make

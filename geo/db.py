"""Database access: which server, one engine per process, migrations at start, transactions.

With ``DATABASE_URL`` set, that server is used; otherwise gridward's embedded cluster (see
:mod:`geo.embedded`) is started on demand. The schema is migrated to the newest Alembic revision
the first time an engine is made, so every entry point (CLI, API, tests) sees the same schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, text

from geo.settings import Settings, get_settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_engines: dict[str, Engine] = {}
_DEFAULT = "<default>"  # the engine of the configured database, once resolved


def normalize_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def embedded_cluster(settings: Settings | None = None):  # -> EmbeddedCluster
    """The embedded cluster for these settings (not started)."""
    from geo.embedded import EmbeddedCluster

    s = settings or get_settings()
    return EmbeddedCluster(s.data_dir, port=s.pg_port)


def database_url(settings: Settings | None = None, start: bool = True) -> str:
    """The URL to use: DATABASE_URL, or the embedded cluster's (started when ``start``)."""
    s = settings or get_settings()
    if s.database_url:
        return normalize_url(s.database_url)
    cluster = embedded_cluster(s)
    state = cluster.start() if start else cluster.read_state()
    if state is None:
        from geo.errors import SetupError

        raise SetupError("the embedded database has not been created yet: run 'gridward db start'")
    return state.url


def alembic_config() -> Config:
    """Alembic's configuration for gridward's migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default the newest; idempotent, safe under
    concurrency). An older revision serves migration tests that load data into it first."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def get_engine(url: str | None = None, run_migrations: bool = True) -> Engine:
    """One engine per URL per process, migrated on first use.

    With no URL, the configured database is resolved (and the embedded cluster started) once
    per process; later calls reuse that engine without asking pg_ctl again.
    """
    if url is None and _DEFAULT in _engines:
        return _engines[_DEFAULT]
    key = normalize_url(url) if url else database_url()
    engine = _engines.get(key)
    if engine is None:
        engine = create_engine(
            key,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            connect_args={"connect_timeout": 10},
        )
        if run_migrations:
            migrate(engine)
        _engines[key] = engine
    if url is None:
        _engines[_DEFAULT] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, shutdown)."""
    for engine in set(_engines.values()):
        engine.dispose()
    _engines.clear()

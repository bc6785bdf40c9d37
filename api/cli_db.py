"""``gridward db``: start, stop and inspect the embedded PostGIS cluster."""

from __future__ import annotations

import typer

db_app = typer.Typer(
    help="The database: embedded PostGIS cluster or DATABASE_URL. 数据库", no_args_is_help=True
)


def _external() -> str | None:
    from geo.settings import get_settings

    return get_settings().database_url


@db_app.command("start")
def start() -> None:
    """Start the embedded cluster (or reuse it) and migrate the schema. 启动数据库"""
    from geo.db import get_engine

    if _external():
        get_engine()
        typer.echo("using DATABASE_URL; schema is up to date (nothing to start)")
        return
    from geo.db import embedded_cluster

    cluster = embedded_cluster()
    state = cluster.start()
    get_engine(state.url)
    typer.echo(f"running on 127.0.0.1:{state.port}, data in {cluster.pgdata}")


@db_app.command("stop")
def stop() -> None:
    """Stop the embedded cluster. 停止数据库"""
    if _external():
        typer.echo("using DATABASE_URL; the embedded cluster is not used (nothing to stop)")
        return
    from geo.db import embedded_cluster

    was = embedded_cluster().stop()
    typer.echo("stopped" if was else "not running")


@db_app.command("status")
def status() -> None:
    """Say whether the database runs, where, and the schema version. 数据库状态"""
    from sqlalchemy import create_engine, text

    from geo.db import database_url, embedded_cluster

    if _external():
        url = database_url(start=False)
        where = "DATABASE_URL"
    else:
        cluster = embedded_cluster()
        if not cluster.is_running():
            typer.echo(f"stopped (data folder {cluster.pgdata})")
            raise typer.Exit(1)
        state = cluster.read_state()
        assert state is not None
        url = state.url
        where = f"embedded, 127.0.0.1:{state.port}, data in {cluster.pgdata}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar()
            rev = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
                else None
            )
    except Exception as exc:  # connection refused etc.
        typer.echo(f"unreachable ({where}): {str(exc).splitlines()[0]}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"running ({where}); PostGIS {version}; schema revision {rev or 'none'}")


@db_app.command("url")
def url() -> None:
    """Print the SQLAlchemy URL of the database (starts the embedded cluster if needed)."""
    from geo.db import database_url

    typer.echo(database_url())


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group."""
    app.add_typer(db_app, name="db")

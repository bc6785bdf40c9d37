"""Alembic environment: migrations run inside gridward (``geo.db.migrate``), never by hand.

A PostgreSQL advisory lock serialises concurrent starts (several API workers or CLI runs), so
each migration runs exactly once. It is held by the migrations' one transaction and ends with it:
an unlock after a failed migration ran on the aborted transaction, and its "current transaction
is aborted" replaced the real error (an outside tester's "permission denied for schema public").
"""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import text

from geo.schema import metadata

_LOCK_KEY = 727_141_001  # arbitrary, constant: "gridward migrations"


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # PostGIS' own tables (spatial_ref_sys, tiger, topology) are not ours.
    if type_ == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("gridward migrations run through geo.db.migrate(engine)")
    applied: list[str] = context.config.attributes.get("applied", [])
    # the whole run is one transaction (geo.db.migrate commits it): the lock ends with it
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        # which migrations ran, so a failure names the one that failed (geo.db.migrate)
        on_version_apply=lambda *, step, **_kw: applied.append(step.up_revision_id),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()

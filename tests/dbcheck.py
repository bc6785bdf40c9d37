"""Fingerprint of every gridward table, to prove a failed operation changed nothing."""

from __future__ import annotations

from sqlalchemy import Engine, text


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over all rows (in id order) of each table."""
    from geo.schema import metadata

    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        # api_tokens changes on every signed request (last_used_at): not data a request writes
        for table in (t.name for t in metadata.sorted_tables if t.name != "api_tokens"):
            row = conn.execute(
                text(
                    f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') "
                    f"FROM {table} t"
                )
            ).one()
            out[table] = (int(row[0]), str(row[1]))
    return out

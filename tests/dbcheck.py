"""Fingerprint of every table, to prove a failed operation changed nothing; and a
community's buildings and households, as several tests count them before a change."""

from __future__ import annotations

from sqlalchemy import Engine, text


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every table.

    ``last_used_at`` of API tokens is left out: signing a request touches it, and it is not
    data that the request writes. So are sign-in entries of the audit log (``signin.*``): a
    refused sign-in is recorded by design, whatever else the request was refused; and so is
    a refused copy of a stored walk (``track.refused``, T52 #11).
    """
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys' "
                # a day partition's rows are counted in its parent (track_points); an empty
                # partition made for an upload that then failed holds no data
                "AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = table_name "
                "AND c.relispartition) ORDER BY 1"
            )
        ).scalars()
        for t in list(tables):
            row = conn.execute(
                text(
                    f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) FROM "
                    f"(SELECT md5((to_jsonb(x) - 'last_used_at')::text) AS h FROM \"{t}\" x"
                    + (
                        " WHERE x.action NOT LIKE 'signin.%' AND x.action <> 'track.refused'"
                        if t == "audit_log"
                        else ""
                    )
                    + ") s"
                )
            ).one()
            out[t] = (int(row[0]), str(row[1]))
    return out


def community_buildings(engine: Engine, code: str) -> tuple[int, int]:
    """How many buildings community ``code`` holds, and their households (0 for none)."""
    with engine.connect() as conn:
        n, hh = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(b.households), 0) FROM buildings b "
                "JOIN areas a ON a.id = b.community_id WHERE a.code = :c"
            ),
            {"c": code},
        ).one()
    return int(n), int(hh)

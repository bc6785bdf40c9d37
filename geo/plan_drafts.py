"""Save a hand-edited grid plan (from the grid editor) as a draft grid_plans row, and read plans.

Why here: the editor sends buildings-per-grid; the plan needs grid polygons, households and
flags. The polygons are the dissolved footprints of each grid's buildings (a hand edit has
no street-block cells to dissolve), made by PostGIS. A stop-gap until the partition engine's
plans API (issue 3) takes over: the request and response follow that API's contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from geo.errors import InputError, NotFoundError


@dataclass(frozen=True)
class DraftGrid:
    """One grid of an edited plan: its code (None = new), its buildings, locked or not."""

    code: str | None
    building_ids: list[int]
    locked: bool = False


def save_draft(
    engine: Engine,
    community: str,
    min_households: int,
    max_households: int,
    grids: list[DraftGrid],
    created_by: str | None = None,
) -> dict[str, Any]:
    """Store the plan as a draft; returns ``{"plan_id", "summary", "grids": [...]}``."""
    if min_households < 0 or max_households < 0:
        raise InputError("min_households and max_households must be ≥ 0")
    if min_households > max_households:
        raise InputError(
            f"min_households ({min_households}) is greater than max_households ({max_households})"
        )
    if not grids:
        raise InputError("a plan needs at least one grid")
    seen: dict[int, int] = {}
    for i, g in enumerate(grids):
        if g.code is not None and not (
            len(g.code) == 15 and g.code.isdigit() and g.code.startswith(community)
        ):
            raise InputError(f"grid code '{g.code[:20]}' is not a 15-digit code of {community}")
        if not g.building_ids:
            raise InputError(f"grid {i + 1} has no buildings")
        for b in g.building_ids:
            if b in seen:
                raise InputError(f"building {b} is in two grids ({seen[b] + 1} and {i + 1})")
            seen[b] = i
    codes = [g.code for g in grids if g.code]
    if len(codes) != len(set(codes)):
        raise InputError("two grids have the same code")
    with engine.begin() as conn:
        area = conn.execute(
            text("SELECT id FROM areas WHERE code = :c AND level IN ('community', 'village')"),
            {"c": community},
        ).first()
        if area is None:
            raise NotFoundError(f"community '{community}' does not exist")
        ids = list(seen)
        found = conn.execute(
            text(
                "SELECT b.id FROM buildings b JOIN areas a ON a.id = :aid "
                "WHERE b.id = ANY(:ids) AND ST_Intersects(ST_PointOnSurface(b.geom), a.geom)"
            ),
            {"aid": area.id, "ids": ids},
        ).scalars()
        missing = sorted(set(ids) - set(found))
        if missing:
            raise InputError(
                f"buildings not in community {community}: {', '.join(map(str, missing[:10]))}"
            )
        # New grids get the next free sequence numbers of the community.
        top = conn.execute(
            text("SELECT max(substr(code, 13, 3)::int) FROM grids WHERE community_id = :aid"),
            {"aid": area.id},
        ).scalar()
        seq = max([int(top or 0), *(int(c[12:]) for c in codes)])
        named: list[str] = []
        for g in grids:
            if g.code is None:
                seq += 1
                if seq > 999:
                    raise InputError(f"community {community} has no free grid codes left")
                named.append(f"{community}{seq:03d}")
            else:
                named.append(g.code)
        payload = [
            {"i": i, "code": named[i], "ids": g.building_ids, "locked": g.locked}
            for i, g in enumerate(grids)
        ]
        rows = conn.execute(
            text(
                "WITH g AS (SELECT (e->>'i')::int AS i, e->>'code' AS code, "
                " (e->>'locked')::boolean AS locked, "
                " ARRAY(SELECT jsonb_array_elements_text(e->'ids')::int) AS ids "
                " FROM jsonb_array_elements(CAST(:p AS jsonb)) e) "
                "SELECT g.i, g.code, g.locked, g.ids, sum(b.households)::int AS households, "
                " count(*)::int AS n, "
                " ST_AsGeoJSON(ST_Multi(ST_Union(b.geom)), 7) AS geom, "
                " ST_NumGeometries(ST_Union(ST_Buffer(b.geom::geography, 20)::geometry)) AS parts "
                "FROM g JOIN buildings b ON b.id = ANY(g.ids) "
                "GROUP BY g.i, g.code, g.locked, g.ids "
                "ORDER BY g.i"
            ),
            {"p": json.dumps(payload)},
        ).all()
        out_grids, features = [], []
        for r in rows:
            flags = []
            if r.households < min_households:
                flags.append("under_min")
            if r.households > max_households:
                flags.append("over_max")
            if r.parts > 1:
                flags.append("disconnected")
            props = {
                "code": r.code,
                "households": r.households,
                "building_count": r.n,
                "flags": flags,
                "locked": r.locked,
                "building_ids": sorted(r.ids),
            }
            features.append(
                {"type": "Feature", "geometry": json.loads(r.geom), "properties": props}
            )
            out_grids.append(
                {k: props[k] for k in ("code", "households", "building_count", "flags")}
            )
        hh = [g["households"] for g in out_grids]
        summary = {
            "source": "editor",
            "grids": len(out_grids),
            "households": sum(hh),
            "within_bounds": sum(min_households <= h <= max_households for h in hh),
            "flagged": sum(1 for g in out_grids if g["flags"]),
            "per_grid": [{"code": g["code"], "households": g["households"]} for g in out_grids],
        }
        params = {
            "min_households": min_households,
            "max_households": max_households,
            "locked": [g["code"] for g, r in zip(out_grids, rows, strict=True) if r.locked],
        }
        plan_id = conn.execute(
            text(
                "INSERT INTO grid_plans (area_id, status, params, summary, features, "
                "base_version, created_by) VALUES (:a, 'draft', CAST(:pa AS jsonb), "
                "CAST(:s AS jsonb), CAST(:f AS jsonb), (SELECT COALESCE(max(version), 0) "
                "FROM grids WHERE community_id = :a AND retired_at IS NULL), :by) RETURNING id"
            ),
            {
                "a": area.id,
                "pa": json.dumps(params),
                "s": json.dumps(summary, ensure_ascii=False),
                "f": json.dumps({"type": "FeatureCollection", "features": features}),
                "by": created_by,
            },
        ).scalar_one()
    return {"plan_id": int(plan_id), "summary": summary, "grids": out_grids}


def get_plan(engine: Engine, plan_id: int) -> dict[str, Any]:
    """``{"plan_id", "status", "summary", "features"}`` of one plan."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, status, summary, features FROM grid_plans WHERE id = :i"),
            {"i": plan_id},
        ).first()
    if row is None:
        raise NotFoundError(f"plan {plan_id} does not exist")
    return {
        "plan_id": row.id,
        "status": row.status,
        "summary": row.summary,
        "features": row.features or {"type": "FeatureCollection", "features": []},
    }

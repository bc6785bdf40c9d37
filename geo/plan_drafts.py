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


def _check(community: str, lo: int, hi: int, grids: list[DraftGrid]) -> None:
    """InputError naming what is wrong with an edited plan (bounds, codes, buildings)."""
    if lo < 0 or hi < 0:
        raise InputError("min_households and max_households must be ≥ 0")
    if lo > hi:
        raise InputError(f"min_households ({lo}) is greater than max_households ({hi})")
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


def save_draft(
    engine: Engine,
    community: str,
    min_households: int,
    max_households: int,
    grids: list[DraftGrid],
    created_by: str | None = None,
) -> dict[str, Any]:
    """Store the plan as a draft; returns ``{"plan_id", "summary", "grids": [...]}``."""
    _check(community, min_households, max_households, grids)
    codes = [g.code for g in grids if g.code]
    seen = {b: i for i, g in enumerate(grids) for b in g.building_ids}
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
        from geo.plans import current_version, fingerprint

        plan_id = conn.execute(
            text(
                "INSERT INTO grid_plans (area_id, status, params, summary, features, "
                "base_version, data_fingerprint, created_by) VALUES (:a, 'draft', "
                "CAST(:pa AS jsonb), CAST(:s AS jsonb), CAST(:f AS jsonb), :v, :fp, :by) "
                "RETURNING id"
            ),
            {
                "a": area.id,
                "v": current_version(conn, area.id),
                "fp": fingerprint(conn, area.id),
                "pa": json.dumps(params),
                "s": json.dumps(summary, ensure_ascii=False),
                "f": json.dumps({"type": "FeatureCollection", "features": features}),
                "by": created_by,
            },
        ).scalar_one()
    return {"plan_id": int(plan_id), "summary": summary, "grids": out_grids}


def rebalance(
    engine: Engine,
    community: str,
    min_households: int,
    max_households: int,
    grids: list[DraftGrid],
    seed: int = 0,
) -> dict[str, Any]:
    """Re-partition everything but the locked grids with the partition engine.

    The area handed to the engine is the community minus the locked grids (their current
    polygon when the code is a current grid, else their buildings' footprints); unlocked
    buildings lying mostly in that rest are partitioned into [min, max] grids, the others
    keep their grid (they are not listed). Returns ``{"grids": [{"code", "building_ids",
    "households", "locked"}], "summary"}``; nothing is stored (save it as a draft to keep)."""
    import geopandas as gpd
    import shapely
    from shapely import wkb

    from geo.partition.engine import partition
    from geo.partition.params import PartitionParams
    from geo.partition.validate import INSIDE_SHARE

    _check(community, min_households, max_households, grids)
    locked = [g for g in grids if g.locked]
    locked_ids = {b for g in locked for b in g.building_ids}
    current = {b: g for g in grids for b in g.building_ids}
    with engine.connect() as conn:
        area = conn.execute(
            text(
                "SELECT id, ST_AsBinary(geom) AS g FROM areas WHERE code = :c "
                "AND level IN ('community', 'village')"
            ),
            {"c": community},
        ).first()
        if area is None:
            raise NotFoundError(f"community '{community}' does not exist")
        rows = conn.execute(
            text(
                "SELECT b.id, b.households, ST_AsBinary(b.geom) AS g FROM buildings b "
                "JOIN areas a ON a.id = :a WHERE ST_Intersects(ST_PointOnSurface(b.geom), a.geom)"
            ),
            {"a": area.id},
        ).all()
        lock_polys = conn.execute(
            text(
                "SELECT code, ST_AsBinary(geom) AS g FROM grids WHERE retired_at IS NULL "
                "AND level = 1 AND community_id = :a AND code = ANY(:codes)"
            ),
            {"a": area.id, "codes": [g.code for g in locked if g.code]},
        ).all()
        streets = conn.execute(
            text(
                "SELECT ST_AsBinary(s.geom) FROM street_segments s JOIN areas a ON a.id = :a "
                "WHERE s.retired_at IS NULL AND ST_Intersects(s.geom, a.geom)"
            ),
            {"a": area.id},
        ).scalars()
        street_geoms = [wkb.loads(bytes(s)) for s in streets]
        lock_geoms = [wkb.loads(bytes(p.g)) for p in lock_polys]
        have_polygon = {p.code for p in lock_polys}
    footprints = {r.id: wkb.loads(bytes(r.g)) for r in rows}
    households = {r.id: int(r.households) for r in rows}
    unknown = sorted(set(current) - set(footprints))
    if unknown:
        raise InputError(
            f"buildings not in community {community}: {', '.join(map(str, unknown[:10]))}"
        )
    for g in locked:  # a locked grid with no current polygon is held by its footprints
        if g.code not in have_polygon:
            lock_geoms.extend(footprints[b].buffer(0.00003) for b in g.building_ids)
    rest = wkb.loads(bytes(area.g))
    if lock_geoms:
        rest = shapely.make_valid(rest.difference(shapely.union_all(lock_geoms)))
    free = [b for b in footprints if b not in locked_ids]
    # A building mostly in the rest is partitioned with its part inside the rest (a grid
    # polygon drawn across a footprint must not pin the building to the locked grid).
    inside = {b: footprints[b].intersection(rest) for b in free}
    movable = [b for b in free if inside[b].area >= 0.5 * footprints[b].area]
    if not movable:
        raise InputError("nothing to rebalance: every building is in a locked grid")
    frame = gpd.GeoDataFrame(
        {"households": [households[b] for b in movable]},
        geometry=[
            footprints[b]
            if inside[b].area >= INSIDE_SHARE * footprints[b].area
            else shapely.make_valid(inside[b])
            for b in movable
        ],
        index=movable,
        crs="EPSG:4326",
    )
    street_frame = (
        gpd.GeoDataFrame(geometry=street_geoms, crs="EPSG:4326") if street_geoms else None
    )
    result = partition(
        rest,
        frame,
        street_frame,
        PartitionParams(
            min_households=min_households,
            max_households=max_households,
            seed=seed,
            code_prefix=community,
        ),
    )
    # Engine codes restart at 001: hand out the unlocked grids' codes first, then free ones.
    taken = {g.code for g in locked if g.code}
    pool = sorted({g.code for g in grids if g.code and not g.locked} - taken)
    top = max([0, *(int(c[12:]) for c in taken | set(pool))])
    new_code: dict[str, str] = {}
    out: dict[str, list[int]] = {}
    for b, engine_code in result.building_grid.items():
        if engine_code not in new_code:
            if pool:
                new_code[engine_code] = pool.pop(0)
            else:
                top += 1
                new_code[engine_code] = f"{community}{top:03d}"
        out.setdefault(new_code[engine_code], []).append(int(b))
    grids_out = [
        {
            "code": g.code,
            "building_ids": sorted(g.building_ids),
            "locked": True,
            "households": sum(households[b] for b in g.building_ids),
        }
        for g in locked
    ] + [
        {
            "code": c,
            "building_ids": sorted(ids),
            "locked": False,
            "households": sum(households[b] for b in ids),
        }
        for c, ids in sorted(out.items())
    ]
    hh = [g["households"] for g in grids_out]
    return {
        "grids": grids_out,
        "summary": {
            "grids": len(grids_out),
            "locked": len(locked),
            "within_bounds": sum(min_households <= h <= max_households for h in hh),
            "moved_buildings": sum(
                1
                for g in grids_out
                for b in g["building_ids"]
                if current.get(b) is None or current[b].code != g["code"]
            ),
        },
    }

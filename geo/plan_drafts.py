"""Save a hand-edited grid plan (from the grid editor) as a draft grid_plans row.

Why here: the editor sends buildings-per-grid; the plan needs grid areas, households and
flags. The areas are drawn from the partition engine's atoms (:mod:`geo.partition.given`:
street blocks, one cell per building where a block is shared), so an edited grid tiles the
community as an engine grid does. The request and response follow the plans API's contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.crs import WGS84, metric_crs_for_bounds, reproject
from geo.errors import ConflictError, InputError


@dataclass(frozen=True)
class DraftGrid:
    """One grid of an edited plan: its code (None = new), its buildings, locked or not."""

    code: str | None
    building_ids: list[int]
    locked: bool = False


def _check(community: str, lo: int, hi: int, grids: list[DraftGrid]) -> None:
    """InputError naming what is wrong with an edited plan (bounds, codes, buildings),
    Chinese first as the editor shows it."""
    from geo.plans import check_bounds

    check_bounds(lo, hi)  # the one rule of every plan's bounds (max 0 passed here: F15)
    if not grids:
        raise InputError("方案至少需要一个网格 a plan needs at least one grid")
    seen: dict[int, int] = {}
    for i, g in enumerate(grids):
        if g.code is not None and not (
            len(g.code) == 15
            and g.code.isdigit()
            and g.code.startswith(community)
            and g.code[12:] != "000"
        ):
            raise InputError(
                f"网格编码 '{g.code[:20]}' 不是社区 {community} 的编码"
                "（须为 15 位数字：社区的 12 位加序号 001–999） "
                f"grid code '{g.code[:20]}' is not a code of {community} "
                "(15 digits: the community's 12 and a sequence 001–999)"
            )
        # the grids by code when the body gave codes, by position otherwise (T49 #10)
        if not g.building_ids:
            if g.code is not None:
                raise InputError(f"网格 {g.code} 没有楼栋 grid {g.code} has no buildings")
            raise InputError(f"第 {i + 1} 个网格没有楼栋 grid {i + 1} has no buildings")
        for b in g.building_ids:
            if b in seen:
                a = grids[seen[b]].code or str(seen[b] + 1)
                z = g.code or str(i + 1)
                if seen[b] == i:
                    raise InputError(
                        f"楼栋 {b} 在网格 {z} 中列了两次 building {b} is listed twice in grid {z}"
                    )
                raise InputError(
                    f"楼栋 {b} 同时在网格 {a} 和 {z} 中 building {b} is in two grids ({a} and {z})"
                )
            seen[b] = i
    codes = [g.code for g in grids if g.code]
    if len(codes) != len(set(codes)):
        dup = next(c for c in codes if codes.count(c) > 1)
        raise InputError(f"两个网格编码相同（{dup}） two grids have the same code {dup}")


def check_base_version(community: str, base_version: int | None, version: int) -> None:
    """Refuse an edit made on grids that are not the community's current ``version``.

    ``base_version`` is the version the editor page was opened on: older is a 409 (another
    planner committed since; saving would undo it), newer is a 422 (no such version yet: a
    wrong number, not a race). None skips the check: API callers building a draft from
    scratch have no page; the editor always sends it."""
    if base_version is None or base_version == version:
        return
    if base_version > version:
        raise InputError(
            f"网格版本 {base_version} 不存在：社区 {community} 现行为第 {version} 版"
            "（请发送打开编辑器时的版本） "
            f"base_version {base_version} does not exist: community {community} is at grid "
            f"version {version} (send the version the editor was opened on)"
        )
    raise ConflictError(
        f"社区 {community} 的网格在打开编辑器后已被他人修改（第 {base_version} 版 → 第 "
        f"{version} 版）：请刷新编辑器后重新编辑 "
        f"the grids of community {community} changed "
        f"since this editor was opened (version {base_version} → {version}): reload "
        "the editor and make the edit again"
    )


def save_draft(
    engine: Engine,
    community: str,
    min_households: int,
    max_households: int,
    grids: list[DraftGrid],
    created_by: str | None = None,
    base_version: int | None = None,
    source: str = "editor",
    origin: dict[str, Any] | None = None,
    outlines_from: int | None = None,
    repeats: bool = False,
    outlines_plan: int | None = None,
    same_outlines: bool = False,
) -> dict[str, Any]:
    """Store the plan as a draft; returns ``{"plan_id", "summary", "grids": [...],
    "outlines"}``.

    ``repeats`` (the editor's save, POST /plans/draft): a plan the same as an open draft of
    the community (each grid's code and buildings, and the bounds), made on the same grid
    version and data, is not stored again: that draft is answered (:func:`_same_draft`,
    ``existing`` true with a ``message``); one whose grids are the current grids (what a
    commit refuses: :func:`geo.plans.same_as_current`) is a ConflictError, nothing stored.
    The answer then always says ``existing``. With ``same_outlines`` too (a file import) an
    open draft is the same only when its outlines are also those drawn now
    (:func:`same_grids`): one drawn otherwise (by an older gridward) is not answered again.

    Every building of the community must be in a grid (a plan that drops one would leave it
    in no grid once committed). ``base_version``: the grid version the editor page was opened
    on; a draft saved from a page opened before someone else's commit is refused (409), as
    that page would silently undo the other planner's edit. ``source``: what made it (the
    summary's ``source``: ``editor``, ``revert``); ``origin``: kept in its params and in its
    audit entry (a revert's version and plan). The draft is audited as ``plan.create`` by
    ``created_by``, as the engine's drafts are (T38 M4: the editor's were not).

    Outlines: a grid holding the same buildings as a grid of version ``outlines_from``
    (default: the current version), or of the stored plan ``outlines_plan`` when given (the
    draft the editor was opened on: its outlines, not the version's), keeps that grid's
    stored outline, the others are drawn from their buildings in the rest
    (:func:`_keep_outlines`); ``outlines`` says which (``version`` or ``plan``, ``kept``,
    ``redrawn`` codes) and ``why`` none could be kept. An ``outlines_plan`` that does not
    exist or is another community's is an InputError, nothing stored."""
    from geo.partition.engine import FLAG_ELONGATED
    from geo.partition.given import atoms, grid_areas
    from geo.partition.metrics import ELONGATED_PP
    from geo.plans import current_version, fingerprint, load_inputs, same_as_current

    _check(community, min_households, max_households, grids)
    codes = [g.code for g in grids if g.code]
    with engine.begin() as conn:
        area, outline, buildings, streets = load_inputs(conn, community)
        version = current_version(conn, area.id)
        check_base_version(community, base_version, version)
        # the plan asked for is checked first: a wrong one refuses the save, nothing stored
        from_plan = (
            None if outlines_plan is None else _plan_grids(conn, area.id, community, outlines_plan)
        )
        held = {int(b): i for i, g in enumerate(grids) for b in g.building_ids}
        known = set(buildings.index.tolist())
        _refuse_strays(community, set(held), known, conn)
        left = sorted(known - set(held))
        if left:
            ids = ", ".join(map(str, left[:10])) + (" …" if len(left) > 10 else "")
            raise InputError(
                f"社区 {community} 有 {len(left)} 栋楼不在任何网格：{ids}"
                "（每栋楼都须归入一个网格） "
                f"building(s) of community {community} in no grid: {ids}"
                " (every building must be in a grid)"
            )
        named = _codes(conn, area.id, community, grids, codes)
        fp = fingerprint(conn, area.id)
        if repeats:
            same = _same_draft(conn, area.id, version, fp, min_households, max_households)
            members = {
                c: sorted(int(b) for b in g.building_ids) for c, g in zip(named, grids, strict=True)
            }
            for row in same:
                if _members_of(row.features) != members or same_outlines:
                    continue
                if same_as_current(conn, area.id, version, row.features):
                    raise _unchanged(version)  # an older copy of the current grids
                return _existing(row, named)
        label = buildings.index.map(held).to_numpy(dtype=np.int64)
        polys = grid_areas(atoms(outline, buildings, streets), label, len(grids))
        shape = _keep_outlines(
            conn,
            area.id,
            from_plan
            or _version_grids(conn, area.id, version if outlines_from is None else outlines_from),
            outline,
            [frozenset(int(b) for b in g.building_ids) for g in grids],
            polys,
            [list(buildings.geometry.loc[list(g.building_ids)]) for g in grids],
            buildings.geometry,
        )
        any_kept = any(shape.kept)
        weights = buildings["households"].to_numpy(float)
        hh = np.bincount(label, weights=weights, minlength=len(grids))
        count = np.bincount(label, minlength=len(grids))
        out_grids, features = [], []
        figures = _figures(shape.polys if any_kept else polys, outline, streets)
        stretched = figures["polsby_popper"] < ELONGATED_PP
        for i, g in enumerate(grids):
            flags = []
            if hh[i] < min_households:
                flags.append("under_min")
            if hh[i] > max_households:
                flags.append(_over_flag(g.building_ids, buildings, max_households))
            if stretched[i]:
                flags.append(FLAG_ELONGATED)
            if shape.kept[i]:
                # a kept outline in pieces: the stored grid's flag (the engine's multipart
                # is no hand edit to refuse)
                if shapely.get_num_geometries(shape.polys[i]) > 1:
                    flags.extend(shape.flags.get(i) or ["disconnected"])
            elif shapely.get_num_geometries(shape.polys[i]) > 1:
                flags.append("disconnected")
            props = {
                "code": named[i],
                "households": int(round(hh[i])),
                "building_count": int(count[i]),
                "flags": flags,
                "locked": g.locked,
                "building_ids": sorted(int(b) for b in g.building_ids),
                **_figure_props(figures, i),
            }
            # kept outlines exactly as stored; the others were rounded before being fitted
            # to them (rounding again would open slivers along the kept edges)
            poly = shape.polys[i] if any_kept else shapely.set_precision(polys[i], 1e-7)
            geom = shapely.geometry.mapping(poly)
            features.append({"type": "Feature", "geometry": geom, "properties": props})
            out_grids.append(
                {k: props[k] for k in ("code", "households", "building_count", "flags")}
            )
        sizes = [g["households"] for g in out_grids]
        summary = {
            "source": source,
            "grids": len(out_grids),
            "households": sum(sizes),
            "within_bounds": sum(min_households <= h <= max_households for h in sizes),
            "flagged": sum(1 for g in out_grids if g["flags"]),
            "per_grid": [{"code": g["code"], "households": g["households"]} for g in out_grids],
        }
        collection = {"type": "FeatureCollection", "features": features}
        if repeats and same_as_current(conn, area.id, version, collection):
            raise _unchanged(version)
        if repeats and same_outlines:
            row = next((r for r in same if same_grids(r.features, collection)), None)
            if row is not None:
                return _existing(row, named)
        params = {
            "min_households": min_households,
            "max_households": max_households,
            "locked": [g["code"] for g, d in zip(out_grids, grids, strict=True) if d.locked],
            **({"source": source} if source != "editor" else {}),
            **(origin or {}),
        }
        plan_id = conn.execute(
            text(
                "INSERT INTO grid_plans (area_id, status, params, summary, features, "
                "base_version, data_fingerprint, created_by) VALUES (:a, 'draft', "
                "CAST(:pa AS jsonb), CAST(:s AS jsonb), CAST(:f AS jsonb), :v, :fp, :by) "
                "RETURNING id"
            ),
            {
                "a": area.id,
                "v": version,
                "fp": fp,
                "pa": json.dumps(params),
                "s": json.dumps(summary, ensure_ascii=False),
                "f": json.dumps(collection),
                "by": audit.actor_name(created_by),
            },
        ).scalar_one()
        detail = {"community": community, "source": source, "grids": len(out_grids)}
        audit.record(
            conn, created_by, "plan.create", "grid_plan", plan_id, {**detail, **(origin or {})}
        )
    return {
        "plan_id": int(plan_id),
        "summary": summary,
        "grids": out_grids,
        "outlines": {
            "version": shape.version,
            "plan": shape.plan,
            "kept": [g["code"] for g, k in zip(out_grids, shape.kept, strict=True) if k],
            "redrawn": [g["code"] for g, k in zip(out_grids, shape.kept, strict=True) if not k],
            "why": shape.why,
        },
        **({"existing": False} if repeats else {}),
    }


# The open drafts of a community made on grid version :v from the data of fingerprint :fp
# with bounds :lo–:hi, newest first: those a save of the same grids would repeat.
_SAME_DRAFT_SQL = """
SELECT id, summary, features FROM grid_plans
WHERE area_id = :a AND status = 'draft' AND base_version = :v AND data_fingerprint = :fp
  AND (params->>'min_households')::int = :lo AND (params->>'max_households')::int = :hi
ORDER BY id DESC
"""


def _same_draft(conn: Connection, area_id: int, version: int, fp: str, lo: int, hi: int) -> Any:
    """The open drafts a save of the community's grids on ``version`` might repeat
    (:data:`_SAME_DRAFT_SQL`); their grids are compared by the caller."""
    return conn.execute(
        text(_SAME_DRAFT_SQL), {"a": area_id, "v": version, "fp": fp, "lo": lo, "hi": hi}
    ).all()


def _members_of(features: Any) -> dict[str, list[int]]:
    """A stored plan's grids: code → its building ids, sorted."""
    return {
        str(f["properties"].get("code")): sorted(
            int(b) for b in f["properties"].get("building_ids") or []
        )
        for f in (features or {}).get("features") or []
    }


def same_grids(stored: Any, made: dict[str, Any]) -> bool:
    """Whether a stored plan's grids (its GeoJSON ``features``) are the grids ``made``: each
    code the same buildings and the same outline but for :data:`_SPECK_DEG2` (about 0.1 m²:
    the rounding of a JSON round trip). WHY (T70 #13): an identical repeat is answered with
    the open draft, and a draft whose outlines an older gridward drew otherwise (every one
    redrawn, a grid in 4 pieces) is not the plan a planner would get today."""
    if _members_of(stored) != _members_of(made):
        return False
    drawn = {
        str(f["properties"].get("code")): shapely.geometry.shape(f["geometry"])
        for f in made.get("features") or []
    }
    for f in (stored or {}).get("features") or []:
        mine = drawn.get(str(f["properties"].get("code")))
        if mine is None or not f.get("geometry"):
            return False
        off = shapely.symmetric_difference(shapely.geometry.shape(f["geometry"]), mine)
        if shapely.area(off) > _SPECK_DEG2:
            return False
    return True


def _existing(row: Any, named: list[str]) -> dict[str, Any]:
    """The answer of a save that repeats the open draft ``row``: that draft, its grids in the
    order they were sent (the editor pairs each answered grid with the grid it sent), and
    ``existing`` with a message. WHY (T63 #3): saving an unchanged page stored draft #6, a
    copy of #5. ``outlines`` is None: what they are was said when the draft was saved."""
    pid = int(row.id)
    props = {
        str(f["properties"].get("code")): f["properties"]
        for f in (row.features or {}).get("features") or []
    }
    keys = ("code", "households", "building_count", "flags")
    return {
        "plan_id": pid,
        "summary": row.summary,
        "grids": [{k: props[code].get(k) for k in keys} for code in named],
        "outlines": None,
        "existing": True,
        "message": f"与草案 #{pid} 相同，未另存 identical to draft #{pid}: not saved again",
    }


def _unchanged(version: int) -> ConflictError:
    """The refusal of an editor save whose grids are the current grids, in the commit's
    words (:func:`geo.plans._refuse_unchanged`). WHY (T63 #3): such a draft was stored and
    refused only at commit, and saving the unchanged page again stored another."""
    return ConflictError(
        f"草案与现行网格相同，无需提交：每个网格的编码、楼栋和轮廓都与第 {version} 版相同，"
        f"未保存 the draft is the same as the current grids (version {version}: every grid "
        "has the same code, buildings and outline): nothing to commit, not saved"
    )


def _figures(polys: Any, outline: Any, streets: Any) -> dict[str, np.ndarray]:
    """Per grid, measured in metres as the engine measures its grids: ``area_m2``,
    ``polsby_popper`` (compactness) and ``street_share`` (inner boundary on streets, NaN for
    a grid with none: :func:`geo.partition.metrics.street_shares` on the territory
    ``outline``), unrounded. WHY (T70 #21): a file-imported or edited draft stored none of
    them, so GET /grids gave ``polsby_popper`` null on every grid committed from one (version
    1, from the engine, had 0.24–0.65); and in degrees a strip's compactness would depend on
    its heading. The ``elongated`` flag is read off the same compactness (T64 F6: an engine
    draft re-saved from the editor lost it)."""
    from geo.partition.metrics import polsby_popper, street_shares

    geoms = np.asarray(list(polys), dtype=object)
    if not len(geoms):
        empty = np.zeros(0)
        return {"area_m2": empty, "polsby_popper": empty, "street_share": empty}
    metric = metric_crs_for_bounds(shapely.total_bounds(geoms))
    grids = reproject(geoms, WGS84, metric)
    lines = None
    if streets is not None and len(streets):
        lines = reproject(np.asarray(streets.geometry.to_numpy(), dtype=object), WGS84, metric)
    _, _, share = street_shares(grids, reproject(outline, WGS84, metric), lines)
    return {
        "area_m2": shapely.area(grids),
        "polsby_popper": polsby_popper(grids),
        "street_share": share,
    }


def _figure_props(figures: dict[str, np.ndarray], i: int) -> dict[str, float]:
    """Grid ``i``'s figures as the engine stores them (area to 0.1 m², the others to 4
    places); a figure that is not a number (no inner boundary) is left out, as GET /grids
    then gives null."""
    digits = {"area_m2": 1, "polsby_popper": 4, "street_share": 4}
    return {k: round(float(v[i]), digits[k]) for k, v in figures.items() if np.isfinite(v[i])}


def _over_flag(ids: list[int], buildings: Any, max_households: int) -> str:
    """``over_max``, or the engine's ``over_max:single_building`` when one building of the
    grid alone holds more than ``max_households``: no edit can bring the grid within bounds
    (a building is never split), and the flag must say so as the engine's does."""
    from geo.partition.engine import FLAG_SINGLE

    most = buildings.loc[list(ids), "households"].max() if ids else 0
    return FLAG_SINGLE if most > max_households else "over_max"


def _refuse_strays(community: str, held: set[int], known: set[int], conn: Any = None) -> None:
    """InputError naming the buildings a plan holds that are not the community's: those of
    no community's (no such building) apart from another's (T49 #10: building 99999, which
    does not exist, was reported as not of the community)."""
    stray = sorted(held - known)
    if not stray:
        return
    exist: set[int] = set(stray)
    if conn is not None:
        exist = set(
            conn.execute(
                text("SELECT id FROM buildings WHERE id = ANY(:ids)"), {"ids": stray}
            ).scalars()
        )
    missing = [b for b in stray if b not in exist]
    if missing:
        ids = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise InputError(f"楼栋 {ids} 不存在 building(s) {ids} do not exist")
    ids = ", ".join(map(str, stray[:10]))
    raise InputError(
        f"方案中有 {len(stray)} 栋楼不属于社区 {community}（楼栋编号 {ids}） "
        f"buildings not in community {community}: building id(s) {ids}"
    )


def _codes(
    conn: Connection, area_id: int, community: str, grids: list[DraftGrid], codes: list[str]
) -> list[str]:
    """Each grid's code: its own, or for a new grid the community's next free sequence
    number (never one used by any version, so a code always means one place)."""
    top = conn.execute(
        text("SELECT max(substr(code, 13, 3)::int) FROM grids WHERE community_id = :aid"),
        {"aid": area_id},
    ).scalar()
    seq = max([int(top or 0), *(int(c[12:]) for c in codes)])
    named: list[str] = []
    for g in grids:
        if g.code is None:
            seq += 1
            if seq > 999:
                raise InputError(
                    f"社区 {community} 的网格编码（序号 001–999）已用完 no free grid codes left"
                )
            named.append(f"{community}{seq:03d}")
        else:
            named.append(g.code)
    return named


def rebalance(
    engine: Engine,
    community: str,
    min_households: int,
    max_households: int,
    grids: list[DraftGrid],
    seed: int = 0,
    base_version: int | None = None,
) -> dict[str, Any]:
    """Re-partition everything but the locked grids with the partition engine.

    The area handed to the engine is the community minus the locked grids, drawn as a
    saved draft draws them (:mod:`geo.partition.given`); every unlocked building is
    partitioned into [min, max] grids. Returns ``{"grids": [{"code", "building_ids",
    "households", "locked", "source"}], "summary"}``; nothing is stored (save it as a draft
    to keep). ``source``: the index in ``grids`` of the grid a result grid continues (each
    engine grid is matched one-to-one to the unlocked grid it shares the most households
    with, then buildings), whose code it keeps (None for a grid that continues none: named
    when saved, as a new grid is). WHY: the engine numbers its grids afresh, so an unchanged
    community came back with its codes swapped and every building "moved" (tester, 6).
    ``base_version``: as for :func:`save_draft`; a page opened before another planner's
    commit is told it is stale instead of rebalancing grids that are no longer current."""
    from geo.partition.engine import partition
    from geo.partition.given import atoms, grid_areas
    from geo.partition.params import PartitionParams
    from geo.plans import current_version, load_inputs

    _check(community, min_households, max_households, grids)
    locked = [i for i, g in enumerate(grids) if g.locked]
    locked_ids = {b for i in locked for b in grids[i].building_ids}
    current = {b: i for i, g in enumerate(grids) for b in g.building_ids}
    with engine.connect() as conn:
        area, outline, bframe, street_frame = load_inputs(conn, community)
        check_base_version(community, base_version, current_version(conn, area.id))
    households = dict(
        zip(bframe.index.tolist(), bframe["households"].astype(int).tolist(), strict=True)
    )
    _refuse_strays(community, set(current), set(households))
    movable = [b for b in households if b not in locked_ids]
    if not movable:
        raise InputError(
            "没有可重新平衡的楼栋：每栋楼都在锁定的网格中 "
            "nothing to rebalance: every building is in a locked grid"
        )
    # The rest is drawn as a saved draft draws it (the engine's atoms, each building's
    # atom with its grid as the editor holds it now): it holds every unlocked building
    # whole, and shares its edge with the locked grids exactly (a difference with their
    # stored polygons left hairline slivers, and dropped a building moved out of a locked
    # grid since the page was opened, its footprint still under that grid's old polygon).
    # Nothing locked: the whole outline, as a plan of the community is made (the same
    # buildings on the same area give the same grids, not a near copy).
    lines = street_frame if len(street_frame) else None
    rest = outline
    if locked_ids:
        side = np.array([int(b not in locked_ids) for b in bframe.index], dtype=np.int64)
        rest = grid_areas(atoms(outline, bframe, lines), side, 2)[1]
    frame = bframe.loc[movable, ["households", bframe.geometry.name]]
    result = partition(
        rest,
        frame,
        lines,
        PartitionParams(
            min_households=min_households,
            max_households=max_households,
            seed=seed,
            code_prefix=community,
        ),
    )
    members: dict[str, list[int]] = {}
    for b, engine_code in result.building_grid.items():
        members.setdefault(str(engine_code), []).append(int(b))
    unlocked = [i for i, g in enumerate(grids) if not g.locked]
    source = _match(members, unlocked, current, households)
    grids_out = [
        {
            "code": grids[i].code,
            "building_ids": sorted(grids[i].building_ids),
            "locked": True,
            "households": sum(households[b] for b in grids[i].building_ids),
            "source": i,
        }
        for i in locked
    ]
    for c in sorted(members, key=lambda c: (source.get(c, len(grids)), c)):
        ids = sorted(members[c])
        i = source.get(c)
        grids_out.append(
            {
                "code": None if i is None else grids[i].code,
                "building_ids": ids,
                "locked": False,
                "households": sum(households[b] for b in ids),
                "source": i,
            }
        )
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
                if g["source"] is None or current.get(b) != g["source"]
            ),
        },
    }


def _match(
    members: dict[str, list[int]],
    unlocked: list[int],
    current: dict[int, int],
    households: dict[int, int],
) -> dict[str, int]:
    """Each engine grid (code → buildings) → the unlocked grid (index) it continues: a
    one-to-one assignment maximising the households the two share, then the buildings (a
    block of empty buildings still counts). Engine grids sharing nothing with any are left
    out (new grids)."""
    from scipy.optimize import linear_sum_assignment

    codes = sorted(members)
    if not codes or not unlocked:
        return {}
    col = {g: j for j, g in enumerate(unlocked)}
    weight = len(households) + 1  # one household outweighs every building together
    score = np.zeros((len(codes), len(unlocked)), dtype=np.int64)
    for r, c in enumerate(codes):
        for b in members[c]:
            j = col.get(current.get(b, -1))
            if j is not None:
                score[r, j] += households[b] * weight + 1
    rows, cols = linear_sum_assignment(score, maximize=True)
    return {codes[r]: unlocked[j] for r, j in zip(rows, cols, strict=True) if score[r, j] > 0}


# A version's level-1 grids as stored, with the data fingerprint of the plan they came from.
_STORED_SQL = """
SELECT g.code, g.flags, ST_AsBinary(g.geom) AS wkb, p.data_fingerprint AS fp
FROM grids g LEFT JOIN grid_plans p ON p.id = g.plan_id
WHERE g.community_id = :a AND g.version = :v AND g.level = 1
ORDER BY g.code
"""

# A stored plan's community and what it was drawn on (its grids are in ``features``).
_PLAN_SQL = """
SELECT p.area_id, a.code AS community, p.data_fingerprint AS fp, p.features
FROM grid_plans p JOIN areas a ON a.id = p.area_id WHERE p.id = :p
"""

# Where stored grids (:ws, their outlines as WKB) and today's territory differ (their
# symmetric difference): ``off`` m² in all, ``moved`` m² of it wider than rounding, i.e. what
# is left once slivers thinner than 2 × :e degrees (about 10 cm) are taken off. WHY (T63 #2):
# every editor commit leaves slivers of about 0.3 cm between and along its grids (the
# outlines drawn afresh are rounded to 1e-7°, about 1 cm, and fitted to the kept ones), some
# 1.3 m² after one commit inside a 48 ha community, with no community line moved: against
# 1 m² of the whole difference, a revert to such a version said the community's outline had
# changed and redrew every outline (and an edit saved on it redrew the unchanged grids'
# too). A community line moved by an areas import leaves a band as wide as the move; one
# moved by less than the slivers (a nearer outline is kept as stored by the import anyway)
# leaves the kept outlines as far off the line as the engine's own drift. The outlines are
# given, not read here: a committed version's and a stored draft plan's are checked alike.
_TERRITORY_SQL = """
SELECT ST_Area(d::geography) AS off,
       coalesce(ST_Area(ST_Buffer(ST_CollectionExtract(d, 3), -:e)::geography), 0) AS moved
FROM (SELECT ST_SymDifference(ST_Union(ST_GeomFromWKB(w, 4326)), ST_GeomFromWKB(:o, 4326)) AS d
      FROM unnest(CAST(:ws AS bytea[])) AS w) s
"""
# Half the width (degrees, about 5 cm) of the slivers of rounding and drift, and the m² wider
# than them the stored grids may differ from today's territory by and still be kept. WHY 5 cm,
# not the 1 cm of the editor's rounding: the engine draws in metres, so its grids' outer
# edges leave a long straight WGS-84 community edge by that edge's sag in the metric CRS (up
# to 3.5 cm along the Tsinghua extract's 2.4 km edges: about 2 m² wider than 2 cm), and an
# engine draft, or a version committed from one, was taken for a moved community line.
_SLIVER_DEG = 5e-7
_OUTLINE_SLACK_M2 = 1.0

_PIECE_FLAGS = ("disconnected", "multipart")
# Ground (degrees², about 0.1 m²) too small to move a kept outline for.
_SPECK_DEG2 = 1e-11
# The share of a building's footprint a stored outline may leave out (its own building) or
# take in (another grid's) and still hold its buildings (:func:`_still_held`): the outlines'
# 1e-7° rounding along a footprint on the community line, not a footprint that moved.
_HELD_SLACK = 1e-3


@dataclass
class _Outlines:
    """The outline each grid of a draft gets: ``polys`` (one per grid), ``kept`` (per grid:
    its stored outline kept, as its building set is that of a grid of the source), ``flags``
    (per kept grid in pieces: the stored grid's piece flags), where they came from
    (committed ``version`` or stored ``plan``) and ``why`` (Chinese first: why no stored
    outline could be kept, None when none was asked for)."""

    polys: np.ndarray
    kept: list[bool]
    flags: dict[int, list[str]]
    version: int | None
    why: str | None = None
    plan: int | None = None


@dataclass(frozen=True)
class _Stored:
    """The grids a draft may keep outlines from, as stored: those of committed ``version``
    or of the stored plan ``plan`` (one of the two is set). Per grid: its buildings, outline
    and piece flags; ``fps``: the data fingerprint(s) they were drawn on. ``since``: how the
    reasons name the source (Chinese, English). WHY one shape for both: an engine draft
    re-saved from the editor redrew every outline (T64 follow-up: a grid's Polsby–Popper
    0.39 → 0.05), as only a committed version's outlines could be kept."""

    members: list[frozenset[int]]
    geoms: list[Any]
    flags: list[list[str]]
    fps: set[str | None]
    since: tuple[str, str]
    version: int | None = None
    plan: int | None = None
    codes: tuple[str, ...] = ()


def _version_grids(conn: Connection, area_id: int, version: int) -> _Stored:
    """The level-1 grids of committed ``version`` (none for version 0: nothing committed)."""
    from geo.plan_history import _VERSION_MEMBERS_SQL

    since = (f"第 {version} 版", f"version {version}")
    if not version:
        return _Stored([], [], [], set(), since, version=version)
    rows = conn.execute(text(_STORED_SQL), {"a": area_id, "v": version}).all()
    sets: dict[str, set[int]] = {}
    if rows:
        for r in conn.execute(text(_VERSION_MEMBERS_SQL), {"a": area_id, "v": version}):
            ids = sets.setdefault(r.code, set())
            if r.bid is not None:
                ids.add(int(r.bid))
    return _Stored(
        [frozenset(sets.get(r.code, ())) for r in rows],
        [shapely.from_wkb(bytes(r.wkb)) for r in rows],
        [[f for f in (r.flags or []) if f in _PIECE_FLAGS] for r in rows],
        {r.fp for r in rows},
        since,
        version=version,
        codes=tuple(str(r.code) for r in rows),
    )


def _plan_grids(conn: Connection, area_id: int, community: str, plan_id: int) -> _Stored:
    """The grids of stored plan ``plan_id`` (a draft, engine or editor made, the editor was
    opened on); InputError naming the problem when there is no such plan or it is another
    community's (its outlines would be another place's)."""
    row = conn.execute(text(_PLAN_SQL), {"p": plan_id}).first()
    if row is None:
        raise InputError(
            f"outlines_plan：方案 {plan_id} 不存在，轮廓无从保留 "
            f"outlines_plan: plan {plan_id} does not exist, no outline can be kept from it"
        )
    if row.area_id != area_id:
        raise InputError(
            f"outlines_plan：方案 {plan_id} 属于社区 {row.community}，不是社区 {community} "
            f"的方案，不能沿用其轮廓 outlines_plan: plan {plan_id} is a plan of community "
            f"{row.community}, not of community {community}: its outlines cannot be kept"
        )
    feats = [f for f in (row.features or {}).get("features") or [] if f.get("geometry")]
    props = [f.get("properties") or {} for f in feats]
    return _Stored(
        [frozenset(int(b) for b in p.get("building_ids") or []) for p in props],
        [shapely.geometry.shape(f["geometry"]) for f in feats],
        [[f for f in (p.get("flags") or []) if f in _PIECE_FLAGS] for p in props],
        {row.fp},
        (f"方案 #{plan_id} 制作", f"plan #{plan_id} was made"),
        plan=plan_id,
        codes=tuple(str(p.get("code")) for p in props),
    )


def _sliver(piece: Any) -> bool:
    """Whether ``piece`` is too small or thin to move a kept outline for: a speck, or a
    sliver thinner than the territory check lets pass (:data:`_SLIVER_DEG`). WHY: an engine
    draft's grids leave slivers of drift (up to 3.5 cm wide, 0.06 m²) along a long straight
    community edge; a draft keeping its outlines gave them to the kept grids beside them, so
    two grids no edit had touched moved."""
    return bool(
        shapely.area(piece) < _SPECK_DEG2 or shapely.is_empty(shapely.buffer(piece, -_SLIVER_DEG))
    )


def _polygonal(geom: Any) -> Any:
    """The polygons of ``geom`` (a difference may leave lines and points): one geometry."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _footprints_moved(codes: list[str], since_zh: str, since_en: str) -> str:
    """Why grids whose buildings are unchanged got a new outline (:func:`_still_held`)."""
    shown = sorted(codes)[:10]
    more_zh = f" 等 {len(codes)} 个" if len(codes) > len(shown) else ""
    more = f" ({len(codes)} in all)" if len(codes) > len(shown) else ""
    return (
        f"社区的楼栋自{since_zh}以来有变动：网格 {'、'.join(shown)}{more_zh} 的楼栋未变，但楼栋"
        "轮廓已不全在其原网格轮廓内（或有其他网格的楼栋伸入），这些网格的轮廓已按楼栋重新绘制；"
        "其余楼栋未变的网格保留原轮廓 the community's buildings changed since "
        f"{since_en}: grid(s) {', '.join(shown)}{more} hold the same buildings, but their "
        "footprints no longer lie within the stored outline alone (or another grid's reach "
        "into it), so those outlines are redrawn from their buildings; the other grids with "
        "the same buildings keep theirs"
    )


def _still_held(source: _Stored, footprints: Any) -> list[bool]:
    """Per grid of ``source``: whether its stored outline still holds its buildings as they
    lie today, and no other's: each of its buildings within it, and every other building
    outside it, but for :data:`_HELD_SLACK` of the building's footprint (the outlines'
    rounding along a footprint on the community line). Buildings gone since are passed over.

    WHY (T70 #4): keeping outlines was all or nothing on the community's data fingerprint,
    which hashes the household counts too: one building corrected 6 → 36 households redrew
    every outline of the next edit, and a grid no edit had touched came out in 4 pieces
    (the engine joins a grid's buildings through open ground; a drawing from the buildings
    alone does not join parts over 30 m apart). A household count moves no outline; a
    footprint that moved (an OSM re-import) matters only to the grids it lies in."""
    ids = footprints.index.to_numpy()
    geoms = np.asarray(footprints.to_numpy(), dtype=object)
    outlines = np.asarray(source.geoms, dtype=object)
    owner = {b: k for k, m in enumerate(source.members) for b in m}
    slack = np.maximum(_HELD_SLACK * shapely.area(geoms), _SPECK_DEG2)
    bi, ki = shapely.STRtree(outlines).query(geoms, predicate="intersects")
    inside = shapely.area(shapely.intersection(geoms[bi], outlines[ki]))
    mine = np.array([owner.get(int(ids[b])) == k for b, k in zip(bi, ki, strict=True)], bool)
    held = np.ones(len(outlines), dtype=bool)
    held[ki[~mine & (inside > slack[bi])]] = False  # another's building in it
    within = np.zeros(len(geoms))
    np.add.at(within, bi[mine], inside[mine])
    lost = shapely.area(geoms) - within > slack  # a building (partly) out of its own grid
    for b in np.flatnonzero(lost).tolist():
        k = owner.get(int(ids[b]))
        if k is not None:
            held[k] = False
    return held.tolist()


def _keep_outlines(
    conn: Connection,
    area_id: int,
    source: _Stored,
    outline: Any,
    members: list[frozenset[int]],
    polys: np.ndarray,
    buildings_of: list[list[Any]] | None = None,
    footprints: Any = None,
) -> _Outlines:
    """Each draft grid holding the same buildings as a grid of ``source`` (a committed
    version, or a stored draft plan) keeps that grid's stored outline; the others share the
    rest of the territory as drawn from the buildings.

    WHY (T49 #3): every draft was drawn afresh from its buildings, so a revert brought back
    each grid's buildings but not its outline (13,919 m² moved between two grids), and an
    unchanged export sent back as a draft moved outlines by up to 67 m, while offices publish
    and dispatch by the polygon; likewise an engine draft re-saved from the editor. The
    stored outlines are kept while the community's territory is the same as then (the stored
    grids cover it but for slivers of rounding: :data:`_TERRITORY_SQL`), else every outline
    is redrawn and ``why`` says so. When the community's data changed since (its fingerprint:
    buildings, households, streets), a grid keeps its outline only while that outline still
    holds its buildings as they lie today (:func:`_still_held`, given ``footprints``: id →
    footprint): a household count changed keeps every outline, a footprint moved redraws the
    grids it lies in and ``why`` names them. Buildings gone since do not count in "the same
    buildings"."""
    from geo.plans import fingerprint

    n = len(polys)
    none = _Outlines(polys, [False] * n, {}, source.version, plan=source.plan)
    if not source.geoms:
        return none
    since_zh, since_en = source.since
    held = [True] * len(source.geoms)
    if source.fps != {fingerprint(conn, area_id)}:
        held = [False] * len(held) if footprints is None else _still_held(source, footprints)
    if not any(held):
        none.why = (
            f"社区的楼栋或街巷自{since_zh}以来有变动，各网格轮廓已按楼栋重新绘制 "
            f"the community's buildings or streets changed since {since_en}: every "
            "grid outline is redrawn from its buildings"
        )
        return none
    off, moved = conn.execute(
        text(_TERRITORY_SQL),
        {
            "ws": [shapely.to_wkb(g) for g in source.geoms],
            "o": shapely.to_wkb(outline),
            "e": _SLIVER_DEG,
        },
    ).one()
    if off is None or moved > _OUTLINE_SLACK_M2:
        none.why = (
            f"社区边界自{since_zh}以来有变动（相差约 {off or 0:,.0f} 平方米），"
            "各网格轮廓已按楼栋重新绘制 "
            f"the community's outline changed since {since_en} (by about "
            f"{off or 0:,.0f} m²): every grid outline is redrawn from its buildings"
        )
        return none
    known = None if footprints is None else {int(b) for b in footprints.index}
    sets = [m if known is None else frozenset(m & known) for m in source.members]
    stored = {m: k for k, m in enumerate(sets) if m}
    kept = [m in stored and held[stored[m]] for m in members]
    moved_out = [source.codes[stored[m]] for m in members if m in stored and not held[stored[m]]]
    why = _footprints_moved(moved_out, since_zh, since_en) if moved_out else None
    out = np.array(polys, dtype=object)
    flags: dict[int, list[str]] = {}
    for i in range(n):
        if kept[i]:
            k = stored[members[i]]
            out[i] = source.geoms[k]
            flags[i] = list(source.flags[k])
    changed = [j for j in range(n) if not kept[j]]
    if not changed:
        return _Outlines(out, kept, flags, source.version, why, source.plan)
    # The changed grids share the rest of the territory, as drawn from their buildings;
    # ground there that the drawing gave to a kept grid (its redrawn outline reaching past
    # its stored one) goes to the changed grid it borders most, so the grids still tile.
    held = shapely.union_all([out[i] for i in range(n) if kept[i]])
    rest = _polygonal(shapely.difference(outline, held))
    for j in changed:
        out[j] = _polygonal(shapely.intersection(shapely.set_precision(polys[j], 1e-7), rest))
    left = shapely.difference(rest, shapely.union_all([out[j] for j in changed]))
    for piece in shapely.get_parts(_polygonal(left)):
        near = shapely.buffer(piece, 1e-6)
        touch = [shapely.area(shapely.intersection(near, out[j])) for j in changed]
        if max(touch) > 0:
            j = changed[int(np.argmax(touch))]
        else:
            # ground touching only kept grids (their stored tiling's own slivers): to the
            # kept grid it touches most, not across the map to a changed one (a grid in
            # two pieces)
            others = [i for i in range(n) if kept[i]]
            touch = [shapely.area(shapely.intersection(near, out[i])) for i in others]
            if not touch or max(touch) <= 0 or _sliver(piece):
                continue  # rounding or drift: left out rather than move a kept outline
            j = others[int(np.argmax(touch))]
        out[j] = _polygonal(shapely.union(out[j], piece))
    # a changed grid cut in pieces by the kept outlines: its pieces without its buildings go
    # to the grid they touch most (a grid in pieces is refused at commit)
    for j in changed:
        parts = shapely.get_parts(out[j])
        if len(parts) < 2:
            continue
        mine = shapely.union_all(buildings_of[j]) if buildings_of is not None else None
        home = [p for p in parts if mine is None or shapely.intersects(p, mine)]
        if not home:
            continue
        out[j] = _polygonal(shapely.union_all(home))
        for piece in parts:
            if any(piece is h for h in home):
                continue
            near = shapely.buffer(piece, 1e-6)
            # another changed grid first: a kept outline moves only when no other will do
            touch = [
                shapely.area(shapely.intersection(near, out[i])) * (1 if kept[i] else 1e6)
                if i != j
                else 0.0
                for i in range(n)
            ]
            k = int(np.argmax(touch)) if max(touch) > 0 else j
            if kept[k] and _sliver(piece):
                continue  # a speck or sliver: not worth moving a kept outline
            out[k] = _polygonal(shapely.union(out[k], piece))
    return _Outlines(out, kept, flags, source.version, why, source.plan)

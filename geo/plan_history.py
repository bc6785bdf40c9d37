"""A planner's history of plans and grids: every plan (``gridward plans list``, GET /plans),
a community's committed grid versions (``plans history``, GET /plans/history) and a revert
to one of them as a new draft (``plans revert``, POST /plans/revert).

WHY (T38 M5): the README said "history kept", but a planner could list drafts only in the
editor, see no earlier grid versions, and not go back to one. Every commit keeps the rows of
the versions it replaces (``grids.retired_at``; level 1 with their ``building_ids``) and the
plan it came from (``grid_plans``), so a version can be listed and rebuilt from them.

A revert is a draft like any other (:func:`geo.plan_drafts.save_draft`): each grid holding
the buildings it held in that version gets that version's stored outline back, unless the
community's buildings, streets or outline changed since (then outlines are redrawn, and the
answer says why: T49 #3); it is committed through the one commit path (version and data
checks, duties carried by place), or discarded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from geo.errors import InputError
from geo.plans import (
    STATUS_ZH,
    _community,
    bounds_of,
    current_version,
    local_time,
    outdated_sql,
    source_sql,
)

#: a plan's source (what made it) in the planners' words
SOURCE_ZH = {"partition": "自动划分", "editor": "编辑器", "revert": "恢复旧版", "file": "文件导入"}

_SOURCE_SQL = source_sql("p")

_PLANS_SQL = f"""
SELECT p.id, a.code AS community, a.name AS community_name, p.status, p.params,
       {_SOURCE_SQL} AS source,
       p.created_by, p.created_at, p.committed_at, p.base_version,
       (SELECT coalesce(max(g.version), 0) FROM grids g WHERE g.community_id = a.id) AS now_v,
       (SELECT l.actor FROM audit_log l WHERE l.target_type = 'grid_plan'
          AND l.target_id = p.id::text AND l.action = 'plan.commit'
        ORDER BY l.id DESC LIMIT 1) AS committed_by,
       f.grids, f.hh_min, f.hh_max, f.hh, {outdated_sql("p")} AS outdated
FROM grid_plans p JOIN areas a ON a.id = p.area_id
CROSS JOIN LATERAL (
  SELECT count(*) AS grids, min((e->'properties'->>'households')::int) AS hh_min,
         max((e->'properties'->>'households')::int) AS hh_max,
         sum((e->'properties'->>'households')::int) AS hh
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p.features->'features') = 'array'
                                 THEN p.features->'features' ELSE '[]'::jsonb END) e) f
WHERE (CAST(:c AS text) IS NULL OR a.code = :c) AND (CAST(:s AS text) IS NULL OR p.status = :s)
ORDER BY p.id DESC
"""


def check_status(status: str | None) -> None:
    """InputError naming the statuses a plan may have, for a ``status`` that is none."""
    if status is not None and status not in STATUS_ZH:
        known = ", ".join(STATUS_ZH)
        raise InputError(
            f"方案状态 {status[:20]!r} 无效，可选：{known} "
            f"no plan status {status[:20]!r}: use one of {known}"
        )


def list_plans(
    engine: Engine,
    community: str | None = None,
    status: str | None = None,
    limit: int = 100,
    allowed: Callable[[str], bool] | None = None,
) -> list[dict[str, Any]]:
    """Plans newest first, at most ``limit``: of ``community`` (NotFoundError when there is
    none, InputError for an area that is no community), of ``status`` (draft, committed,
    discarded). ``allowed``: whether a community's plans may be shown (a planner's areas),
    judged once per community before the limit. Each plan: id, community, status, source,
    who and when made and committed, the version a commit made (``version``; ``current``:
    still the community's grids), a draft's ``stale`` (made on grids no longer current) and
    ``outdated`` (made on other buildings, households or streets: save it again),
    its grid count, its grids' households (``households_min``–``households_max``, total)
    and its household bounds."""
    check_status(status)
    with engine.connect() as conn:
        if community is not None:
            _community(conn, community)
        rows = conn.execute(text(_PLANS_SQL), {"c": community, "s": status}).all()
    ok: dict[str, bool] = {}
    out = []
    for r in rows:
        if allowed is not None:
            if r.community not in ok:
                ok[r.community] = allowed(r.community)
            if not ok[r.community]:
                continue
        committed = r.status == "committed"
        version = r.base_version + 1 if committed else None
        out.append(
            {
                "plan_id": int(r.id),
                "community": r.community,
                "community_name": r.community_name,
                "status": r.status,
                "source": r.source,
                "created_by": r.created_by,
                "created_at": local_time(r.created_at),
                "committed_by": r.committed_by if committed else None,
                "committed_at": local_time(r.committed_at),
                "base_version": int(r.base_version),
                "version": version,
                "current": committed and version == int(r.now_v),
                "stale": r.status == "draft" and int(r.base_version) != int(r.now_v),
                # its community's data changed since (T63 #1): save it again to commit
                "outdated": bool(r.outdated),
                "grids": int(r.grids),
                "households_min": None if r.hh_min is None else int(r.hh_min),
                "households_max": None if r.hh_max is None else int(r.hh_max),
                "households": int(r.hh or 0),
                "bounds": bounds_of(r.params),
            }
        )
        if len(out) >= limit:
            break
    return out


_VERSIONS_SQL = f"""
WITH v AS (
  SELECT version, max(plan_id) AS plan_id, count(*) AS grids,
         coalesce(sum(households), 0) AS households, min(households) AS hh_min,
         max(households) AS hh_max, min(created_at) AS made,
         max(retired_at) AS retired_at, bool_and(retired_at IS NULL) AS current
  FROM grids WHERE community_id = :a AND level = 1 GROUP BY version)
SELECT v.*, p.committed_at, CASE WHEN p.id IS NOT NULL THEN {_SOURCE_SQL} END AS source,
       (SELECT l.actor FROM audit_log l WHERE l.target_type = 'grid_plan'
          AND l.target_id = v.plan_id::text AND l.action = 'plan.commit'
        ORDER BY l.id DESC LIMIT 1) AS committed_by
FROM v LEFT JOIN grid_plans p ON p.id = v.plan_id
ORDER BY v.version DESC
"""


def grid_versions(engine: Engine, community: str) -> dict[str, Any]:
    """A community's committed grid versions, newest first: ``{"community", "name",
    "current_version", "versions": [{"version", "plan_id", "committed_at", "committed_by",
    "grids", "households", "households_min", "households_max", "current", "replaced_at",
    "source"}]}`` (level-1 grids; who committed from the audit log, None before it was kept;
    ``plan_id`` None for grids whose plan is gone, and ``source`` then too; ``source`` as
    :func:`list_plans` gives it)."""
    with engine.connect() as conn:
        area = _community(conn, community)
        rows = conn.execute(text(_VERSIONS_SQL), {"a": area.id}).all()
        now = current_version(conn, area.id)
    return {
        "community": area.code,
        "name": area.name,
        "current_version": now,
        "versions": [
            {
                "version": int(r.version),
                "plan_id": None if r.plan_id is None else int(r.plan_id),
                "committed_at": local_time(r.committed_at or r.made),
                "committed_by": r.committed_by,
                "grids": int(r.grids),
                "households": int(r.households),
                "households_min": None if r.hh_min is None else int(r.hh_min),
                "households_max": None if r.hh_max is None else int(r.hh_max),
                "current": bool(r.current),
                "replaced_at": None if r.current else local_time(r.retired_at),
                "source": r.source,
            }
            for r in rows
        ],
    }


# A version's level-1 grids and their buildings: the stored building_ids (every plan
# committed since plans kept them), else the buildings whose inner point the grid covers
def grid_members_sql(g: str = "g") -> str:
    """A subquery of the ids (``bid``) of grid ``g``'s buildings: its stored building_ids,
    else (a grid stored without them) the buildings whose inner point it covers. One rule
    for a version's members and the grid map's estimated households."""
    return (
        f"SELECT (jsonb_array_elements_text({g}.properties->'building_ids'))::int AS bid "
        f"WHERE jsonb_typeof({g}.properties->'building_ids') = 'array' "
        "UNION ALL SELECT b.id FROM buildings b "
        f"WHERE jsonb_typeof({g}.properties->'building_ids') IS DISTINCT FROM 'array' "
        f"AND b.geom && {g}.geom AND ST_Intersects({g}.geom, ST_PointOnSurface(b.geom))"
    )


_VERSION_MEMBERS_SQL = f"""
SELECT g.id, g.code, g.plan_id, m.bid
FROM grids g
LEFT JOIN LATERAL ({grid_members_sql("g")}) m ON true
WHERE g.community_id = :a AND g.version = :v AND g.level = 1
ORDER BY g.code, m.bid
"""

# Buildings of the community that no grid of the version held (added since): the grid of the
# version their inner point lies in, else the nearest one
_PLACE_SQL = """
SELECT b.id, near.code, near.inside
FROM buildings b CROSS JOIN LATERAL (
  SELECT g.code, ST_Intersects(g.geom, ST_PointOnSurface(b.geom)) AS inside
  FROM grids g WHERE g.community_id = :a AND g.version = :v AND g.level = 1
  ORDER BY ST_Intersects(g.geom, ST_PointOnSurface(b.geom)) DESC,
           ST_Distance(g.geom::geography, b.geom::geography), g.code
  LIMIT 1) near
WHERE b.id = ANY(:ids)
ORDER BY b.id
"""


def _version_grids(
    conn: Connection, area: Any, version: int
) -> tuple[dict[str, list[int]], int | None]:
    """Version ``version``'s level-1 grids (code → building ids, as they were assigned) and
    the plan they came from; InputError when the community has no such version."""
    rows = conn.execute(text(_VERSION_MEMBERS_SQL), {"a": area.id, "v": version}).all()
    now = current_version(conn, area.id)
    if not rows:
        have = f"第 1–{now} 版" if now else "尚无已提交的版本"
        have_en = f"versions 1–{now}" if now else "no committed version yet"
        raise InputError(
            f"社区 {area.code} 没有第 {version} 版网格（{have}；见 gridward plans history "
            f"{area.code}） community {area.code} has no grid version {version} ({have_en}; "
            f"see gridward plans history {area.code})"
        )
    if version == now:
        raise InputError(
            f"社区 {area.code} 的现行网格就是第 {version} 版，无需恢复 "
            f"community {area.code} is at grid version {version} already: nothing to revert"
        )
    grids: dict[str, list[int]] = {}
    for r in rows:
        ids = grids.setdefault(r.code, [])
        if r.bid is not None:
            ids.append(int(r.bid))
    plan_id = next((int(r.plan_id) for r in rows if r.plan_id is not None), None)
    return grids, plan_id


def revert_plan(
    engine: Engine,
    community: str,
    version: int,
    created_by: str | None = None,
    min_households: int | None = None,
    max_households: int | None = None,
    names: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A NEW DRAFT of ``community`` with the grids of its committed ``version``: each grid
    keeps its code and the buildings it held then; a building gone since is left out, one
    added since goes to the grid of that version it lies in (``how``: ``inside``), or, lying
    in none, to the nearest (``nearest``: look at it before committing); a grid left with
    no building is dropped. The household bounds are that version's plan's unless given.
    Nothing changes until the draft is committed (``plans commit``, the commit's duty rules)
    or it is discarded. Outlines: the version's stored ones where the grid's buildings are
    the same (``outlines``). Returns :func:`~geo.plan_drafts.save_draft`'s answer with
    ``reverted_from`` (version, plan), ``bounds``, ``buildings_added``, ``buildings_gone``
    and ``grids_dropped``. ``names``: what the caller's user calls the bounds (default the
    JSON body's; :data:`geo.plans.CLI_BOUND_NAMES` on the command line)."""
    from geo.plan_drafts import DraftGrid, save_draft
    from geo.plans import BOUND_NAMES, given_or_stored_bounds, plan_bounds

    names = names or BOUND_NAMES

    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(
            f"版本号须为正整数，现为 {str(version)[:20]!r} "
            f"version must be a whole number from 1, got {str(version)[:20]!r}"
        )
    with engine.connect() as conn:
        area = _community(conn, community)
        grids, plan_id = _version_grids(conn, area, version)
        base = current_version(conn, area.id)
        known = set(
            conn.execute(
                text("SELECT id FROM buildings WHERE community_id = :a"), {"a": area.id}
            ).scalars()
        )
        held = {b for ids in grids.values() for b in ids}
        added = sorted(known - held)
        placed = (
            conn.execute(text(_PLACE_SQL), {"a": area.id, "v": version, "ids": added}).all()
            if added
            else []
        )
        stored = plan_bounds(conn, area.id, plan_id) if plan_id is not None else None
    lo, hi = given_or_stored_bounds(
        min_households, max_households, stored, names, (f"第 {version} 版", f"version {version}")
    )
    gone = sorted(held - known)
    kept = {code: [b for b in ids if b in known] for code, ids in grids.items()}
    moved_in = []
    for r in placed:
        kept[r.code].append(int(r.id))
        moved_in.append(
            {"building": int(r.id), "grid": r.code, "how": "inside" if r.inside else "nearest"}
        )
    dropped = sorted(code for code, ids in kept.items() if not ids)
    draft = [DraftGrid(code, sorted(ids)) for code, ids in sorted(kept.items()) if ids]
    origin = {"reverted_from": {"version": version, "plan_id": plan_id}}
    out = save_draft(
        engine,
        community,
        int(lo),
        int(hi),
        draft,
        created_by=created_by,
        base_version=base,
        source="revert",
        origin=origin,
        outlines_from=version,  # that version's outlines, not today's drawing (T49 #3)
    )
    return {
        **out,
        "community": area.code,
        "base_version": base,
        **origin,
        "bounds": [int(lo), int(hi)],
        "buildings_added": moved_in,
        "buildings_gone": gone,
        "grids_dropped": dropped,
    }


#: the columns of a crosswalk (``plans history --crosswalk``), in order
CROSSWALK_COLUMNS = (
    "old_version",
    "old_code",
    "new_version",
    "new_code",
    "shared_buildings",
    "shared_households",
    "successor",
    "committed_at",
)


#: the crosswalk file's headers ("中文 key", as the roster's and the reports'): a clerk reads
#: the Chinese, a script the last word (T51 #10: the file had English headers only)
CROSSWALK_LABELS = {
    "old_version": "旧版本",
    "old_code": "旧编码",
    "new_version": "新版本",
    "new_code": "新编码",
    "shared_buildings": "共有楼栋",
    "shared_households": "共有户数",
    "successor": "主要承接",
    "committed_at": "提交时间",
}


def export_crosswalk(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write crosswalk ``rows`` to ``path`` (.csv: UTF-8 with a BOM; .xlsx) as the roster is
    written (:func:`geo.roster_export.write_table`): Chinese-first headers, the codes as
    text. WHY (T51 #10): Excel opened the CSV's 15-digit codes as 1.10108E+14. ``successor``
    is 1 or 0, as in the CSV on stdout. The folder must exist."""
    import pandas as pd

    from geo.roster_export import check_table_file, headers, write_table

    path = Path(path)
    check_table_file(path, "编码对照", "crosswalk")
    df = pd.DataFrame(
        [{**r, "successor": int(r["successor"])} for r in rows], columns=list(CROSSWALK_COLUMNS)
    )
    return write_table(df, path, headers(CROSSWALK_LABELS), ("old_code", "new_code"), "编码对照")


def crosswalk(engine: Engine, community: str) -> list[dict[str, Any]]:
    """Old code and version → new code and version for every two consecutive committed
    versions of ``community``, from the stored grids' building sets (as the commit maps each
    old grid to its successor): one row per pair of level-1 grids sharing buildings, with
    the buildings and households (today's counts) they share, ``successor`` (the new grid
    holding most of the old one's households, the commit's rule for its duties) and when
    the new version was committed; an old grid sharing nothing (its buildings gone) has a
    row with no new code. WHY (T49 #8): codes are positional and reused for other places
    (…002005 was one building's grid in versions 1–3 and another's in version 4), and the
    old → new mapping was printed once, at commit."""
    with engine.connect() as conn:
        area = _community(conn, community)
        hh = dict(
            conn.execute(
                text("SELECT id, households FROM buildings WHERE community_id = :a"),
                {"a": area.id},
            ).all()
        )
        made = {
            int(r.version): local_time(r.committed_at or r.made)
            for r in conn.execute(text(_VERSIONS_SQL), {"a": area.id})
        }
        members: dict[int, dict[str, set[int]]] = {}
        for v in sorted(made):
            grids = members.setdefault(v, {})
            for r in conn.execute(text(_VERSION_MEMBERS_SQL), {"a": area.id, "v": v}):
                ids = grids.setdefault(r.code, set())
                if r.bid is not None:
                    ids.add(int(r.bid))
    out: list[dict[str, Any]] = []
    versions = sorted(members)
    for old_v, new_v in zip(versions, versions[1:], strict=False):
        where = {b: c for c, ids in members[new_v].items() for b in ids}
        for old_code, ids in sorted(members[old_v].items()):
            shared: dict[str, list[int]] = {}
            for b in ids:
                if b in where:
                    shared.setdefault(where[b], []).append(b)
            # the commit's rule: most households, then most buildings, then the lower code
            best = max(
                shared,
                key=lambda c: (
                    sum(hh.get(b, 0) for b in shared[c]),
                    len(shared[c]),
                    [-ord(x) for x in c],
                ),
                default=None,
            )
            for new_code in sorted(shared) or [None]:
                got = shared.get(new_code, []) if new_code else []
                out.append(
                    {
                        "old_version": old_v,
                        "old_code": old_code,
                        "new_version": new_v,
                        "new_code": new_code,
                        "shared_buildings": len(got),
                        "shared_households": sum(hh.get(b, 0) for b in got),
                        "successor": new_code is not None and new_code == best,
                        "committed_at": made[new_v],
                    }
                )
    return out

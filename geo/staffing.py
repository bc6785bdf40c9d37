"""People and duties in PostGIS: the registry, assignment proposals and commits, leavers.

The solvers in :mod:`geo.assign` are pure; this module loads an area's alleys, streets or grids,
its people and the duties in force, asks the solver for a proposal, and commits a proposal as
dated changes: a duty that ends gets ``valid_to`` (yesterday), a new duty starts today, and a
duty that stays is not touched. Past reports therefore keep reading the duties of their days.
Grids, streets and alleys alike: a duty ending today holds its slot today only; a duty starts
tomorrow where today's slot or its person is still held until tonight (:func:`_starts`), and
ends the day before a holder planned by hand fills its slot (:func:`_until`); duties planned
by hand count as held (:func:`_planned_load`). The commit writes no grid duty ``assign set``
would refuse (:func:`geo.duties.refuse_grid_clash`) and no street or alley duty held twice by
one person or beyond the holders a street or alley is given (:func:`_refuse_line_clash`).
A proposal remembers a fingerprint of the duties it was made on; committing it after they
changed is refused (ConflictError). Phone numbers are stored, never returned by these functions,
never logged and never put in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections import Counter
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo import audit
from geo.duties import GRID_ROLES, ROLE_LABELS, SOLE_ROLES, TARGET_LABELS, refuse_grid_clash
from geo.errors import ConflictError, InputError, NotFoundError
from geo.export import grid_label_sql
from geo.settings import city_today
from geo.sql_frames import read_frame, read_geoframe
from geo.street_areas import AREA_CODES, near_area_sql, street_areas_sql, streets_of_area_sql

KINDS = {
    "alleys": ("alley_steward",),
    "streets": ("street_chief",),
    "grids": ("grid_leader", "grid_worker"),
}
# the Chinese of a kind and of a role, for messages
KIND_ZH = {"alleys": "小巷", "streets": "街", "grids": "网格"}
ROLES_ZH = {k: v.split()[0] for k, v in ROLE_LABELS.items()}
# roles whose slot a holder planned by hand fills (:func:`_until`): a grid's one leader (1+N),
# a street's one chief and an alley's stewards, as many as the solver gives each
FILLED_BY_PLAN = SOLE_ROLES | {"street_chief", "alley_steward"}


def _area(conn: Connection, code: str) -> Any:
    row = conn.execute(
        text("SELECT id, code, level, parent_id FROM areas WHERE code = :c"), {"c": code}
    ).first()
    if row is None:
        raise NotFoundError(f"区域 {code} 不存在，请检查区域代码 area {code} does not exist")
    return row


# the areas under one (by parent link, itself included): whose people it may staff
_UNDER = (
    "WITH RECURSIVE under(id, depth) AS (SELECT CAST(:s AS int), 0 UNION ALL "
    "SELECT c.id, u.depth + 1 FROM areas c JOIN under u ON c.parent_id = u.id "
    "WHERE u.depth < 8) "
)


def _pool_area(area: Any) -> int:
    """The area whose people may staff ``area`` (an :func:`_area` row): the area itself, or
    for a community (village) its subdistrict (township), so that neighbours of the next
    community serve as before (tests/test_staffing_cross_area.py)."""
    if area.level in ("community", "village") and area.parent_id is not None:
        return int(area.parent_id)
    return int(area.id)


def candidates(conn: Connection, area: Any, roles: tuple[str, ...]) -> pd.DataFrame:
    """Active people with one of ``roles`` living in the area or within 2 km of it, and
    belonging to it (:func:`_pool_area`): their home community lies under it by parent
    link, or, with no community, their home inside its outline. WHY (T50 #4): a second
    subdistrict's run pooled the first one's stewards living within 2 km, listed them as
    left out and could have given them this subdistrict's alleys, though neither the area
    nor its planner is theirs; a person in no community belongs to no area's run but the
    one their home lies in."""
    df = read_frame(
        text(
            _UNDER + "SELECT p.id AS person_id, ST_X(p.home) AS lon, ST_Y(p.home) AS lat, "
            "p.capacity, array_to_string(p.roles, ';') AS roles, p.part_time "
            "FROM people p, areas a, areas s WHERE a.id = :a AND s.id = :s AND p.active "
            "AND p.home IS NOT NULL AND p.roles && CAST(:r AS text[]) "
            "AND ST_DWithin(p.home::geography, a.geom::geography, 2000) "
            "AND (p.area_id IN (SELECT id FROM under) "
            "OR (p.area_id IS NULL AND ST_Covers(s.geom, p.home))) ORDER BY p.id"
        ),
        conn,
        params={"a": int(area.id), "s": _pool_area(area), "r": list(roles)},
    )
    return df


def _held_elsewhere(
    conn: Connection, kind: str, people: pd.DataFrame, items: pd.DataFrame, day: dt.date
) -> pd.DataFrame:
    """Per person (of ``people``, index ``person_id``), the duties of ``kind`` outside ``items``
    in force on ``day`` and going on after it: ``held_count`` and, for alleys and streets,
    ``held_m`` (their length); ``ends_today``: one of theirs ends on ``day`` (:func:`_starts`).
    WHY: the area's candidates are everyone living within 2 km of it, neighbours included,
    and the solver saw only this area's items: a rebalance gave full-time workers a grid here
    while they kept one in the next community, one person led two grids (acceptance tester),
    and a steward with 5 alleys / 2.8 km next door was given 5 more / 3 km here, against
    ``grids_per_person``, ``max_alleys_per_person`` and ``max_length_per_person_m``."""
    cols = ["held_count", "held_m", "ends_today"]
    if people.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    args = {
        "ids": items["item_id"].astype(int).tolist(),
        "p": people["person_id"].astype(int).tolist(),
        "d": day,
    }
    if kind == "grids":
        # any current grid they lead or work; one ending on ``day`` only says when they are
        # free (:func:`_starts`), and a retired grid (dropped by a plan commit, its duties
        # ended that day) is no load at all: it has left the grid layer
        sql = (
            "SELECT a.person_id, count(DISTINCT a.grid_id) FILTER (WHERE a.valid_to IS NULL "
            "OR a.valid_to > :d), 0.0, bool_or(a.valid_to = :d) FROM assignments a "
            "JOIN grids g ON g.id = a.grid_id WHERE g.retired_at IS NULL "
            "AND NOT (a.grid_id = ANY(:ids)) AND a.person_id = ANY(:p) AND a.valid_from <= :d "
            "AND (a.valid_to IS NULL OR a.valid_to >= :d) GROUP BY a.person_id"
        )
    else:
        # length as the solver measures it, in metres (geography, not degrees); a retired
        # street (no segments left after a re-import) has nothing left to walk: no load; one
        # ending on ``day`` only says when they are free, as for grids
        sql = (
            "SELECT h.person_id, count(*) FILTER (WHERE h.stays), coalesce(sum("
            "ST_Length(st.geom::geography)) FILTER (WHERE h.stays), 0), bool_or(h.ends) FROM "
            "(SELECT person_id, street_id, bool_or(valid_to IS NULL OR valid_to > :d) AS stays, "
            "bool_or(valid_to = :d) AS ends FROM assignments WHERE role = "
            "ANY(CAST(:r AS text[])) AND street_id IS NOT NULL AND NOT (street_id = ANY(:ids)) "
            "AND person_id = ANY(:p) AND valid_from <= :d AND (valid_to IS NULL OR "
            "valid_to >= :d) GROUP BY person_id, street_id) h JOIN streets st ON "
            "st.id = h.street_id WHERE st.retired_at IS NULL GROUP BY h.person_id"
        )
        args["r"] = list(KINDS[kind])
    rows = conn.execute(text(sql), args).all()
    return pd.DataFrame(
        [(int(n), float(m), bool(e)) for _p, n, m, e in rows],
        index=pd.Index([int(r[0]) for r in rows], name="person_id"),
        columns=cols,
    )


def _trips(frame: pd.DataFrame) -> list[tuple[int, int, str]]:
    """(item, person, role) of each row of a frame of duties or pairs, in its order."""
    return [(int(r.item_id), int(r.person_id), r.role) for r in frame.itertuples(index=False)]


def _starts(
    pairs: pd.DataFrame,
    staying: pd.DataFrame,
    ending: pd.DataFrame,
    late: set[int],
    need: dict[tuple[int, str], int],
    day: dt.date,
) -> pd.Series:
    """Per pair, the day its duty starts when later than ``day`` (None: on ``day``).
    Tomorrow, WHY: (1) its person is ``late``: a duty of theirs ends on ``day``, so starting
    today they would hold one more than their share that day (a plan commit once freed people
    this way: tester W, F8); (2) it fills a slot a duty ending on ``day`` holds until tonight
    (tester Y, NEW-4: such slots were counted as filled, 100 % staffed while the grid was short
    from tomorrow), which starting today would give two leaders or chiefs, or one worker or
    steward too many, for a day. A slot empty today is filled today, the nearest pick first."""
    kept = set(_trips(staying))
    trip = dict(zip(pairs.index, _trips(pairs), strict=True))
    # today's holders per slot: the kept duties and those ending today
    today = Counter((i, ro) for i, p, ro in trip.values() if (i, p, ro) in kept)
    today.update((int(r.item_id), r.role) for r in ending.itertuples(index=False))
    room = {k: n - today[k] for k, n in need.items()}
    nxt = (day + dt.timedelta(days=1)).isoformat()
    out = pd.Series(None, index=pairs.index, dtype=object)
    for ix in _nearest_first(pairs):
        item, person, role = trip[ix]
        if (item, person, role) in kept:
            continue
        if person in late or room.get((item, role), 0) <= 0:
            out[ix] = nxt
        else:
            room[(item, role)] -= 1
    return out


def _nearest_first(pairs: pd.DataFrame) -> pd.Index:
    """``pairs``' index, the nearest home first (grids by distance, streets by walk)."""
    col = "distance_m" if "distance_m" in pairs else "walk_m"
    return pd.to_numeric(pairs[col], errors="coerce").sort_values(kind="stable").index


def _until(
    pairs: pd.DataFrame,
    staying: pd.DataFrame,
    planned: pd.DataFrame,
    need: dict[tuple[int, str], int],
) -> pd.Series:
    """Per new pair, its last day when the duties planned on its item would clash with it
    open-ended: from the day the holders planned in its role (:data:`FILLED_BY_PLAN`) fill
    what the kept holders leave of the slot (``need``: one leader, one chief, the stewards an
    alley is given), or its person is planned there in another role (one role per grid). Of
    several new pairs in one slot the farthest ends first. WHY end it the day before and not
    leave the slot empty: the item is staffed until the planned holder comes (a stand-in, as
    ``assign set --replace --to`` makes); from then on the plan holds, as ``assign set`` (a
    grid's one leader) or the solver (one chief per street) would insist."""
    kept = set(_trips(staying))
    out = pd.Series(None, index=pairs.index, dtype=object)
    if planned.empty:
        return out
    trips = _trips(pairs)
    held = Counter((i, ro) for i, p, ro in trips if (i, p, ro) in kept)
    seen: Counter[tuple[int, str]] = Counter()  # new pairs met per slot, nearest first
    trip = dict(zip(pairs.index, trips, strict=True))
    for ix in _nearest_first(pairs):
        item, person, role = trip[ix]
        if (item, person, role) in kept:
            continue
        on = planned[planned["item_id"].astype(int) == item]
        who = on["person_id"].astype(int)
        starts = on["valid_from"].map(_day)
        days = list(starts[(who == person) & (on["role"] != role)])
        if role in FILLED_BY_PLAN:
            # the slot is over-full once this many others are planned by then
            enough = need.get((item, role), 1) - held[(item, role)] - seen[(item, role)]
            theirs = sorted(starts[(who != person) & (on["role"] == role)])
            if 0 < enough <= len(theirs):
                days.append(theirs[enough - 1])
            seen[(item, role)] += 1
        if days:
            out[ix] = (min(days) - dt.timedelta(days=1)).isoformat()
    return out


def _slots(items: pd.DataFrame, kind: str, params: Any) -> dict[tuple[int, str], int]:
    """Per (item, role), the holders the solver gives an item: a grid ``leaders_per_grid`` and
    1 worker per ``households_per_worker`` (1+N, as :func:`geo.assign.grids.staff_grids`
    counts them), a street one chief, an alley ``stewards_per_alley``."""
    ids = items["item_id"].astype(int).tolist()
    if kind == "streets":
        return {(s, "street_chief"): 1 for s in ids}
    if kind == "alleys":
        k = int(getattr(params, "stewards_per_alley", 1))
        return {(s, "alley_steward"): k for s in ids}
    from geo.assign.grids import workers_needed

    work = workers_needed(items["households"].to_numpy(), params.households_per_worker)
    return {
        **{(g, "grid_leader"): int(params.leaders_per_grid) for g in ids},
        **{(g, "grid_worker"): int(n) for g, n in zip(ids, work, strict=True)},
    }


def _with_held(people: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """``people`` with the optional ``held_count`` / ``held_m`` columns the alley and street
    solvers read (0 for a person holding nothing elsewhere); unchanged when nobody does."""
    if held.empty:
        return people
    ids = people["person_id"].astype(int)
    return people.assign(
        held_count=ids.map(held["held_count"]).fillna(0).astype(int),
        held_m=ids.map(held["held_m"]).fillna(0.0).astype(float),
    )


def _less_capacity(people: pd.DataFrame, held: pd.Series | None, default: int) -> pd.DataFrame:
    """``people`` with their grid capacity (own, else ``default``) less the grids ``held``
    elsewhere (at least 0: such a person is not given one here)."""
    if held is None or held.empty:
        return people
    own = pd.to_numeric(people["capacity"], errors="coerce").fillna(default)
    less = people["person_id"].astype(int).map(held).fillna(0)
    return people.assign(capacity=(own - less).clip(lower=0))


def _streets(conn: Connection, area_id: int, kind: str) -> gpd.GeoDataFrame:
    """Streets or alleys of the area by the rule the reports place them by
    (:mod:`geo.street_areas`); not retired (none of their segments left after a re-import)."""
    return read_geoframe(
        text(streets_of_area_sql("st.id AS item_id, st.name, st.length_m, st.geom")),
        conn,
        geom_col="geom",
        params={"a": area_id, "k": kind},
        crs="EPSG:4326",
    )


def _network(conn: Connection, area_id: int) -> gpd.GeoDataFrame:
    return read_geoframe(
        text(
            "SELECT s.id, s.geom FROM street_segments s, areas a WHERE a.id = :a "
            "AND s.retired_at IS NULL "
            "AND ST_DWithin(s.geom::geography, a.geom::geography, 2500) ORDER BY s.id"
        ),
        conn,
        geom_col="geom",
        params={"a": area_id},
        crs="EPSG:4326",
    )


def _grids(conn: Connection, area_id: int) -> gpd.GeoDataFrame:
    return read_geoframe(
        text(
            # the area's own grids and its communities', by parent link as streets go
            # (geo.street_areas): a community's code need not begin with its parent's
            "SELECT g.id AS item_id, g.code, g.households, g.geom FROM grids g "
            "JOIN areas c ON c.id = g.community_id WHERE (c.id = :a OR c.parent_id = :a "
            "OR c.parent_id IN (SELECT id FROM areas WHERE parent_id = :a)) "
            "AND g.level = 1 AND g.retired_at IS NULL ORDER BY g.code"
        ),
        conn,
        geom_col="geom",
        params={"a": area_id},
        crs="EPSG:4326",
    )


def _current(conn: Connection, kind: str, item_ids: list[int], day: dt.date) -> pd.DataFrame:
    target = "grid_id" if kind == "grids" else "street_id"
    return read_frame(
        text(
            f"SELECT id, {target} AS item_id, person_id, role, valid_to FROM assignments "
            f"WHERE {target} = ANY(CAST(:ids AS int[])) AND role = ANY(CAST(:roles AS text[])) "
            "AND valid_from <= :d AND (valid_to IS NULL OR valid_to >= :d) ORDER BY id"
        ),
        conn,
        params={"ids": item_ids, "roles": list(KINDS[kind]), "d": day},
    )


def _planned(conn: Connection, kind: str, item_ids: list[int], day: dt.date) -> pd.DataFrame:
    """Duties planned by hand to start after ``day`` (geo.duties): a commit must see them, or
    it gives a person a duty they already hold from a later day."""
    target = "grid_id" if kind == "grids" else "street_id"
    return read_frame(
        text(
            f"SELECT id, {target} AS item_id, person_id, role, valid_from, valid_to "
            "FROM assignments "
            f"WHERE {target} = ANY(CAST(:ids AS int[])) AND role = ANY(CAST(:roles AS text[])) "
            "AND valid_from > :d ORDER BY valid_from, id"
        ),
        conn,
        params={"ids": item_ids, "roles": list(KINDS[kind]), "d": day},
    )


def _ends_on(current: pd.DataFrame, day: dt.date) -> pd.Series:
    """Which duties of ``current`` end on ``day`` (their last day)."""
    return pd.to_datetime(current["valid_to"]) == pd.Timestamp(day)


def _planned_load(conn: Connection, kind: str, people: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Per person (index ``person_id``), the current grids, or streets or alleys of ``kind``,
    they are planned to take on after ``day`` (by hand, :mod:`geo.duties`) and do not hold
    now: ``held_count`` and ``held_m`` (their length; 0 for grids). WHY counted as held now: a
    proposal's duties are open-ended, so a person given one would hold two grids (lead two),
    or more streets or alleys than their cap, from the planned day on (tester Y, NEW-3). The
    solver's capacity is a count, not a calendar: the simplest consistent rule is to take them
    from now, so the item they would have served gets someone who stays, not a stand-in who
    must leave on the planned day."""
    cols = ["held_count", "held_m"]
    if people.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    grids = kind == "grids"
    col, table = ("grid_id", "grids") if grids else ("street_id", "streets")
    length = "0.0" if grids else "ST_Length(t.geom::geography)"
    rows = conn.execute(
        text(
            f"SELECT h.person_id, count(*), coalesce(sum({length}), 0) FROM (SELECT DISTINCT "
            f"a.person_id, a.{col} AS item FROM assignments a WHERE a.valid_from > :d "
            "AND a.person_id = ANY(:p) AND a.role = ANY(CAST(:r AS text[])) AND NOT EXISTS "
            f"(SELECT 1 FROM assignments b WHERE b.person_id = a.person_id AND b.{col} = a.{col} "
            "AND b.valid_from <= :d AND (b.valid_to IS NULL OR b.valid_to >= :d))) h "
            f"JOIN {table} t ON t.id = h.item WHERE t.retired_at IS NULL GROUP BY h.person_id"
        ),
        {
            "d": day,
            "p": people["person_id"].astype(int).tolist(),
            "r": list(GRID_ROLES if grids else KINDS[kind]),
        },
    ).all()
    return pd.DataFrame(
        [(float(n), float(m)) for _p, n, m in rows],
        index=pd.Index([int(r[0]) for r in rows], name="person_id"),
        columns=cols,
    )


def _load_of(pairs: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Per person (index ``person_id``), the items of ``pairs`` they hold: ``held_count`` and
    ``held_m`` (the items' ``length_m``)."""
    m = pairs.merge(items[["item_id", "length_m"]], on="item_id", how="left")
    return pd.DataFrame(
        {
            "held_count": m.groupby("person_id")["item_id"].nunique().astype(float),
            "held_m": m.groupby("person_id")["length_m"].sum().astype(float),
        }
    ).rename_axis("person_id")


def _fingerprint(
    current: pd.DataFrame, planned: pd.DataFrame | None = None, day: dt.date | None = None
) -> str:
    """The duties a proposal was made on; a duty ending on ``day`` is marked (``~``): ended
    since, it no longer holds its slot from tomorrow and the proposal is stale."""
    ending = _ends_on(current, day) if day is not None and "valid_to" in current else None
    pairs = sorted(
        f"{r.item_id}:{r.person_id}:{r.role}" + ("~" if ending is not None and ending[i] else "")
        for i, r in zip(current.index, current.itertuples(index=False), strict=True)
    )
    if planned is not None:
        pairs += sorted(
            f"{r.item_id}:{r.person_id}:{r.role}@{r.valid_from}"
            for r in planned.itertuples(index=False)
        )
    return hashlib.sha256(",".join(pairs).encode()).hexdigest()


def _fill_gaps(current: pd.DataFrame, proposed: pd.DataFrame, net: bool = False) -> pd.DataFrame:
    """Every duty in force, plus the solver's people where an (item, role) has fewer holders
    than the solver gives it. WHY per (item, role) and not per item: the solvers keep one
    holder per alley or street and only people living near the area, so a co-steward (共管) or
    a duty given by hand would be ended; and a grid with workers but no leader (the leader
    left) still needs its leader, and one short of workers its workers. ``net`` (grids, solved
    for the empty slots only, with the duties in force counted): every pick fills a gap, and
    is added unless that person already serves that item."""
    pair = ["item_id", "person_id", "role"]
    # a kept duty shows the walk the solver measured for it (null when the solver did not
    # keep that pair, e.g. a co-steward)
    measured = [c for c in ("walk_m", "distance_m") if c in proposed]
    have = current[pair].merge(proposed[pair + measured].drop_duplicates(pair), on=pair, how="left")
    keys = ["item_id", "role"]
    if net:
        mine = current[["item_id", "person_id"]].drop_duplicates().assign(_mine=True)
        extra = proposed.merge(mine, on=["item_id", "person_id"], how="left")
        return pd.concat([have, extra[extra["_mine"].isna()].drop(columns="_mine")],
                         ignore_index=True)  # fmt: skip
    extra = proposed.merge(have[pair], on=pair, how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
    want = proposed.groupby(keys).size().rename("_want")
    held = have.groupby(keys).size().rename("_held")
    room = pd.concat([want, held], axis=1).fillna(0)
    room = (room["_want"] - room["_held"]).clip(lower=0).rename("_room").reset_index()
    extra = extra.merge(room, on=keys, how="left")
    extra = extra[extra.groupby(keys).cumcount() < extra["_room"]].drop(columns="_room")
    return pd.concat([have, extra], ignore_index=True)


def _solve_lines(
    kind: str,
    items: gpd.GeoDataFrame,
    people: pd.DataFrame,
    held: pd.DataFrame,
    params: Any,
    network: gpd.GeoDataFrame,
    existing: pd.DataFrame,
    rebalance: bool,
    exclude: set[tuple[int, int]],
) -> tuple[pd.DataFrame, list[int], dict[str, Any]]:
    """Alley stewards or street chiefs for ``items``: the pairs (``item_id``, ``person_id``,
    ``role``, ``walk_m``), the items left short and the solver's summary; never a pair of
    ``exclude`` (item, person). ``held`` (per person: ``held_count``, ``held_m``) is what they
    hold outside ``items``. WHY solve again: the solvers take no pair to leave out, and the
    person a planner has just ended on a street (their duty ends today) is usually its nearest
    pick; put back, the proposal would undo that end (grids: ``staff_grids``' ``exclude``).
    The items so picked are solved again without the people ended on them, with the first
    solve's other picks counted as held."""
    from geo.assign.chiefs import assign_chiefs
    from geo.assign.stewards import assign_stewards

    solve, col = (assign_stewards, "alley_id") if kind == "alleys" else (assign_chiefs, "street_id")

    def run(
        its: gpd.GeoDataFrame, ppl: pd.DataFrame, load: pd.DataFrame, have: pd.DataFrame, rb: bool
    ) -> tuple[pd.DataFrame, list[int], dict[str, Any]]:
        res = solve(
            its.rename(columns={"item_id": col}).rename_geometry("geometry"),
            _with_held(ppl, load),
            params,
            network=network.rename_geometry("geometry"),
            existing=have.rename(columns={"item_id": col})[[col, "person_id"]],
            rebalance=rb,
        )
        got = res.assignments.rename(columns={col: "item_id"}).assign(role=KINDS[kind][0])
        return got, [int(u) for u in res.uncovered], dict(res.summary)

    pairs, uncovered, summary = run(items, people, held, existing, rebalance)
    ids = zip(pairs["item_id"].astype(int), pairs["person_id"].astype(int), strict=True)
    back = pd.Series([p in exclude for p in ids], index=pairs.index, dtype=bool)
    if not back.any():
        return pairs, uncovered, summary
    again = set(pairs.loc[back, "item_id"].astype(int))
    on = pairs["item_id"].astype(int).isin(again)
    rest = people[~people["person_id"].astype(int).isin({p for i, p in exclude if i in again})]
    more, short = pairs.iloc[:0], sorted(again)
    if len(rest):
        load = held[["held_count", "held_m"]].add(_load_of(pairs[~on], items), fill_value=0)
        its = items[items["item_id"].astype(int).isin(again)]
        more, short, _ = run(its, rest, load, pairs[on & ~back], False)
    pairs = pd.concat([pairs[~on], more], ignore_index=True)
    covered = int(pairs["item_id"].nunique())
    summary.update(
        covered=covered, coverage=round(covered / len(items), 4), solved_again=len(again)
    )
    return pairs, sorted((set(uncovered) - again) | set(short)), summary


def _day(value: Any) -> dt.date | None:
    """A date from a frame's cell or a proposal's ISO string; None for none."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _short_later(
    pairs: pd.DataFrame,
    staying: pd.DataFrame,
    planned: pd.DataFrame,
    need: dict[tuple[int, str], int],
    day: dt.date,
) -> list[dict[str, Any]]:
    """The slots that fall short on a later day because a duty the proposal keeps ends then
    and neither a new pair nor a planned duty follows: ``item_id``, ``role``, ``from`` (the
    first day short), ``holders`` that day and ``needed``. WHY: a planned move (a leader's
    duty ends on one grid, to lead another from a later day) left the grid they leave short
    from that day unseen, while the stand-in on the other grid went home (re-test); the
    proposal's duties start now, so it names those days for a planner to fill by hand."""
    new = set(_trips(pairs))
    kept = {  # the duties in force the commit keeps (a rebalance may end some), to their end
        k: _day(r.valid_to)
        for r in staying.itertuples(index=False)
        if (k := (int(r.item_id), int(r.person_id), r.role)) in new
    }
    # every duty there is after the commit: (item, role) → (person, first day, last day)
    spans: dict[tuple[int, str], list[tuple[int, dt.date, dt.date | None]]] = {}
    for r in pairs.itertuples(index=False):
        k = (int(r.item_id), int(r.person_id), r.role)
        start, end = (day, kept[k]) if k in kept else (_day(r.valid_from) or day, _day(r.valid_to))
        spans.setdefault((k[0], k[2]), []).append((k[1], start, end))
    for r in planned.itertuples(index=False):
        spans.setdefault((int(r.item_id), r.role), []).append(
            (int(r.person_id), _day(r.valid_from) or day, _day(r.valid_to))
        )
    ends = sorted(
        {(k[0], k[2], end + dt.timedelta(days=1)) for k, end in kept.items() if end is not None}
    )
    out = []
    for item, role, first in ends:
        on = spans.get((item, role), [])
        there = {p for p, s, e in on if s <= first and (e is None or e >= first)}
        if len(there) < need.get((item, role), 1):
            out.append({"item_id": item, "role": role, "from": first.isoformat(),
                        "holders": len(there), "needed": need.get((item, role), 1)})  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# propose and commit
# --------------------------------------------------------------------------------------------


def propose(
    engine: Engine,
    kind: str,
    area: str,
    rebalance: bool = False,
    day: dt.date | None = None,
    params: Any = None,
) -> dict[str, Any]:
    """Solve the area's alleys, streets or grids; nothing is written. JSON-ready.

    ``uncovered`` names streets and alleys by id, grids by code. A pair's ``valid_from`` is
    the day after ``day`` where its person or its slot is held until tonight (:func:`_starts`);
    null: it starts on the commit's day. Its ``valid_to``: a stand-in's last day
    (:func:`_until`). ``short_from``: slots falling short on a later day (:func:`_short_later`)."""
    from geo.assign.grids import GridParams, home_to_grid_m, staff_grids
    from geo.assign.stewards import StewardParams
    from geo.settings import get_settings

    if kind not in KINDS:
        raise InputError(
            f"职责类型 '{kind}' 有误，请用 grids（网格）、streets（街）或 alleys（小巷） "
            f"unknown assignment kind '{kind}': "
            "use grids, streets or alleys"
        )
    day = day or city_today()
    with engine.connect() as conn:
        a = _area(conn, area)
        people = candidates(conn, a, KINDS[kind])
        pool_code = conn.execute(
            text("SELECT code FROM areas WHERE id = :s"), {"s": _pool_area(a)}
        ).scalar_one()
        if kind == "grids":
            items = _grids(conn, a.id)
        else:
            items = _streets(conn, a.id, "alley" if kind == "alleys" else "street")
        if items.empty:
            what = {"grids": "current grids", "alleys": "alleys", "streets": "streets"}[kind]
            what_zh = {"grids": "现行网格", "alleys": "小巷", "streets": "街"}[kind]
            raise InputError(
                f"区域 {area} 内没有{what_zh}可配置人员 area {area} has no {what} to staff"
            )
        current = _current(conn, kind, items["item_id"].astype(int).tolist(), day)
        planned = _planned(conn, kind, items["item_id"].astype(int).tolist(), day)
        network = _network(conn, a.id) if kind != "grids" else None
        elsewhere = _held_elsewhere(conn, kind, people, items, day)
        later = _planned_load(conn, kind, people, day)
    if people.empty:
        roles = " or ".join(KINDS[kind])
        roles_zh = "或".join(ROLES_ZH[x] for x in KINDS[kind])
        raise InputError(
            f"区域 {area} 内及附近（2 公里内）没有角色为{roles_zh}的在岗人员"
            f"（只计住址属于 {pool_code} 的人员），请先导入人员名册（gridward import people） "
            f"no active people with role {roles} live in or near {area}"
        )
    if kind == "grids":
        params = params or GridParams(households_per_worker=get_settings().households_per_worker)
    elif kind == "alleys":
        params = params or StewardParams()
    # a duty ending today holds its slot today only (:func:`_starts`); the proposal is of the
    # staff from tomorrow, with the pairs that start then
    ending = current[_ends_on(current, day)]
    staying = current.drop(index=ending.index)
    # WHY not back where a duty ends today: a planner ended it (assign end); the person may
    # serve elsewhere from tomorrow (:func:`_starts`), not undo that end here
    ended = {(int(r.item_id), int(r.person_id)) for r in ending.itertuples(index=False)}
    load = elsewhere[["held_count", "held_m"]].add(later, fill_value=0)
    if kind != "grids":
        pairs, uncovered, summary = _solve_lines(
            kind, items, people, load, params, network, staying, rebalance, ended
        )
    else:
        grids = items.rename(columns={"item_id": "grid_id"}).rename_geometry("geometry")
        held = load["held_count"]
        if not rebalance and len(staying):
            # WHY solve the gaps only: solved whole, the solver's pick for a short grid was
            # often someone already serving another grid, dropped as taken, while a free
            # worker living in that grid was never proposed (outside tester: 5 grids short)
            have = staying.groupby(["item_id", "role"]).size().unstack(fill_value=0)
            for role, col in (("grid_leader", "leaders_held"), ("grid_worker", "workers_held")):
                counts = have[role] if role in have else pd.Series(dtype=int)
                grids[col] = grids["grid_id"].map(counts).fillna(0).astype(int)
            here = staying.groupby("person_id")["item_id"].nunique()
            held = here if held.empty else held.add(here, fill_value=0)
        people_left = _less_capacity(people, held, params.grids_per_person)
        res = staff_grids(grids, people_left, params, exclude=ended)
        pairs = res.assignments.rename(columns={"grid_id": "item_id"})
        short = res.short
        uncovered = short["grid_id"].tolist() if len(short) else []
        summary = res.summary
    keep_cols = [c for c in ("item_id", "person_id", "role", "walk_m", "distance_m") if c in pairs]
    pairs = pairs[keep_cols]
    if not rebalance and len(staying) and kind == "grids":
        pairs = _fill_gaps(staying, pairs, net=True)
        kept = pairs["distance_m"].isna()
        pairs.loc[kept, "distance_m"] = home_to_grid_m(
            grids,
            people,
            pairs.loc[kept, "item_id"].tolist(),
            pairs.loc[kept, "person_id"].tolist(),
        )
        wn = int((pairs["role"] == "grid_worker").sum())
        households = float(items["households"].astype(float).sum())
        summary = {  # the grids' staff after the commit, not only the new picks
            **summary,
            "leaders": int((pairs["role"] == "grid_leader").sum()),
            "workers": wn,
            "new": len(res.assignments),
            "households_per_worker": round(households / wn, 1) if wn else math.nan,
            "mean_distance_m": round(float(pd.to_numeric(pairs["distance_m"]).mean()), 1),
        }
    elif not rebalance and len(staying):
        solved = pairs
        pairs = _fill_gaps(staying, solved)
        # an (item, role) the gaps could not be filled for is short: say so with the
        # solver's own shortfalls
        keys = ["item_id", "role"]
        got = pairs.groupby(keys).size().reindex(solved.groupby(keys).size().index).fillna(0)
        lacking = got[got < solved.groupby(keys).size()].index.get_level_values("item_id")
        uncovered = sorted({int(u) for u in uncovered} | {int(u) for u in lacking})
    cur, new = set(_trips(staying)), set(_trips(pairs))
    need = _slots(items, kind, params)
    late = set(ending["person_id"].astype(int))
    if len(elsewhere):
        late |= set(elsewhere.index[elsewhere["ends_today"].astype(bool)])
    pairs = pairs.assign(
        valid_from=_starts(pairs, staying, ending, late, need, day),
        valid_to=_until(pairs, staying, planned, need),
    )
    # a stand-in whose planned successor comes before it could start is no duty
    void = pairs["valid_to"].notna() & (
        pairs["valid_to"] < pairs["valid_from"].fillna(day.isoformat())
    )
    uncovered = sorted({*map(int, uncovered), *pairs.loc[void, "item_id"].astype(int)})
    pairs = pairs[~void]
    short_from = _short_later(pairs, staying, planned, need, day)
    summary = {
        **summary,
        "starting_tomorrow": int(pairs["valid_from"].notna().sum()),
        "ending_today": len(ending),  # not in ``pairs``: they end tonight as set
        "until_planned": int(pairs["valid_to"].notna().sum()),  # stand-ins (:func:`_until`)
        "short_later": len(short_from),
    }
    if kind == "grids":  # a planner knows a grid by its code, not by its row id
        code = dict(zip(items["item_id"].astype(int), items["code"], strict=True))
        uncovered = [code[int(u)] for u in uncovered]
        short_from = [{**s, "item_id": code[s["item_id"]]} for s in short_from]
    return {
        "kind": kind,
        "area": area,
        "day": day.isoformat(),
        "rebalance": rebalance,
        "base_fingerprint": _fingerprint(current, planned, day),
        "pairs": [_plain_rec(r) for r in pairs.to_dict(orient="records")],
        "uncovered": [u if isinstance(u, str) else int(u) for u in uncovered],
        "short_from": short_from,
        "summary": _plain_rec(dict(summary)),
        "changes": {"keep": len(cur & new), "end": len(cur - new), "start": len(new - cur)},
        # holders one street or alley may have on a day: what the commit holds it to
        # (:func:`_refuse_line_clash`); a grid's leader is assign set's rule
        "holders_per_item": int(getattr(params, "stewards_per_alley", 1)),
        # duties planned by hand to start later: a commit brings forward the ones it repeats
        # and leaves the others as they are
        "planned": [
            {
                **_plain_rec(r),
                "valid_from": str(r["valid_from"])[:10],
                "valid_to": to.isoformat() if (to := _day(r["valid_to"])) else None,
            }
            for r in planned.drop(columns="id").to_dict(orient="records")
        ],
    }


def _plain_rec(rec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in rec.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        if isinstance(v, dict):
            v = _plain_rec(v)
        if isinstance(v, (list, tuple)):
            v = [x.item() if isinstance(x, np.generic) else x for x in v]
        out[k] = v
    return out


def commit(
    engine: Engine, proposal: dict[str, Any], actor: str | None = None, day: dt.date | None = None
) -> dict[str, int]:
    """Apply a proposal as dated changes; refused when the duties changed since it was made.
    One audit row ``assignments.commit`` for the area, with what changed per duty, so undoing a
    duty it started can give back what it ended (:func:`geo.duty_undo.undo_duty`)."""
    kind, area = proposal["kind"], proposal["area"]
    if kind not in KINDS:
        raise InputError(
            f"职责类型 '{kind}' 有误，请用 grids、streets 或 alleys "
            f"unknown assignment kind '{kind}'"
        )
    day = day or city_today()
    target = "grid_id" if kind == "grids" else "street_id"
    with engine.begin() as conn:
        a = _area(conn, area)
        conn.execute(text("SELECT id FROM areas WHERE id = :a FOR UPDATE"), {"a": a.id})
        if kind == "grids":
            items = _grids(conn, a.id)["item_id"].astype(int).tolist()
        else:
            kd = "alley" if kind == "alleys" else "street"
            items = _streets(conn, a.id, kd)["item_id"].astype(int).tolist()
        current = _current(conn, kind, items, day)
        planned = _planned(conn, kind, items, day)
        if _fingerprint(current, planned, day) != proposal["base_fingerprint"]:
            raise ConflictError(
                f"区域 {area} 的{KIND_ZH.get(kind, kind)}职责在生成此建议后已变动，请重新生成建议 "
                f"the {kind} duties of {area} changed since this proposal was made: propose again"
            )
        new = {(int(p["item_id"]), int(p["person_id"]), p["role"]) for p in proposal["pairs"]}
        starts = _pair_starts(proposal["pairs"], day)
        ends = {  # stand-ins until a planned duty (:func:`_until`)
            (int(p["item_id"]), int(p["person_id"]), p["role"]): dt.date.fromisoformat(v)
            for p in proposal["pairs"]
            if (v := p.get("valid_to"))
        }
        # a duty ending today is left to end tonight (:func:`propose`)
        current = current[~_ends_on(current, day)]
        have = set(_trips(current))
        gone = [
            int(r.id)
            for r in current.itertuples(index=False)
            if (int(r.item_id), int(r.person_id), r.role) not in new
        ]
        ended = _end_duties(conn, target, gone, day)
        later = {
            (int(r.item_id), int(r.person_id), r.role): (int(r.id), str(r.valid_from)[:10])
            for r in planned.itertuples(index=False)
        }
        # holders an item may have on a day: what the solver gives one, or the co-holders
        # (共管) the proposal keeps there, if more
        given = Counter(int(p["item_id"]) for p in proposal["pairs"])
        allowed = int(proposal.get("holders_per_item") or 1)

        def check(item: int, role: str, person: int, start: dt.date, end: dt.date | None) -> None:
            """Never what ``assign set`` refuses (tester Y, NEW-3), nor a street or alley
            duty beyond the holders the proposal gives one (:func:`_refuse_line_clash`)."""
            if kind == "grids":
                refuse_grid_clash(conn, item, role, person, start, end)
            else:
                _refuse_line_clash(conn, item, role, person, start, end, max(allowed, given[item]))

        brought: list[dict[str, Any]] = []
        inserted: list[int] = []
        later_starts: list[dict[str, Any]] = []
        for item_id, person_id, role in sorted(new - have):
            start = starts.get((item_id, person_id, role), day)
            if (item_id, person_id, role) in later:  # planned from a later day: bring it forward
                i, planned_from = later[(item_id, person_id, role)]
                if planned_from <= start.isoformat():
                    continue  # it starts by then already
                before = dt.date.fromisoformat(planned_from) - dt.timedelta(days=1)
                check(item_id, role, person_id, start, before)
                to = conn.execute(
                    text("UPDATE assignments SET valid_from = :d WHERE id = :i RETURNING valid_to"),
                    {"d": start, "i": i},
                ).scalar_one()
                brought.append(
                    {"id": i, "person_id": person_id, "role": role, "target": item_id,
                     "valid_from": planned_from, "valid_from_after": start.isoformat(),
                     "valid_to": to.isoformat() if to else None}
                )  # fmt: skip
                continue
            end = ends.get((item_id, person_id, role))
            if end is not None and end < start:
                continue  # a stand-in until a planned duty that has begun by now
            check(item_id, role, person_id, start, end)
            inserted.append(
                conn.execute(
                    text(
                        f"INSERT INTO assignments (person_id, role, {target}, valid_from, "
                        "valid_to, created_by) VALUES (:p, :r, :i, :d, :e, :by) RETURNING id"
                    ),
                    {"p": person_id, "r": role, "i": item_id, "d": start, "e": end, "by": actor},
                ).scalar_one()
            )
            if start > day:
                later_starts.append({"id": inserted[-1], "valid_from": start.isoformat()})
        counts = {
            "started": len(brought) + len(inserted),
            "ended": len(ended),
            "kept": len(new & have),
            "starting_tomorrow": len(later_starts),  # of those started: the day after ``day``
        }
        audit.record(
            conn,
            actor,
            "assignments.commit",
            "area",
            area,
            {
                "kind": kind,
                "day": day.isoformat(),
                **counts,
                "ended_duties": ended,
                "brought_forward": brought,
                "inserted": inserted,
                "inserted_later": later_starts,  # inserted from a later day than ``day``
                # what finds this commit from a duty id (index ix_audit_log_commit_started)
                "started_ids": inserted + [b["id"] for b in brought],
            },
        )
    return counts


def _refuse_line_clash(
    conn: Connection,
    street_id: int,
    role: str,
    person_id: int,
    start: dt.date,
    end: dt.date | None,
    allowed: int,
) -> None:
    """ConflictError when ``person_id`` taking ``role`` on street or alley ``street_id`` for
    [start, end] would hold it twice on a day (the one rule ``assign set`` keeps for streets
    and alleys: it adds co-holders, 共管, freely, and :mod:`geo.duties` exports no check for
    them), or give it more holders on a day than ``allowed`` (a street's one chief, an alley's
    stewards, or the co-holders its proposal keeps). WHY: a commit left a street a chief from
    today, open-ended, beside the chief planned from next week (two chiefs from then on)."""
    rows = conn.execute(
        text(
            "SELECT a.person_id, a.valid_from, a.valid_to, p.external_id, p.name, "
            "st.name AS street, st.kind FROM assignments a JOIN people p ON p.id = a.person_id "
            "JOIN streets st ON st.id = a.street_id WHERE a.street_id = :s AND a.role = :r "
            "AND (CAST(:e AS date) IS NULL OR a.valid_from <= CAST(:e AS date)) "
            "AND (a.valid_to IS NULL OR a.valid_to >= :d) ORDER BY a.valid_from FOR UPDATE OF a"
        ),
        {"s": street_id, "r": role, "e": end, "d": start},
    ).all()
    if not rows:
        return
    role_label_zh, role_label = ROLE_LABELS[role].split(" ", 1)
    zh_kind = TARGET_LABELS[rows[0].kind].split()[0]
    label = f"{rows[0].kind} {rows[0].street or ''} (#{street_id})"
    zlabel = f"{zh_kind} {rows[0].street or ''}（id:{street_id}）"  # the house's id:N
    period = f"{start} – {end or '(open-ended)'}"
    zperiod = f"{start} 至 {end}" if end else f"{start} 起（长期）"

    def spans(rs: list[Any]) -> str:
        return "; ".join(
            f"{r.name} ({r.external_id}) {r.valid_from} – {r.valid_to or '(open-ended)'}"
            for r in rs
        )

    def zspans(rs: list[Any]) -> str:
        return "；".join(
            f"{r.name} ({r.external_id}) {r.valid_from} "
            + (f"至 {r.valid_to}" if r.valid_to else "起（长期）")
            for r in rs
        )

    own = [r for r in rows if int(r.person_id) == person_id]
    if own:
        raise ConflictError(
            f"{zlabel}：此人已是{role_label_zh}（{zspans(own)}），与 {zperiod} 重叠"
            "（assign set 同样会拒绝），未做更改 "
            f"— {label}: they already hold it as {role_label} for {spans(own)}, which overlaps "
            f"{period} (assign set refuses the same): nothing changed"
        )
    others = [r for r in rows if int(r.person_id) != person_id]
    if _most_at_once([(r.valid_from, r.valid_to) for r in others], start, end) >= allowed:
        raise ConflictError(
            f"{zlabel}在此期间（{zperiod}）的某天已有{role_label_zh}（共 {allowed} 名："
            f"{zspans(others)}），"
            "多于此建议给它的人数：请重新生成建议（未做更改） "
            f"— {label} already has its {allowed} {role_label}(s) on a day of "
            f"{period} ({spans(others)}), more than the proposal gives it: propose again "
            "(nothing changed)"
        )


def _most_at_once(
    spans: list[tuple[dt.date, dt.date | None]], start: dt.date, end: dt.date | None
) -> int:
    """The most of ``spans`` (inclusive, None: open-ended) in force on one day of
    [start, end]."""
    events: list[tuple[dt.date, int]] = []
    for s, e in spans:
        last = e if end is None else (end if e is None else min(e, end))
        events.append((max(s, start), 1))
        if last is not None:
            events.append((last + dt.timedelta(days=1), -1))
    most = now = 0
    for _d, step in sorted(events):  # an end (-1) before a start on the same day
        now += step
        most = max(most, now)
    return most


def _pair_starts(pairs: list[dict[str, Any]], day: dt.date) -> dict[tuple, dt.date]:
    """The pairs of a proposal that start later than ``day`` (:func:`_starts`), by (item,
    person, role); a proposal committed on a later day starts them that day at the latest."""
    out = {}
    for p in pairs:
        if p.get("valid_from"):
            start = max(dt.date.fromisoformat(p["valid_from"]), day)
            if start > day:
                out[(int(p["item_id"]), int(p["person_id"]), p["role"])] = start
    return out


def _end_duties(
    conn: Connection, target: str, ids: list[int], day: dt.date
) -> list[dict[str, Any]]:
    """End duties ``ids`` the day before ``day``; one starting on ``day`` never took effect and
    is deleted. Returns each as it was (JSON, for the audit): ``valid_to_after``, or
    ``removed`` with the whole row (an undo puts it back under its id)."""
    y = day - dt.timedelta(days=1)
    rows = conn.execute(
        text(
            f"SELECT id, person_id, role, {target} AS target, valid_from, valid_to, created_by, "
            "created_at FROM assignments WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
        ),
        {"ids": ids},
    ).all()
    conn.execute(
        text("UPDATE assignments SET valid_to = :y WHERE id = ANY(:ids) AND valid_from <= :y"),
        {"ids": ids, "y": y},
    )
    conn.execute(
        text("DELETE FROM assignments WHERE id = ANY(:ids) AND valid_from > :y"),
        {"ids": ids, "y": y},
    )
    out = []
    for r in rows:
        rec: dict[str, Any] = {
            "id": int(r.id),
            "person_id": int(r.person_id),
            "role": r.role,
            "target": int(r.target),
            "valid_from": r.valid_from.isoformat(),
            "valid_to": r.valid_to.isoformat() if r.valid_to else None,
        }
        if r.valid_from > y:
            rec.update(removed=True, created_by=r.created_by, created_at=r.created_at.isoformat())
        else:
            rec["valid_to_after"] = y.isoformat()
        out.append(rec)
    return out


# A duty with its holder and what it is held on: the one query of GET
# /people/{id}/duties and GET /assignments (WHERE, ORDER BY and paging added by each), so the
# two agree row for row. Unlike the roster's (geo.roster_export), it keeps people who left
# and retired grids and streets: a past day's duties, a leaver's last day, a duty left on a
# street a re-import retired (``street_retired``) are in force all the same.
_DUTY_SQL = (
    "SELECT a.id, a.person_id, p.external_id, p.name AS person_name, a.role, a.valid_from, "
    f"a.valid_to, a.grid_id, g.code AS grid_code, {grid_label_sql('gc')} AS grid_name, "
    "a.street_id, st.key AS street_key, st.name AS street_name, st.kind, st.length_m, "
    "st.retired_at AS street_retired_at FROM assignments a JOIN people p ON p.id = a.person_id "
    "LEFT JOIN grids g ON g.id = a.grid_id LEFT JOIN areas gc ON gc.id = g.community_id "
    "LEFT JOIN streets st ON st.id = a.street_id "
)
_IN_FORCE = "a.valid_from <= :d AND (a.valid_to IS NULL OR a.valid_to >= :d)"


def _duty_row(r: Any) -> dict[str, Any]:
    """A duty as GET /people/{id}/duties gives it."""
    return {
        "id": r.id,  # what ``assign undo --duty`` / ``DELETE /assignments/{id}`` take
        "role": r.role,
        "valid_from": r.valid_from.isoformat(),
        "valid_to": r.valid_to.isoformat() if r.valid_to else None,
        "grid_code": r.grid_code,
        "street_id": r.street_id,
        "street_name": r.street_name,
        "kind": r.kind,
        "length_m": round(r.length_m, 1) if r.length_m is not None else None,
        # gone from the street network at a re-import: nothing left to walk or watch
        "street_retired": r.street_retired_at is not None if r.street_id else None,
    }


def _holder_row(r: Any) -> dict[str, Any]:
    """A duty as GET /assignments gives it: the person's, and its target as POST
    /assignments answers it (a grid with its label as name)."""
    if r.grid_id is not None:
        target = {"kind": "grid", "id": r.grid_id, "code": r.grid_code, "name": r.grid_name}
    else:
        target = {"kind": r.kind, "id": r.street_id, "key": r.street_key, "name": r.street_name}
    return {
        "id": r.id,
        "person_id": r.person_id,
        "person": r.external_id,
        "name": r.person_name,
        **_duty_row(r),
        "target": target,
    }


def duties(
    engine: Engine, person_id: int, day: dt.date | None = None, every: bool = False
) -> list[dict[str, Any]]:
    """A person's duties in force on ``day`` (default today), or ``every`` duty they were
    ever given (past and planned: where a planner finds the id of one to undo), with what
    they are for. NotFoundError for a person who does not exist."""
    day = day or city_today()
    with engine.connect() as conn:
        _person_exists(conn, person_id)
        rows = conn.execute(
            text(
                f"{_DUTY_SQL} WHERE a.person_id = :p AND (:every OR ({_IN_FORCE})) "
                "ORDER BY a.role, a.valid_from, a.id"
            ),
            {"p": person_id, "d": day, "every": every},
        ).all()
    return [_duty_row(r) for r in rows]


def _person_exists(conn: Connection, person_id: int) -> None:
    if conn.execute(text("SELECT 1 FROM people WHERE id = :p"), {"p": person_id}).first() is None:
        raise NotFoundError(
            f"人员（系统编号 id:{person_id}）不存在 person {person_id} does not exist"
        )


# the streets and alleys held on day :d near area :s (or an area under it): the only ones
# to place by the rule, which is worked out street by street
_HELD_NEAR = (
    f"WHERE {near_area_sql(':s')} AND st.id IN (SELECT h.street_id FROM assignments h "
    "WHERE h.valid_from <= :d AND (h.valid_to IS NULL OR h.valid_to >= :d))"
)
# a duty on a grid of area :s (its community, or one under it by parent link) or on one of
# its streets and alleys (area code :code, by the rule of geo.street_areas)
_IN_AREA = (
    f"(g.community_id IN ({_UNDER}SELECT id FROM under) OR a.street_id IN (SELECT x.alley_id "
    f"FROM ({street_areas_sql(_HELD_NEAR)}) x "
    f"WHERE :code IN ({', '.join('x.' + c for c in AREA_CODES)})))"
)


def duties_in_force(
    engine: Engine,
    day: dt.date | None = None,
    area: str | None = None,
    role: str | None = None,
    person_id: int | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    """Everyone's duties in force on ``day`` (default today), each as
    :func:`duties` gives it with its holder and target, ordered by person (system id), then
    as :func:`duties` orders them; ``total`` counts them all, ``limit``/``offset`` page them.
    ``area`` (a community, subdistrict or district code; NotFoundError if none) keeps the
    duties on its grids (by parent link) and its streets and alleys (the community holding
    most of one: :mod:`geo.street_areas`, the rule of planners' rights and coverage).
    WHY (T67 #10): a sync job read everyone's duties with one call per person (191 calls,
    3.7 s in the demo city; about 50 s for 2,400 stewards)."""
    day = day or city_today()
    where = [_IN_FORCE]
    params: dict[str, Any] = {"d": day, "n": limit, "o": offset}
    with engine.connect() as conn:
        if person_id is not None:
            _person_exists(conn, person_id)
            where.append("a.person_id = :p")
            params["p"] = person_id
        if role is not None:
            where.append("a.role = :r")
            params["r"] = role
        if area is not None:
            where.append(_IN_AREA)
            params.update(s=_area(conn, area).id, code=area)
        sql = f"{_DUTY_SQL} WHERE {' AND '.join(where)}"
        total = conn.execute(text(f"SELECT count(*) FROM ({sql}) x"), params).scalar_one()
        rows = conn.execute(
            text(f"{sql} ORDER BY a.person_id, a.role, a.valid_from, a.id LIMIT :n OFFSET :o"),
            params,
        ).all()
    return {
        "date": day.isoformat(),
        "area": area,
        "total": int(total),
        "limit": limit,
        "offset": offset,
        "duties": [_holder_row(r) for r in rows],
    }


def coverage_rates(engine: Engine, area: str, day: dt.date | None = None) -> dict[str, Any]:
    """覆盖率 for an area on a day: alleys with a steward, streets with a chief, grids fully
    staffed, households per full-time worker."""
    from geo.assign.grids import staff_shortfall, workers_needed
    from geo.settings import get_settings

    day = day or city_today()
    ratio = get_settings().households_per_worker
    with engine.connect() as conn:
        a = _area(conn, area)
        out: dict[str, Any] = {"area": area, "day": day.isoformat()}
        for kind, role in (("alley", "alley_steward"), ("street", "street_chief")):
            items = _streets(conn, a.id, kind)["item_id"].astype(int).tolist()
            covered = conn.execute(
                text(
                    "SELECT count(DISTINCT street_id) FROM assignments WHERE role = :r "
                    "AND street_id = ANY(CAST(:ids AS int[])) AND valid_from <= :d "
                    "AND (valid_to IS NULL OR valid_to >= :d)"
                ),
                {"r": role, "ids": items, "d": day},
            ).scalar_one()
            out[f"{kind}s"] = len(items)
            out[f"{kind}s_covered"] = int(covered)
            out[f"{kind}_coverage"] = round(covered / len(items), 4) if items else None
        grids = _grids(conn, a.id)
        staff = read_frame(
            text(
                "SELECT grid_id, role, count(*) AS n FROM assignments WHERE grid_id = "
                "ANY(CAST(:ids AS int[])) AND valid_from <= :d AND (valid_to IS NULL OR "
                "valid_to >= :d) GROUP BY grid_id, role"
            ),
            conn,
            params={"ids": grids["item_id"].astype(int).tolist(), "d": day},
        )
    lead = staff[staff["role"] == "grid_leader"].set_index("grid_id")["n"]
    work = staff[staff["role"] == "grid_worker"].set_index("grid_id")["n"]
    need = workers_needed(grids["households"].to_numpy(float), ratio)
    full = [
        staff_shortfall(int(lead.get(g, 0)), int(work.get(g, 0)), n) is None
        for g, n in zip(grids["item_id"], need, strict=True)
    ]
    out["grids"] = len(grids)
    out["grids_fully_staffed"] = int(sum(full))
    out["grid_staffing_rate"] = round(sum(full) / len(grids), 4) if len(grids) else None
    workers = int(work.sum()) if len(work) else 0
    out["households"] = int(grids["households"].sum()) if len(grids) else 0
    out["households_per_worker"] = round(out["households"] / workers, 1) if workers else None
    return json.loads(json.dumps(out))

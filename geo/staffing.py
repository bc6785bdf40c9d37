"""People and duties in PostGIS: the registry, assignment proposals and commits, leavers.

The solvers in :mod:`geo.assign` are pure; this module loads an area's alleys, streets or grids,
its people and the duties in force, asks the solver for a proposal, and commits a proposal as
dated changes: a duty that ends gets ``valid_to`` (yesterday), a new duty starts today, and a
duty that stays is not touched. Past reports therefore keep reading the duties of their days.
Grids alone: a duty starts tomorrow where today's slot or its person is still held until
tonight (:func:`_starts`), and ends the day before a leader or role planned by hand on that
grid begins (:func:`_until`); the commit writes no grid duty ``assign set`` would refuse
(:func:`geo.duties.refuse_grid_clash`).
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
from geo.duties import refuse_grid_clash
from geo.errors import ConflictError, InputError, NotFoundError
from geo.settings import city_today
from geo.sql_frames import read_frame, read_geoframe
from geo.street_areas import streets_of_area_sql

KINDS = {
    "alleys": ("alley_steward",),
    "streets": ("street_chief",),
    "grids": ("grid_leader", "grid_worker"),
}


def _area(conn: Connection, code: str) -> Any:
    row = conn.execute(
        text("SELECT id, code, level FROM areas WHERE code = :c"), {"c": code}
    ).first()
    if row is None:
        raise NotFoundError(f"area {code} does not exist")
    return row


def _people(conn: Connection, area_id: int, roles: tuple[str, ...]) -> pd.DataFrame:
    """Active people with one of ``roles`` living in the area or within 2 km of it."""
    df = read_frame(
        text(
            "SELECT p.id AS person_id, ST_X(p.home) AS lon, ST_Y(p.home) AS lat, p.capacity, "
            "array_to_string(p.roles, ';') AS roles, p.part_time FROM people p, areas a "
            "WHERE a.id = :a AND p.active AND p.home IS NOT NULL AND p.roles && CAST(:r AS text[]) "
            "AND ST_DWithin(p.home::geography, a.geom::geography, 2000) ORDER BY p.id"
        ),
        conn,
        params={"a": area_id, "r": list(roles)},
    )
    return df


def _held_elsewhere(
    conn: Connection, kind: str, people: pd.DataFrame, items: pd.DataFrame, day: dt.date
) -> pd.DataFrame:
    """Per person (of ``people``, index ``person_id``), the duties of ``kind`` outside ``items``
    in force on ``day``: ``held_count`` and, for alleys and streets, ``held_m`` (their length);
    for grids, those on current grids going on after ``day`` (``ends_today``: one ends on it).
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
        # street (no segments left after a re-import) has nothing left to walk: no load
        sql = (
            "SELECT h.person_id, count(*), coalesce(sum(ST_Length(st.geom::geography)), 0), false "
            "FROM (SELECT DISTINCT person_id, street_id FROM assignments WHERE role = "
            "ANY(CAST(:r AS text[])) AND street_id IS NOT NULL AND NOT (street_id = ANY(:ids)) "
            "AND person_id = ANY(:p) AND valid_from <= :d AND (valid_to IS NULL OR "
            "valid_to >= :d)) h JOIN streets st ON st.id = h.street_id "
            "WHERE st.retired_at IS NULL GROUP BY h.person_id"
        )
        args["r"] = list(KINDS[kind])
    rows = conn.execute(text(sql), args).all()
    return pd.DataFrame(
        [(int(n), float(m), bool(e)) for _p, n, m, e in rows],
        index=pd.Index([int(r[0]) for r in rows], name="person_id"),
        columns=cols,
    )


def _starts(
    pairs: pd.DataFrame,
    staying: pd.DataFrame,
    ending: pd.DataFrame,
    late: set[int],
    need: dict[tuple[int, str], int],
    day: dt.date,
) -> pd.Series:
    """Per grid pair, the day its duty starts when later than ``day`` (None: on ``day``).
    Tomorrow, WHY: (1) its person is ``late``: a duty of theirs on a current grid ends on
    ``day``, so starting today they would hold two grids that day (a plan commit once freed
    people this way: tester W, F8); (2) it fills a slot a duty ending on ``day`` holds until
    tonight (tester Y, NEW-4: such slots were counted as filled, 100 % staffed while the grid
    was short from tomorrow), which starting today would give two leaders, or one worker too
    many, for a day. A slot empty today is filled today, the nearest pick first."""
    kept = {(int(r.item_id), int(r.person_id), r.role) for r in staying.itertuples(index=False)}
    trip = dict(
        zip(
            pairs.index,
            [(int(r.item_id), int(r.person_id), r.role) for r in pairs.itertuples(index=False)],
            strict=True,
        )
    )
    # today's holders per slot: the kept duties and those ending today
    today = Counter((i, ro) for i, p, ro in trip.values() if (i, p, ro) in kept)
    today.update((int(r.item_id), r.role) for r in ending.itertuples(index=False))
    room = {k: n - today[k] for k, n in need.items()}
    nxt = (day + dt.timedelta(days=1)).isoformat()
    out = pd.Series(None, index=pairs.index, dtype=object)
    near = pd.to_numeric(pairs["distance_m"], errors="coerce").sort_values(kind="stable").index
    for ix in near:
        item, person, role = trip[ix]
        if (item, person, role) in kept:
            continue
        if person in late or room.get((item, role), 0) <= 0:
            out[ix] = nxt
        else:
            room[(item, role)] -= 1
    return out


def _until(pairs: pd.DataFrame, staying: pd.DataFrame, planned: pd.DataFrame) -> pd.Series:
    """Per new grid pair, its last day when a duty planned on that grid would clash with it
    open-ended: a leader where another leader is planned (1+N), or its person planned there
    in another role (one role per grid). WHY end it the day before and not leave the slot
    empty: the grid is staffed until the planned holder comes (a stand-in, as ``assign set
    --replace --to`` makes); from then on the plan holds, as ``assign set`` would insist."""
    from geo.duties import SOLE_ROLES

    kept = {(int(r.item_id), int(r.person_id), r.role) for r in staying.itertuples(index=False)}
    out = pd.Series(None, index=pairs.index, dtype=object)
    if planned.empty:
        return out
    for ix, r in zip(pairs.index, pairs.itertuples(index=False), strict=True):
        item, person = int(r.item_id), int(r.person_id)
        if (item, person, r.role) in kept:
            continue
        on = planned[planned["item_id"].astype(int) == item]
        who = on["person_id"].astype(int)
        clash = on[
            ((who != person) & (on["role"] == r.role) & (r.role in SOLE_ROLES))
            | ((who == person) & (on["role"] != r.role))
        ]
        if len(clash):
            first = min(pd.Timestamp(v).date() for v in clash["valid_from"])
            out[ix] = (first - dt.timedelta(days=1)).isoformat()
    return out


def _slots(items: pd.DataFrame, gp: Any) -> dict[tuple[int, str], int]:
    """Per (grid, role), the holders a grid needs (1+N: ``leaders_per_grid`` and 1 worker per
    ``households_per_worker``), as :func:`geo.assign.grids.staff_grids` counts them."""
    from geo.assign.grids import workers_needed

    ids = items["item_id"].astype(int).tolist()
    work = workers_needed(items["households"].to_numpy(), gp.households_per_worker)
    return {
        **{(g, "grid_leader"): int(gp.leaders_per_grid) for g in ids},
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
            f"SELECT id, {target} AS item_id, person_id, role, valid_from FROM assignments "
            f"WHERE {target} = ANY(CAST(:ids AS int[])) AND role = ANY(CAST(:roles AS text[])) "
            "AND valid_from > :d ORDER BY valid_from, id"
        ),
        conn,
        params={"ids": item_ids, "roles": list(KINDS[kind]), "d": day},
    )


def _ends_on(current: pd.DataFrame, day: dt.date) -> pd.Series:
    """Which duties of ``current`` end on ``day`` (their last day)."""
    return pd.to_datetime(current["valid_to"]) == pd.Timestamp(day)


def _planned_load(conn: Connection, people: pd.DataFrame, day: dt.date) -> pd.Series:
    """Per person, the current grids they are planned to take on after ``day`` (by hand,
    :mod:`geo.duties`). WHY counted as held now: a proposal's duties are open-ended, so a person
    given one would hold two grids (lead two) from the planned day on (tester Y, NEW-3). The
    solver's capacity is a count, not a calendar: the simplest consistent rule is to take them
    from now, so the grid they would have served gets someone who stays, not a stand-in who
    must leave on the planned day."""
    if people.empty:
        return pd.Series(dtype=float)
    rows = conn.execute(
        text(
            "SELECT a.person_id, count(DISTINCT a.grid_id) FROM assignments a JOIN grids g "
            "ON g.id = a.grid_id WHERE g.retired_at IS NULL AND a.valid_from > :d "
            "AND a.person_id = ANY(:p) GROUP BY a.person_id"
        ),
        {"d": day, "p": people["person_id"].astype(int).tolist()},
    ).all()
    return pd.Series({int(p): float(n) for p, n in rows}, dtype=float)


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

    ``uncovered`` names streets and alleys by id, grids by code. A grid pair's ``valid_from``
    is the day after ``day`` for a person whose duty on another grid ends on ``day``
    (:func:`_starts`); null: it starts on the commit's day."""
    from geo.assign.chiefs import assign_chiefs
    from geo.assign.grids import GridParams, home_to_grid_m, staff_grids
    from geo.assign.stewards import assign_stewards
    from geo.settings import get_settings

    if kind not in KINDS:
        raise InputError(f"unknown assignment kind '{kind}': use grids, streets or alleys")
    day = day or city_today()
    with engine.connect() as conn:
        a = _area(conn, area)
        people = _people(conn, a.id, KINDS[kind])
        if kind == "grids":
            items = _grids(conn, a.id)
        else:
            items = _streets(conn, a.id, "alley" if kind == "alleys" else "street")
        if items.empty:
            what = {"grids": "current grids", "alleys": "alleys", "streets": "streets"}[kind]
            raise InputError(f"area {area} has no {what} to staff")
        current = _current(conn, kind, items["item_id"].astype(int).tolist(), day)
        planned = _planned(conn, kind, items["item_id"].astype(int).tolist(), day)
        network = _network(conn, a.id) if kind != "grids" else None
        elsewhere = _held_elsewhere(conn, kind, people, items, day)
        later = _planned_load(conn, people, day) if kind == "grids" else pd.Series(dtype=float)
    if people.empty:
        raise InputError(
            f"no active people with role {' or '.join(KINDS[kind])} live in or near {area}"
        )
    # grids: a duty ending today holds its slot today only (:func:`_starts`); the proposal
    # is of the staff from tomorrow, with the pairs that start then
    ending = current[_ends_on(current, day)] if kind == "grids" else current.iloc[:0]
    staying = current.drop(index=ending.index)
    existing = current.rename(columns={"item_id": "alley_id"})
    if kind == "alleys":
        res = assign_stewards(
            items.rename(columns={"item_id": "alley_id"}).rename_geometry("geometry"),
            _with_held(people, elsewhere),
            params,
            network=network.rename_geometry("geometry"),
            existing=existing[["alley_id", "person_id"]],
            rebalance=rebalance,
        )
        pairs = res.assignments.rename(columns={"alley_id": "item_id"}).assign(role="alley_steward")
        uncovered, summary = list(res.uncovered), res.summary
    elif kind == "streets":
        res = assign_chiefs(
            items.rename(columns={"item_id": "street_id"}).rename_geometry("geometry"),
            _with_held(people, elsewhere),
            params,
            network=network.rename_geometry("geometry"),
            existing=current.rename(columns={"item_id": "street_id"})[["street_id", "person_id"]],
            rebalance=rebalance,
        )
        pairs = res.assignments.rename(columns={"street_id": "item_id"}).assign(role="street_chief")
        uncovered, summary = list(res.uncovered), res.summary
    else:
        gp = params or GridParams(households_per_worker=get_settings().households_per_worker)
        grids = items.rename(columns={"item_id": "grid_id"}).rename_geometry("geometry")
        held = elsewhere["held_count"].add(later, fill_value=0)
        if not rebalance and len(staying):
            # WHY solve the gaps only: solved whole, the solver's pick for a short grid was
            # often someone already serving another grid, dropped as taken, while a free
            # worker living in that grid was never proposed (outside tester: 5 grids short)
            have = staying.groupby(["item_id", "role"]).size().unstack(fill_value=0)
            for role, col in (("grid_leader", "leaders_held"), ("grid_worker", "workers_held")):
                counts = have[role] if role in have else pd.Series(dtype=int)
                grids[col] = grids["grid_id"].map(counts).fillna(0).astype(int)
            here = staying.groupby("person_id")["item_id"].nunique()
            held = here if held is None or held.empty else held.add(here, fill_value=0)
        # WHY not back where a duty ends today: a planner ended it (assign end); the person
        # may serve elsewhere from tomorrow (:func:`_starts`), not undo that end here
        ended = {(int(r.item_id), int(r.person_id)) for r in ending.itertuples(index=False)}
        people_left = _less_capacity(people, held, gp.grids_per_person)
        res = staff_grids(grids, people_left, gp, exclude=ended)
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
    elif not rebalance and len(current):
        solved = pairs
        pairs = _fill_gaps(current, solved)
        # an (item, role) the gaps could not be filled for is short: say so with the
        # solver's own shortfalls
        keys = ["item_id", "role"]
        got = pairs.groupby(keys).size().reindex(solved.groupby(keys).size().index).fillna(0)
        lacking = got[got < solved.groupby(keys).size()].index.get_level_values("item_id")
        uncovered = sorted({int(u) for u in uncovered} | {int(u) for u in lacking})
    cur = {(int(r.item_id), int(r.person_id), r.role) for r in staying.itertuples(index=False)}
    new = {(int(r.item_id), int(r.person_id), r.role) for r in pairs.itertuples(index=False)}
    if kind == "grids":
        late = set(ending["person_id"].astype(int))
        if len(elsewhere):
            late |= set(elsewhere.index[elsewhere["ends_today"].astype(bool)])
        pairs = pairs.assign(
            valid_from=_starts(pairs, staying, ending, late, _slots(items, gp), day),
            valid_to=_until(pairs, staying, planned),
        )
        # a stand-in whose planned successor comes before it could start is no duty
        void = pairs["valid_to"].notna() & (
            pairs["valid_to"] < pairs["valid_from"].fillna(day.isoformat())
        )
        uncovered = sorted({*map(int, uncovered), *pairs.loc[void, "item_id"].astype(int)})
        pairs = pairs[~void]
        summary = {
            **summary,
            "starting_tomorrow": int(pairs["valid_from"].notna().sum()),
            "ending_today": len(ending),  # not in ``pairs``: they end tonight as set
            "until_planned": int(pairs["valid_to"].notna().sum()),  # stand-ins (:func:`_until`)
        }
        # a planner knows a grid by its code, not by its row id
        code = dict(zip(items["item_id"].astype(int), items["code"], strict=True))
        uncovered = [code[int(u)] for u in uncovered]
    return {
        "kind": kind,
        "area": area,
        "day": day.isoformat(),
        "rebalance": rebalance,
        "base_fingerprint": _fingerprint(current, planned, day),
        "pairs": [_plain_rec(r) for r in pairs.to_dict(orient="records")],
        "uncovered": [u if isinstance(u, str) else int(u) for u in uncovered],
        "summary": _plain_rec(dict(summary)),
        "changes": {"keep": len(cur & new), "end": len(cur - new), "start": len(new - cur)},
        # duties planned by hand to start later: a commit brings forward the ones it repeats
        # and leaves the others as they are
        "planned": [
            {**_plain_rec(r), "valid_from": str(r["valid_from"])[:10]}
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
        raise InputError(f"unknown assignment kind '{kind}'")
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
                f"the {kind} duties of {area} changed since this proposal was made: propose again"
            )
        new = {(int(p["item_id"]), int(p["person_id"]), p["role"]) for p in proposal["pairs"]}
        starts = _pair_starts(proposal["pairs"], day)
        ends = {  # stand-ins until a planned duty (:func:`_until`)
            (int(p["item_id"]), int(p["person_id"]), p["role"]): dt.date.fromisoformat(v)
            for p in proposal["pairs"]
            if (v := p.get("valid_to"))
        }
        # a grid duty ending today is left to end tonight (:func:`propose`)
        if kind == "grids":
            current = current[~_ends_on(current, day)]
        have = {(int(r.item_id), int(r.person_id), r.role) for r in current.itertuples(index=False)}
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
        brought: list[dict[str, Any]] = []
        inserted: list[int] = []
        later_starts: list[dict[str, Any]] = []
        for item_id, person_id, role in sorted(new - have):
            start = starts.get((item_id, person_id, role), day)
            if (item_id, person_id, role) in later:  # planned from a later day: bring it forward
                i, planned_from = later[(item_id, person_id, role)]
                if planned_from <= start.isoformat():
                    continue  # it starts by then already
                if kind == "grids":
                    before = dt.date.fromisoformat(planned_from) - dt.timedelta(days=1)
                    refuse_grid_clash(conn, item_id, role, person_id, start, before)
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
            if kind == "grids":  # never what ``assign set`` refuses (tester Y, NEW-3)
                refuse_grid_clash(conn, item_id, role, person_id, start, end)
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


def duties(
    engine: Engine, person_id: int, day: dt.date | None = None, every: bool = False
) -> list[dict[str, Any]]:
    """A person's duties in force on ``day`` (default today), or ``every`` duty they were
    ever given (past and planned: where a planner finds the id of one to undo), with what
    they are for. NotFoundError for a person who does not exist."""
    day = day or city_today()
    with engine.connect() as conn:
        if (
            conn.execute(text("SELECT 1 FROM people WHERE id = :p"), {"p": person_id}).first()
            is None
        ):
            raise NotFoundError(f"person {person_id} does not exist")
        rows = conn.execute(
            text(
                "SELECT a.id, a.role, a.valid_from, a.valid_to, a.grid_id, g.code AS grid_code, "
                "a.street_id, st.name AS street_name, st.kind, st.length_m, "
                "st.retired_at AS street_retired_at FROM assignments a "
                "LEFT JOIN grids g ON g.id = a.grid_id LEFT JOIN streets st ON st.id = a.street_id "
                "WHERE a.person_id = :p AND (:every OR (a.valid_from <= :d "
                "AND (a.valid_to IS NULL OR a.valid_to >= :d))) ORDER BY a.role, a.valid_from, a.id"
            ),
            {"p": person_id, "d": day, "every": every},
        ).all()
    return [
        {
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
        for r in rows
    ]


def coverage_rates(engine: Engine, area: str, day: dt.date | None = None) -> dict[str, Any]:
    """覆盖率 for an area on a day: alleys with a steward, streets with a chief, grids fully
    staffed, households per full-time worker."""
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
    need = np.ceil(grids["households"].to_numpy(float) / ratio)
    full = [
        (lead.get(g, 0) >= 1) and (work.get(g, 0) >= n)
        for g, n in zip(grids["item_id"], need, strict=True)
    ]
    out["grids"] = len(grids)
    out["grids_fully_staffed"] = int(sum(full))
    out["grid_staffing_rate"] = round(sum(full) / len(grids), 4) if len(grids) else None
    workers = int(work.sum()) if len(work) else 0
    out["households"] = int(grids["households"].sum()) if len(grids) else 0
    out["households_per_worker"] = round(out["households"] / workers, 1) if workers else None
    return json.loads(json.dumps(out))

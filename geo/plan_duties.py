"""Grid duties through a plan commit: they follow the PLACE, not the grid code.

Why: a plan's codes are numbered by position (west→east, north→south), so after a
re-partition code 005 may be a different block; duties kept "on the grid of the same code"
sent a 1080-household building's 11 workers to a 215-household block, and a draft of the
same grids listed in another order ended every duty (tester W, F1).

Each retired level-1 grid has one successor: the new grid holding most of its households
(by building membership), or, when it had none, most of its area. A duty in force on the
commit day is carried to that successor the way a staffing commit changes duties
(:mod:`geo.staffing`): the old duty ends the day before (valid_to = yesterday) and an equal
duty starts on the successor that day, so history keeps which old grid each person held
until when, and nobody holds two grids on one day. A duty that has never been in force
(starting on the commit day or later) moves to the successor unchanged: no history to keep.

A duty is not carried when it would clash on the successor (a second leader of one grid
over the same days: 1+N; the same person twice in one role): the duty whose old grid gave
the successor most of its households is carried, the others end yesterday (or, never in
force, starting on the commit day or later, are removed) and are listed, as are the duties of
a grid with no successor. Codes are left as the plan numbered them; the answer maps each old
code to its successor's code instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from geo.duties import SOLE_ROLES

# Households (and area, m²) each retired level-1 grid shares with each new one. A grid's
# buildings are its stored building_ids (every committed plan keeps them), else those whose
# inner point it covers.
_SHARES_SQL = """
WITH o AS (SELECT id, geom, properties FROM grids WHERE id = ANY(:old)),
n AS (SELECT id, geom, properties FROM grids
      WHERE community_id = :a AND version = :v AND level = 1),
g AS (SELECT * FROM o UNION ALL SELECT * FROM n),
m AS (
  SELECT g.id AS gid, (jsonb_array_elements_text(g.properties -> 'building_ids'))::int AS bid
  FROM g WHERE jsonb_typeof(g.properties -> 'building_ids') = 'array'
  UNION
  SELECT g.id, b.id FROM g JOIN buildings b
    ON b.geom && g.geom AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
  WHERE jsonb_typeof(g.properties -> 'building_ids') IS DISTINCT FROM 'array'),
hh AS (SELECT mo.gid AS old_id, mn.gid AS new_id, sum(b.households)::bigint AS hh
       FROM m mo JOIN o ON o.id = mo.gid JOIN m mn ON mn.bid = mo.bid
       JOIN n ON n.id = mn.gid JOIN buildings b ON b.id = mo.bid GROUP BY 1, 2),
ov AS (SELECT o.id AS old_id, n.id AS new_id,
              ST_Area(ST_Intersection(o.geom, n.geom)::geography) AS m2
       FROM o JOIN n ON o.geom && n.geom AND ST_Intersects(o.geom, n.geom))
SELECT coalesce(hh.old_id, ov.old_id) AS old_id, coalesce(hh.new_id, ov.new_id) AS new_id,
       coalesce(hh.hh, 0) AS hh, coalesce(ov.m2, 0) AS m2
FROM hh FULL JOIN ov ON ov.old_id = hh.old_id AND ov.new_id = hh.new_id
"""

_DUTIES_SQL = """
SELECT a.id, a.person_id, p.external_id, p.name, a.role, a.grid_id, g.code, a.valid_from,
       a.valid_to
FROM assignments a JOIN grids g ON g.id = a.grid_id JOIN people p ON p.id = a.person_id
WHERE a.grid_id = ANY(:old) AND (a.valid_to IS NULL OR a.valid_to >= :d)
ORDER BY g.code, a.role, a.valid_from, a.id
FOR UPDATE OF a
"""


@dataclass(frozen=True)
class Share:
    """What a retired grid hands to one new grid: households, then area (m²)."""

    new_id: int
    households: int
    m2: float

    @property
    def weight(self) -> tuple[int, float, int]:
        """Sort key: most households, then most area, then the lower id (deterministic)."""
        return (self.households, self.m2, -self.new_id)


def shares(conn: Connection, old_ids: list[int], area_id: int, version: int) -> dict[int, Share]:
    """Each retired grid's successor: the new grid of ``version`` it gives most households
    (most area when it had no households). A grid sharing nothing has none."""
    best: dict[int, Share] = {}
    rows = conn.execute(text(_SHARES_SQL), {"old": old_ids, "a": area_id, "v": version}).all()
    for r in rows:
        s = Share(int(r.new_id), int(r.hh), float(r.m2))
        if r.old_id not in best or s.weight > best[r.old_id].weight:
            best[int(r.old_id)] = s
    return best


Held = list[tuple[int, str, dt.date, dt.date | None]]
"""Duties carried to one grid so far: (person, role, first day, last day or None)."""


def _clashes(held: Held, duty: Any, start: dt.date) -> bool:
    """Whether ``duty`` from ``start`` overlaps a duty already carried to the same grid in a
    way the duty model refuses: a second holder of a sole role (a grid's one leader), or the
    same person twice on it, in one role or two (leader and worker of one grid: a review
    found two grids merged gave one person both; :func:`geo.duties.refuse_grid_clash`)."""
    for person, role, s, e in held:
        overlap = (e is None or start <= e) and (duty.valid_to is None or s <= duty.valid_to)
        sole = role == duty.role and role in SOLE_ROLES
        if overlap and (sole or person == duty.person_id):
            return True
    return False


def _record(r: Any) -> dict[str, Any]:
    return {
        "duty": int(r.id),
        "person_id": int(r.person_id),
        "person": r.external_id,
        "name": r.name,
        "role": r.role,
        "grid": r.code,
        "valid_from": r.valid_from.isoformat(),
        "valid_to": r.valid_to.isoformat() if r.valid_to else None,
    }


def carry_duties(
    conn: Connection,
    old_ids: list[int],
    area_id: int,
    version: int,
    today: dt.date,
    actor: str | None = None,
) -> dict[str, Any]:
    """Carry the grid duties of retired level-1 grids ``old_ids`` to their successors among
    the grids of ``version`` (rules in the module docstring). Returns ``{"carried",
    "ended", "removed"}`` (lists of duties: person, role, old grid code, dates; carried ones
    with ``to_grid``, ``new_duty`` and its ``valid_from`` / ``valid_to``, and the old duty's
    ``old_valid_from`` and ``old_last_day`` (None when the duty itself moved, never in
    force); ended ones with ``last_day``) and ``successors`` (old code → new code)."""
    out: dict[str, Any] = {"carried": [], "ended": [], "removed": [], "successors": {}}
    if not old_ids:
        return out
    yesterday = today - dt.timedelta(days=1)
    succ = shares(conn, old_ids, area_id, version)
    codes = dict(
        conn.execute(
            text("SELECT id, code FROM grids WHERE id = ANY(:ids)"),
            {"ids": [*old_ids, *(s.new_id for s in succ.values())]},
        ).all()
    )
    out["successors"] = {codes[o]: codes[s.new_id] for o, s in sorted(succ.items())}
    duties = conn.execute(text(_DUTIES_SQL), {"old": old_ids, "d": today}).all()

    def rank(r: Any) -> tuple:
        # leaders first (one who also worked on a merged grid stays its leader), then the
        # old grid that gave its successor most
        s = succ.get(r.grid_id)
        worker = r.role not in SOLE_ROLES
        return (worker, -(s.households if s else 0), -(s.m2 if s else 0.0), r.valid_from, r.id)

    held: dict[int, Held] = {}
    for r in sorted(duties, key=rank):
        s = succ.get(r.grid_id)
        start = max(r.valid_from, today)
        rec = _record(r)
        if s is not None and not _clashes(held.get(s.new_id, []), r, start):
            held.setdefault(s.new_id, []).append((r.person_id, r.role, start, r.valid_to))
            new_duty = _move(conn, r, s.new_id, today, actor)
            # WHY: valid_from is the new duty's start, next to new_duty (it read the old
            # duty's, days before the new one began: T38 L8); the old duty's days are
            # old_valid_from and old_last_day (None: never in force, the duty itself moved)
            moved = new_duty == int(r.id)
            out["carried"].append(
                dict(
                    rec,
                    to_grid=codes[s.new_id],
                    new_duty=new_duty,
                    valid_from=start.isoformat(),
                    old_valid_from=rec["valid_from"],
                    old_last_day=None if moved else yesterday.isoformat(),
                )
            )
        elif r.valid_from < today:
            conn.execute(
                text("UPDATE assignments SET valid_to = :y WHERE id = :i"),
                {"y": yesterday, "i": r.id},
            )
            out["ended"].append(dict(rec, last_day=yesterday.isoformat()))
        else:  # starting today or later: never in force, nothing to keep
            conn.execute(text("DELETE FROM assignments WHERE id = :i"), {"i": r.id})
            # WHY say which: "planned" is a later start; one starting today (moved by an
            # earlier commit that day) is removed too, and was called planned (tester Y, NEW-6)
            out["removed"].append(dict(rec, planned=r.valid_from > today))
    for k in ("carried", "ended", "removed"):
        out[k].sort(key=lambda d: (d["grid"], d["role"], d["duty"]))
    return out


def _move(conn: Connection, r: Any, grid_id: int, today: dt.date, actor: str | None) -> int:
    """Duty ``r`` on grid ``grid_id`` from ``today``: a duty in force ends yesterday and an
    equal one starts today (history keeps the old grid); a planned one just moves."""
    if r.valid_from >= today:
        conn.execute(
            text("UPDATE assignments SET grid_id = :g WHERE id = :i"), {"g": grid_id, "i": r.id}
        )
        return int(r.id)
    conn.execute(
        text("UPDATE assignments SET valid_to = :y WHERE id = :i"),
        {"y": today - dt.timedelta(days=1), "i": r.id},
    )
    return int(
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, grid_id, valid_from, valid_to, "
                "created_by) VALUES (:p, :r, :g, :d, :to, :by) RETURNING id"
            ),
            {"p": r.person_id, "r": r.role, "g": grid_id, "d": today, "to": r.valid_to,
             "by": actor},
        ).scalar_one()
    )  # fmt: skip


def _grid_staff(
    conn: Connection, area_id: int, version: int, day: dt.date, households_per_worker: int
) -> list[tuple[Any, int]]:
    """Each level-1 grid of ``version`` by code, with its leaders and full-time workers on
    ``day`` (a row), and the workers its households need."""
    from geo.assign.grids import workers_needed

    rows = conn.execute(
        text(
            "SELECT g.code, g.households, "
            "count(a.id) FILTER (WHERE a.role = 'grid_leader') AS leaders, "
            "count(a.id) FILTER (WHERE a.role = 'grid_worker') AS workers "
            "FROM grids g LEFT JOIN assignments a ON a.grid_id = g.id AND a.valid_from <= :d "
            "AND (a.valid_to IS NULL OR a.valid_to >= :d) WHERE g.community_id = :a "
            "AND g.version = :v AND g.level = 1 GROUP BY g.id ORDER BY g.code"
        ),
        {"a": area_id, "v": version, "d": day},
    ).all()
    need = workers_needed([r.households for r in rows], households_per_worker)
    return [(r, int(n)) for r, n in zip(rows, need, strict=True)]


def staffing_gaps(
    conn: Connection, area_id: int, version: int, day: dt.date, households_per_worker: int
) -> list[dict[str, Any]]:
    """The grids of ``version`` with no leader or fewer full-time workers than
    ceil(households / ``households_per_worker``) on ``day``, by code: after a re-partition a
    planner must know which grids to staff (``assign grids``), as coverage will judge them."""
    return [
        {
            "grid": r.code,
            "households": int(r.households),
            "leader": r.leaders > 0,
            "workers": int(r.workers),
            "workers_needed": n,
        }
        for r, n in _grid_staff(conn, area_id, version, day, households_per_worker)
        if r.leaders == 0 or r.workers < n
    ]


def staffing_surplus(
    conn: Connection, area_id: int, version: int, day: dt.date, households_per_worker: int
) -> list[dict[str, Any]]:
    """The grids of ``version`` holding more full-time workers than ceil(households /
    ``households_per_worker``), or more than one leader, on ``day``, by code: the other side
    of :func:`staffing_gaps`. WHY (T43 #8): after a merge and a revert, every duty of the
    merged grid went to the one grid holding most of its households (12 people for 500
    households) while its neighbour had none, and the commit named only the short grid."""
    return [
        {
            "grid": r.code,
            "households": int(r.households),
            "leaders": int(r.leaders),
            "workers": int(r.workers),
            "workers_needed": n,
        }
        for r, n in _grid_staff(conn, area_id, version, day, households_per_worker)
        if r.leaders > 1 or r.workers > n
    ]

"""Patrol reports from PostGIS: daily patrol (日巡), weekly check (周查), monthly evaluation (月评).

Loads patrol visits, segments and the duties valid on each day, and hands them to the pure
roll-ups in :mod:`geo.coverage`. Duties are read per day (valid_from ≤ day ≤ valid_to), so a
report for a past month stays correct after stewards change, and the street network per day
(the segments live at the day's end), so it stays correct after a re-import retires segments.
Alley stewards are judged on alleys, street chiefs on streets, each only by their own walking.
Areas: each alley or street belongs to its community and subdistrict by the one rule of
:mod:`geo.street_areas` (the community holding most of its length, when at least half lies in
communities), the rule ``/coverage`` and the staffing solver count by.

Rules the numbers follow:

* Shared alleys (co-stewards): the alley row is patrolled when the exact union of all its
  holders' walked stretches reaches the share (default 0.8). A holder's OWN row counts the
  alley-day as patrolled only when the alley is patrolled AND the holder's own walking covers
  at least their equal part, share / number of holders that day (two who split an alley in
  halves are both credited; one who walked nothing or a token bit is not), and a holder's
  walked metres are their own walking only (see :func:`geo.coverage.holder_day_status`).
  Person rows may therefore add up to more metres than the alley and area rows (two holders
  who walked the same stretch each walked it).
* Street chiefs' parallel ways (:func:`_chief_corridor`): a chief's street counts as covered
  where it lies within :data:`STREET_CORRIDOR_M` of the chief's walk of the day (the other
  carriageway, a side road). ``patrolled`` (and the chief's credit) is judged on that:
  the alley rows' ``covered_m`` and ``covered_share`` (segments: ``covered_fraction``,
  ``covered_m``). ``walked_m`` and ``walked_share`` everywhere (alley, segment, person and
  area rows, weekly and monthly roll-ups) are the walking alone, so a chief who walked
  474 m reads 474 m, not the 1188 m his walk covered beside it (T40 #7). For alley
  stewards covered is walked: they have no corridor.
* A running period (today inside it, in the city's zone): today's duty-days count only when
  already patrolled; the others are ``pending``, in no rate's denominator (they are not
  missed yet). Rates are patrolled / (duty-days − pending), null while nothing counts. A
  daily report of today shows every alley with its status and says ``running``.
* Area rows (community 社区 and subdistrict 街道): ``unstaffed`` counts the alley-days (for
  street chiefs' rows: street-days) in the area with no holder that day; they are not in
  ``alley_days`` or the rate. Days before the city's first street or alley duty began (today
  while none has) count none, and a note says so (T43 #9). With a community filter
  (``area`` a community code) the subdistrict rows are left out, since they would hold that
  community alone: the report's ``meta`` notes say so (subdistrict totals: run without the
  community filter).
* A daily report also has ``segments``: every segment of every alley/street with a duty that
  day, with the fraction and metres its holders walked (union) and their first/last time.
* Each table has the same columns whatever the data (:func:`table_columns`): an empty day's
  CSV has a full day's header.
* ``late_uploads`` in the people rows: the person's tracks of the day (of the period) whose
  upload came more than ``GRIDWARD_LATE_UPLOAD_H`` after their last fix. A marker for the
  supervisor only: the credit of a late track is unchanged.
* Area rows: per role, each subdistrict by code then its communities by code; the rows of
  streets outside every community/subdistrict come after the named ones of their level.
* Notes (``meta["notes"]``) also say: the walks of people who held no street or alley duty
  that day (they credit nobody), who was in post on part of a week or month only (its
  people rows end with ``first_day`` and ``last_day``), and for a closed period what
  changed after it ended (network or areas re-imported, duties backdated into it). A
  steward's own view keeps only the notes naming them (:func:`own_notes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo import coverage
from geo.crs import metric_crs_for_bounds
from geo.errors import InputError, NotFoundError, count_en, verb_en
from geo.settings import city_today, get_settings
from geo.sql_frames import read_frame
from geo.street_areas import AREA_CODES, AREA_COLUMNS, near_area_sql, street_areas_sql

ROLES = {"alley_steward": "小巷管家 alley steward", "street_chief": "街巷长 street chief"}


_STREET_AREA_SQL = street_areas_sql()


KINDS = {
    "daily": "日巡 daily patrol",
    "weekly": "周查 weekly check",
    "monthly": "月评 monthly evaluation",
}
# Upload refuses fix times before 1990 (geo.tracks.parse), so no patrol is older; pandas
# could not hold year 1 anyway. 1990-01-01 is a Monday, so no week or month straddles it.
EARLIEST = dt.date(1990, 1, 1)
SHEETS = {
    "people": "人员 people",
    "alleys": "街巷 alleys",
    "areas": "区域 areas",
    "segments": "路段 segments",
}
ABOUT_SHEET = "报表 report"
TABLES = tuple(SHEETS)  # the tables a CSV can hold (--table / table=)
RUNNING_NOTE_ZH, RUNNING_NOTE_EN = "今天未完成的不计", "today not counted unless done"
RUNNING_NOTE = f"{RUNNING_NOTE_ZH} {RUNNING_NOTE_EN}"
# what each role is held on: the kind of street its unstaffed rows count
ROLE_KIND = {"alley_steward": "alley", "street_chief": "street"}
# 街 (not 街道: in these reports 街道 is the subdistrict, the area level "街道 subdistrict")
KIND_LABELS = {"alley": "小巷 alley", "street": "街 street"}


class Report(dict):
    """A report's tables by name (``people``, ``alleys``, ``areas``, daily ``segments``) and
    ``meta``: what the tables do not say themselves (notes on the area filter, ``today``).
    A dict, so ``report["people"]`` and iterating over the tables work as they always did."""

    def __init__(self, tables: dict[str, pd.DataFrame], meta: dict[str, Any] | None = None):
        super().__init__(tables)
        self.meta: dict[str, Any] = dict(meta or {})


@dataclass(frozen=True)
class Period:
    """The days a report covers: its whole period, cut at the city's today (WHY: a day that
    has not happened yet is not a missed patrol)."""

    kind: str
    start: dt.date
    end: dt.date  # last day of the whole period
    through: dt.date  # last day covered: ``end``, or today while the period runs
    today: dt.date | None = None  # the city's today the period was cut at

    @property
    def days(self) -> list[dt.date]:
        n = (self.through - self.start).days + 1
        return [self.start + dt.timedelta(days=i) for i in range(n)]

    @property
    def partial(self) -> bool:
        return self.through < self.end

    @property
    def running(self) -> bool:
        """Today lies in the period: today's unpatrolled duty-days are pending, not missed."""
        return self.today is not None and self.start <= self.today <= self.end

    def span(self) -> str:
        """The whole period as people name it: a day, a week's two ends, or a month."""
        if self.kind == "daily":
            return self.start.isoformat()
        if self.kind == "monthly":
            return f"{self.start:%Y-%m}"
        return f"{self.start} – {self.end}"

    def title(self) -> str:
        """Chinese first, and how far a running period goes (for the CLI and XLSX)."""
        head = f"{KINDS[self.kind]} {self.span()}"
        if not self.partial:
            return f"{head} (进行中 running; {RUNNING_NOTE})" if self.running else head
        total = (self.end - self.start).days + 1
        days = f"截至 through {self.through}, {len(self.days)}/{total} 天 days"
        return f"{head} ({days}; {RUNNING_NOTE})" if self.running else f"{head} ({days})"

    def title_zh(self) -> str:
        """:meth:`title` in Chinese only (for a line whose English follows)."""
        head = f"{KINDS[self.kind].split()[0]} {self.span()}"
        total = (self.end - self.start).days + 1
        parts = [f"截至 {self.through}，{len(self.days)}/{total} 天"] if self.partial else []
        parts += [f"进行中，{RUNNING_NOTE_ZH}"] if self.running else []
        return f"{head}（{'；'.join(parts)}）" if parts else head

    def meta(self) -> dict[str, Any]:
        """JSON fields: the days covered (``from``–``to``) and the whole period."""
        return {
            "label": KINDS[self.kind],
            "from": self.start.isoformat(),
            "to": self.through.isoformat(),
            "days": len(self.days),
            "period_from": self.start.isoformat(),
            "period_to": self.end.isoformat(),
            "partial": self.partial,
            "running": self.running,
        }


def report_period(kind: str, day: dt.date, today: dt.date | None = None) -> Period:
    """The period of ``kind`` holding ``day`` (the day, its ISO week from Monday, its month),
    up to ``today`` (default: the city's). A period not begun yet is an error, not an empty
    or all-missed report."""
    if kind not in KINDS:
        raise InputError(
            f"报表类型 '{kind}' 有误，请用 daily（日巡）、weekly（周查）或 monthly（月评） "
            f"unknown report '{kind}': use daily, weekly or monthly"
        )
    if day < EARLIEST:
        raise InputError(
            f"日期 {day} 早于 {EARLIEST}，没有这么早的巡查记录 "
            f"date {day} is before {EARLIEST}: there are no patrols that old"
        )
    today = today or city_today()
    if kind == "daily":
        start, what = day, f"{day}"
        what_zh = f"{day} 这一天"
    elif kind == "weekly":
        start = day - dt.timedelta(days=day.weekday())
        what = f"the week starting {start}"
        what_zh = f"从 {start} 开始的一周"
    else:
        start, what = day.replace(day=1), f"{day:%Y-%m}"
        what_zh = f"{day:%Y-%m} 这个月"
    if start > today:  # checked before the end is computed: the end of 9999-12 overflows
        tz = get_settings().timezone
        raise InputError(
            f"报表期尚未开始：{what_zh}在将来，今天是 {today}（{tz}） "
            f"{what} is in the future: today is {today} ({tz})"
        )
    if kind == "daily":
        end = day
    elif kind == "weekly":
        end = start + dt.timedelta(days=6)
    else:
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return Period(kind, start, end, min(end, today), today)


def role_label(code: Any) -> Any:
    """小巷管家 alley steward for ``alley_steward``; anything else as it is."""
    return ROLES.get(code, code) if isinstance(code, str) else code


# the area columns of the report tables (the district is the area filter's only)
_AREA_COLS = ["community_code", "community_name", "subdistrict_code", "subdistrict_name"]
_STRETCH_COLS = [
    "person_id",
    "edge_id",
    "start_fraction",
    "end_fraction",
    "first_time",
    "last_time",
    "day",
]


def segment_live_at(alias: str, at: str) -> str:
    """SQL: segment ``alias`` (a street_segments row) was live at the instant ``at`` (an SQL
    timestamptz expression): not retired before it (``retired_at``, the current state,
    migration 0011) and in none of its past retirement periods (``segment_retirements``,
    migration 0012), and not added by a re-import after it (``added_at``, 0013). The state
    just before ``at``: retired, restored or added at ``at`` itself counts from the next
    instant on, as :class:`_NetworkByDay` judges a day's end."""
    return (
        f"({alias}.added_at IS NULL OR {alias}.added_at < {at}) AND "
        f"({alias}.retired_at IS NULL OR {alias}.retired_at >= {at}) AND NOT EXISTS ("
        f"SELECT 1 FROM segment_retirements sr WHERE sr.segment_id = {alias}.id "
        f"AND sr.retired_at < {at} AND sr.restored_at >= {at})"
    )


# A street chief's street counts as covered (for patrolled, not for walked metres) where it
# lies within this many metres of the chief's walk that day (see _chief_corridor).
STREET_CORRIDOR_M = 20.0

# One row per walked stretch of a visit (its intervals; a visit stored without them is one
# stretch from 0 to its covered fraction): the reports and the street corridor read the same.
_STRETCHES_FROM = """
FROM patrol_visits v
CROSS JOIN LATERAL (
    SELECT LEAST((e ->> 0)::float8, (e ->> 1)::float8) AS f0,
           GREATEST((e ->> 0)::float8, (e ->> 1)::float8) AS f1
    FROM jsonb_array_elements(CASE WHEN jsonb_array_length(v.intervals) > 0 THEN v.intervals
         ELSE jsonb_build_array(jsonb_build_array(0, v.covered_fraction)) END) AS e
) AS x
WHERE v.day BETWEEN :a AND :b AND v.person_id IS NOT NULL
  -- walked, or in a mode the city credits (GRIDWARD_CREDITED_MODES): a ride is no patrol
  AND EXISTS (SELECT 1 FROM tracks tr WHERE tr.id = v.track_id
              AND tr.mode = ANY(CAST(:modes AS text[])))
"""

_CORRIDOR_SQL = (
    """
WITH chief AS (
    SELECT DISTINCT u.person_id, u.street_id
    FROM unnest(CAST(:p AS int[]), CAST(:s AS int[])) AS u(person_id, street_id)
), stretch AS (
    SELECT v.day, v.person_id, v.first_time, v.last_time,
           ST_LineSubstring(
               (SELECT ST_Transform(s.geom, :srid) FROM street_segments s
                WHERE s.id = v.segment_id), x.f0, x.f1) AS g
"""
    + _STRETCHES_FROM
    + """
    AND v.person_id IN (SELECT person_id FROM chief)
), walked AS (
    -- flat ends: the corridor reaches across the street (its parallel ways), not along it
    -- (round ends credited up to 20 m past each end of the walk on the street itself)
    SELECT day, person_id, ST_Buffer(ST_LineMerge(ST_Union(g)), :r, 'endcap=flat join=round')
           AS zone
    FROM stretch GROUP BY day, person_id
)
SELECT w.day, w.person_id, s.id AS edge_id, t.first_time, t.last_time,
       ST_LineLocatePoint(m.g, ST_StartPoint(p.geom)) AS f0,
       ST_LineLocatePoint(m.g, ST_EndPoint(p.geom)) AS f1
FROM walked w
JOIN chief c ON c.person_id = w.person_id
-- the street as it was that day: its segments live at the day's local end (_NetworkByDay)
JOIN street_segments s ON s.street_id = c.street_id
 AND """
    + segment_live_at("s", "((w.day + 1)::timestamp AT TIME ZONE :tz)")
    + """
CROSS JOIN LATERAL (SELECT ST_Transform(s.geom, :srid) AS g) AS m
CROSS JOIN LATERAL ST_Dump(ST_Intersection(m.g, w.zone)) AS p
-- the times of the walking that credited this piece, not of the chief's whole day
CROSS JOIN LATERAL (
    SELECT min(x.first_time) AS first_time, max(x.last_time) AS last_time FROM stretch x
    WHERE x.day = w.day AND x.person_id = w.person_id AND ST_DWithin(x.g, p.geom, :r)
) AS t
WHERE m.g && w.zone AND ST_GeometryType(p.geom) = 'ST_LineString'
"""
)


def _chief_corridor(conn: Any, duties: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Stretches of street chiefs' streets within :data:`STREET_CORRIDOR_M` of the chief's
    walk of the day, as walked stretches of the chief (columns as ``_STRETCH_COLS``).

    WHY: OSM draws a main street as several parallel ways 7-30 m apart (carriageways, side
    roads, sidewalks; 成府路 in the demo city is five ways, 4.7 km for 1.6 km of road). A
    chief who walks the street end to end is matched to one of them and earned a third of
    it, and no walk could reach 80 %. Alley stewards keep exact credit: a hutong is one way,
    and a corridor would credit the next hutong over. The corridor has flat ends: it widens
    the walk, never lengthens it. Its stretches judge ``patrolled`` (``covered_*``), not the
    metres walked (the rows carry ``walked`` false: T40 #7)."""
    chiefs = duties[duties["role"] == "street_chief"][["person_id", "alley_id"]].drop_duplicates()
    if chiefs.empty:
        return pd.DataFrame(columns=_STRETCH_COLS)
    box = conn.execute(
        text(
            # retired segments too: a past report keeps its metric CRS after a re-import
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM street_segments) AS x"
        )
    ).one()
    if box[0] is None:
        return pd.DataFrame(columns=_STRETCH_COLS)
    srid = int(metric_crs_for_bounds(tuple(box)).split(":")[1])
    df = read_frame(
        text(_CORRIDOR_SQL),
        conn,
        params={
            "p": chiefs["person_id"].astype(int).tolist(),
            "s": chiefs["alley_id"].astype(int).tolist(),
            "a": start,
            "b": end,
            "srid": srid,
            "r": STREET_CORRIDOR_M,
            "tz": get_settings().timezone,
            "modes": get_settings().credited(),
        },
    )
    df["start_fraction"] = df[["f0", "f1"]].min(axis=1)
    df["end_fraction"] = df[["f0", "f1"]].max(axis=1)
    return df


def _load(
    engine: Engine,
    days: list[dt.date],
    area: str | None,
    with_areas: bool = True,
    streets: Sequence[int] | None = None,
    with_notes: bool = True,
) -> dict[str, pd.DataFrame]:
    """Visits (as walked stretches), segments, duties and, when asked for or filtered on,
    each street's community and subdistrict (a spatial join over every street: skipped
    where only the daily numbers are wanted). ``streets``: only these alleys/streets, with
    every holder of each (see :func:`build_report`). ``with_notes``: also what only a
    report's notes read (walks by people without a duty, the city's first duty): skipped
    for the patrol map's days (:func:`daily_frames`), which show no notes."""
    start, end = days[0], days[-1]
    # the filters of ``streets`` on the visits and on ``streets st`` ("": none)
    only_visits = only_streets = ""
    if streets is not None:
        streets = sorted({int(i) for i in streets})
    level = found = None
    with engine.connect() as conn:
        if area is not None:
            if not area.strip():
                raise InputError(
                    "区域代码为空，请给出社区或街道的代码 "
                    "the area code is empty: give a community or subdistrict code"
                )
            found = conn.execute(
                text("SELECT id, level, name FROM areas WHERE code = :c"), {"c": area}
            ).first()
            if found is None:
                raise NotFoundError(
                    f"区域 {area} 不存在，请检查区域代码 area {area} does not exist"
                )
            level = found.level
        if found is not None:  # only the streets that can be the area's: the rule per
            # street is the dear part of a report (geo.street_areas)
            areas = read_frame(
                text(street_areas_sql(f"WHERE {near_area_sql(':area_id')}")),
                conn,
                params={"area_id": found.id},
            )
        elif with_areas and streets is not None:
            areas = read_frame(
                text(street_areas_sql(" WHERE st.id = ANY(CAST(:streets AS int[]))")),
                conn,
                params={"streets": streets},
            )
        elif with_areas:
            areas = read_frame(text(_STREET_AREA_SQL), conn)
        else:
            areas = pd.DataFrame(columns=["alley_id", *AREA_COLUMNS])
        scope = None  # the streets of the area filter (None: every street)
        if area is not None:
            # the one rule of geo.street_areas: as /coverage and the staffing solver count
            scope = areas[areas[AREA_CODES].eq(area).any(axis=1)]["alley_id"]
        # the streets whose visits and segments are read: the area's (with ``streets``,
        # those of them). WHY: only a duty street's walking counts, and with an area every
        # duty is the area's; reading the whole city's visits made a community's patrol
        # page cost what the city's does (2.4 s of a 4,000-steward city-day)
        read: list[int] | None = streets
        if scope is not None:
            inside = sorted({int(i) for i in scope})
            read = inside if streets is None else sorted(set(inside) & set(streets))
        if read is not None:
            only_streets = " WHERE st.id = ANY(CAST(:streets AS int[]))"
            only_visits = (
                " AND v.segment_id IN (SELECT s.id FROM street_segments s "
                "WHERE s.street_id = ANY(CAST(:streets AS int[])))"
            )
        settings = get_settings()
        edges = read_frame(
            text(
                "SELECT v.person_id, v.segment_id AS edge_id, x.f0 AS start_fraction, "
                "x.f1 AS end_fraction, v.first_time, v.last_time, v.day, v.track_id, "
                # a late upload (迟传), read with the stretches: one scan of the visits
                + _LATE_TRACK
                + _STRETCHES_FROM
                + only_visits
            ),
            conn,
            params={
                "a": start,
                "b": end,
                "modes": settings.credited(),
                "late_s": settings.late_upload_h * 3600.0,
                "streets": read,
            },
        )
        # every segment, retired ones too: which of them count is decided per day
        # (network_of_day), so a past day keeps the network it had; with the past
        # retirement periods of restored segments (few: read whole, once)
        segments = read_frame(
            text(
                # an unnamed way by its OSM way, as the CLI names it: a blank name told
                # nobody which alley a row was
                "SELECT s.id AS edge_id, s.street_id AS alley_id, s.length_m, "
                "coalesce(st.name, :unnamed || st.key) AS alley_name, st.kind, s.retired_at, "
                "s.added_at FROM street_segments s "
                "JOIN streets st ON st.id = s.street_id" + only_streets
            ),
            conn,
            params={"unnamed": UNNAMED, "streets": read},
        )
        retirements = read_frame(
            text("SELECT segment_id AS edge_id, retired_at, restored_at FROM segment_retirements"),
            conn,
        )
        duties = read_frame(
            text(
                "SELECT a.street_id AS alley_id, a.person_id, a.role, a.valid_from, a.valid_to, "
                "p.name AS person_name, p.external_id AS person_code, a.created_at "
                "FROM assignments a "
                "JOIN people p ON p.id = a.person_id "
                "WHERE a.role IN ('alley_steward', 'street_chief') AND a.valid_from <= :b "
                "AND (a.valid_to IS NULL OR a.valid_to >= :a)"
            ),
            conn,
            params={"a": start, "b": end},
        )
        split: list[int] = []
        if scope is not None:
            inside = duties["alley_id"].isin(scope)
            # people of the area who hold duties outside it too (their rows count the area's)
            split = sorted(
                set(duties.loc[inside, "person_id"]) & set(duties.loc[~inside, "person_id"])
            )
            duties = duties[inside]
        if streets is not None:
            duties = duties[duties["alley_id"].isin(streets)]
            scope = pd.Series(streets, dtype="int64") if scope is None else scope
        corridor = _chief_corridor(conn, duties, start, end)  # only the area's chiefs
        unmatched = _unmatched_tracks(conn, start, end)
        moved_in = _moved_in(conn, start, end, settings.timezone)
        unheld = _unheld_walks(conn, edges, segments, start, end) if with_notes else None
        # the first day any street or alley duty began, city-wide (T43 #9)
        first_duty = (
            conn.execute(
                text(
                    "SELECT min(valid_from) FROM assignments "
                    "WHERE role IN ('alley_steward', 'street_chief')"
                )
            ).scalar_one()
            if with_notes
            else None
        )
        # streets a later network import brought (a second district's extract): the local
        # day each came, where after the city's first network day and after the report's
        # first day (T50 #5). WHY: unstaffed counted them on every day before they existed,
        # so adding a district changed the past reports' unstaffed totals. The first
        # network's streets are left out: a city that imports its streets after its staff
        # started counts from its first duty, as before (migration 0013's reason)
        since = (
            read_frame(
                text(
                    "WITH s AS (SELECT id, CAST(created_at AT TIME ZONE :tz AS date) AS day "
                    "FROM streets) SELECT s.id AS alley_id, s.day AS since FROM s "
                    "WHERE s.day > :a AND s.day > (SELECT min(day) FROM s)"
                ),
                conn,
                params={"tz": settings.timezone, "a": start},
            )
            if with_notes
            else None
        )
    late = _late_tracks(edges, segments, scope)
    if scope is not None and len(moved_in):  # only the area's streets, as the rows
        street = moved_in["edge_id"].map(segments.set_index("edge_id")["alley_id"])
        moved_in = moved_in[street.isin(scope)]
    # exact union of walked stretches: one row per stretch; ``walked`` false for a stretch
    # the chief corridor adds (a parallel way beside the walk: covered, not walked, T40 #7)
    edges = edges[_STRETCH_COLS] if len(edges) else pd.DataFrame(columns=_STRETCH_COLS)
    edges = edges.assign(walked=True)
    if len(corridor):
        edges = pd.concat([edges, corridor[_STRETCH_COLS].assign(walked=False)], ignore_index=True)
    if len(edges):
        edges["covered_fraction"] = edges["end_fraction"] - edges["start_fraction"]
    return {
        "edges": edges,
        "segments": segments,
        "retirements": retirements,
        "duties": duties,
        "split": split,
        "areas": areas,
        "scope": scope,
        "level": level,
        "area_name": found.name if found is not None else None,
        "unmatched": unmatched,
        "late": late,
        "moved_in": moved_in,
        "unheld": unheld,
        "first_duty": first_duty,
        "since": since,
    }


def _moved_in(conn: Connection, start: dt.date, end: dt.date, tz: str) -> pd.DataFrame:
    """Stretches stored on a day next to the report's days that today's zone puts in them
    (walked in them by GRIDWARD_TIMEZONE, stored while another zone was set): their
    segment and stored day. WHY: :func:`_zone_notes` told the report of the stored day; the
    report of the day the walk was really on, the one a steward asks about, said nothing
    (outside tester Z3)."""
    return read_frame(
        text(
            "SELECT v.segment_id AS edge_id, v.day FROM patrol_visits v "
            "WHERE v.person_id IS NOT NULL "
            "AND (v.day = CAST(:a AS date) - 1 OR v.day = CAST(:b AS date) + 1) "
            "AND CAST(v.first_time AT TIME ZONE :tz AS date) BETWEEN :a AND :b"
        ),
        conn,
        params={"a": start, "b": end, "tz": tz},
    )


UNHELD_COLS = ["person_id", "person_name", "person_code", "tracks", "walked_m"]


def _unheld_walks(
    conn: Connection, edges: pd.DataFrame, segments: pd.DataFrame, start: dt.date, end: dt.date
) -> pd.DataFrame:
    """Per person, the walking of the report's days done on days they held no street or
    alley duty anywhere (:data:`UNHELD_COLS`: their tracks of those days and the metres,
    the union of their stretches per segment and day). WHY: such walks credit nobody, and
    the report said nothing; a steward renumbered in the registry walked 240 m under the
    old id that no row or note showed (T43 #5). Duties are read city-wide, not in the area
    filter: a person who holds a duty outside the area held one that day."""
    if not len(edges):
        return pd.DataFrame(columns=UNHELD_COLS)
    walkers = sorted({int(p) for p in edges["person_id"]})
    held = read_frame(
        text(
            "SELECT person_id, valid_from, valid_to FROM assignments "
            "WHERE role IN ('alley_steward', 'street_chief') "
            "AND person_id = ANY(CAST(:p AS int[])) AND valid_from <= :b "
            "AND (valid_to IS NULL OR valid_to >= :a)"
        ),
        conn,
        params={"p": walkers, "a": start, "b": end},
    )
    # the person-days first (few): the stretches are looked at only when some are free
    pdays = edges[["person_id", "day"]].drop_duplicates().reset_index(drop=True)
    pdays["ts"] = pd.to_datetime(pdays["day"])
    on = pdays.reset_index().merge(held, on="person_id")
    on = on[
        (pd.to_datetime(on["valid_from"]) <= on["ts"])
        & (on["valid_to"].isna() | (pd.to_datetime(on["valid_to"]) >= on["ts"]))
    ]
    free_days = pdays.drop(index=on["index"].unique())[["person_id", "day"]]
    if not len(free_days):
        return pd.DataFrame(columns=UNHELD_COLS)
    free = edges.merge(free_days, on=["person_id", "day"])
    keys = ["person_id", "day", "edge_id"]
    frac = coverage._walked_fraction(free, keys).rename("f").reset_index()
    frac["walked_m"] = frac["f"] * frac["edge_id"].map(
        segments.set_index("edge_id")["length_m"]
    ).fillna(0.0)
    out = (
        frac.groupby("person_id")["walked_m"]
        .sum()
        .to_frame()
        .join(free.groupby("person_id")["track_id"].nunique().rename("tracks"))
        .reset_index()
    )
    who = read_frame(
        text(
            "SELECT id AS person_id, name AS person_name, external_id AS person_code "
            "FROM people WHERE id = ANY(CAST(:p AS int[]))"
        ),
        conn,
        params={"p": out["person_id"].astype(int).tolist()},
    )
    out = out.merge(who, on="person_id", how="left")
    return out.sort_values("person_id")[UNHELD_COLS].reset_index(drop=True)


# at most this many people are named in a note; the rest are counted
NAMED_IN_NOTE = 5


def _unheld_notes(unheld: pd.DataFrame, readers: dict[str, str] | None = None) -> list[str]:
    """The note for :func:`_unheld_walks` (none when every walker held a duty that day)."""
    if not len(unheld):
        return []
    n, m = len(unheld), int(unheld["tracks"].sum())
    metres = float(unheld["walked_m"].sum())
    zh_names = en_names = ""
    if n <= NAMED_IN_NOTE:  # few: named, so the office knows whose walks to look at
        zh_names = "：" + "、".join(
            f"{r.person_name}（{r.person_code}）{int(r.tracks)} 条 {r.walked_m:.0f} 米"
            for r in unheld.itertuples()
        )
        en_names = ": " + ", ".join(
            f"{r.person_name} ({r.person_code}) {count_en(int(r.tracks), 'track', 'tracks')}, "
            f"{r.walked_m:.0f} m"
            for r in unheld.itertuples()
        )
    head = f"另有 {n} 人的 {m} 条轨迹（{metres:.0f} 米）当天无街巷职责，未计入任何街巷{zh_names}；"
    en = (
        f"{count_en(m, 'track', 'tracks')} ({metres:.0f} m) by {count_en(n, 'person', 'people')} "
        "who held no street or alley duty that "
        f"day credit no street or alley{en_names}; "
    )
    note = (
        f"{head}如应计入，请补设其当天的职责（gridward assign set --from）或把轨迹转给当天的"
        f"责任人（gridward tracks reassign） {en}to count them, backdate their duty (gridward "
        "assign set --from) or give the tracks to the day's holder (gridward tracks reassign)"
    )
    if readers is not None:
        readers[note] = (
            f"{head}如应计入，请联系管理员补设职责或把轨迹转给当天的责任人 "
            f"{en}to count them, ask an admin to backdate their duty or give the tracks to "
            "the day's holder"
        )
    return [note]


def _started_note(
    engine: Engine,
    period: Period,
    first_duty: dt.date | None,
    started: dt.date,
    readers: dict[str, str] | None = None,
) -> list[str]:
    """The note for the days of the report before the city's first street or alley duty
    (``started``): they count no unstaffed street/alley-days. WHY: a report of a day before
    anything was staffed said 无人负责 for every alley (86 a day, 2580 a month), as if a
    running city had left them all (T43 #9)."""
    cut = [d for d in period.days if d < started]
    if not cut:
        return []
    with engine.connect() as conn:
        walked = conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM patrol_visits "
                "WHERE day < :d AND person_id IS NOT NULL)"
            ),
            {"d": started},
        ).scalar_one()
    if first_duty is not None and first_duty <= started:
        lead_zh = f"{first_duty} 之前没有任何街巷职责{'' if walked else '或巡查数据'}"
        lead_en = f"no street or alley duties{'' if walked else ' or patrols'} before {first_duty}"
    else:  # none yet, or every duty begins after today: the days before today are cut
        lead_zh = (
            f"街巷职责最早从 {first_duty} 开始" if first_duty else "尚未设置任何街巷职责"
        ) + ("" if walked else f"，{started} 之前也没有巡查数据")
        lead_en = (
            f"the first street or alley duty begins on {first_duty}"
            if first_duty
            else "no street or alley duty has been set yet"
        ) + ("" if walked else f", and there are no patrols before {started}")
    a, b = cut[0], cut[-1]
    span_zh, span_en = (f"{a}", f"{a}") if a == b else (f"{a} 至 {b}", f"{a} to {b}")
    head = f"{lead_zh}：本期 {span_zh}（{len(cut)} 天）不计无人负责的街巷·天；如这些日子应有职责，"
    en = (
        f"{lead_en}: {span_en} ({len(cut)} day(s)) of this period count no unstaffed "
        "street/alley-days; if these days had duties, "
    )
    note = (
        f"{head}请用 gridward assign set --from 补设 "
        f"{en}backdate them with gridward assign set --from"
    )
    if readers is not None:
        readers[note] = f"{head}请联系管理员补设 {en}ask an admin to backdate them"
    return [note]


def _not_yet_note(
    not_yet: pd.DataFrame, since: pd.DataFrame | None, readers: dict[str, str] | None = None
) -> list[str]:
    """The note for the unheld street/alley-days left out because a later network import
    brought the street only after that day (``not_yet``: day, alley_id, role; ``since``:
    each such street's first day). WHY: a district added on 11-25 read 143 unstaffed
    alley-days in the report of 11-24, and only the generic re-import note said anything
    (T50 #5)."""
    if not len(not_yet) or since is None:
        return []
    ids = set(not_yet["alley_id"])
    came = sorted({pd.Timestamp(v).date() for v in since.loc[since["alley_id"].isin(ids), "since"]})
    n, k = len(ids), len(not_yet)
    when_zh = str(came[0]) if len(came) == 1 else f"{came[0]} 至 {came[-1]}"
    when_en = f"on {came[0]}" if len(came) == 1 else f"between {came[0]} and {came[-1]}"
    head = (
        f"{n} 条街巷由后来的路网导入于 {when_zh} 才加入 gridward：加入之前的日子不计其"
        f"无人负责（本期共 {k} 个街巷·天）；如这些日子已有人负责，"
    )
    en = (
        f"{n} street(s)/alley(s) came into gridward with a later network import only "
        f"{when_en}: the days before count no unstaffed days for them ({k} street/alley-day(s) "
        "of this period); if someone held them then, "
    )
    note = (
        f"{head}请用 gridward assign set --from 补设职责 "
        f"{en}backdate the duty with gridward assign set --from"
    )
    if readers is not None:
        readers[note] = f"{head}请联系管理员补设职责 {en}ask an admin to backdate the duty"
    return [note]


def _in_post(people_days: pd.DataFrame, counted: list[dt.date]) -> pd.DataFrame:
    """Per person and role: ``first_day`` and ``last_day`` of the period they held a duty,
    and ``part`` (held one on fewer of the ``counted`` days than there are)."""
    cols = ["person_id", "role", "first_day", "last_day", "held_days", "part"]
    if not len(people_days):
        return pd.DataFrame(columns=cols)
    spans = (
        people_days.groupby(["person_id", "role"])["day"]
        .agg(first_day="min", last_day="max", held_days="nunique")
        .reset_index()
    )
    spans["part"] = spans["held_days"] < len(counted)
    return spans[cols]


def _part_period_notes(
    spans: pd.DataFrame, names: pd.DataFrame, counted: list[dt.date]
) -> list[str]:
    """The note naming who held duties on part of a week or month only (up to
    :data:`NAMED_IN_NOTE` × 2 named, the rest counted). WHY: the ranking is by rate alone,
    so someone in post 10 days of 30 ranked first beside someone in post all month, and only
    the ``days`` column showed it (T43 #11). The rule stays (a rate is fair to compare); the
    note says it."""
    part = spans[spans["part"].astype(bool)] if len(spans) else spans
    if not len(part) or not counted:
        return []
    part = part.merge(names, on="person_id", how="left").sort_values(
        ["role", "first_day", "person_id"], kind="stable"
    )
    # in post in both roles: say which
    part = part.assign(twice=part["person_id"].duplicated(keep=False))
    start, end, total = counted[0], counted[-1], len(counted)
    shown_zh, shown_en = [], []
    for r in part.head(NAMED_IN_NOTE * 2).itertuples():
        first, last, held, dup = r.first_day, r.last_day, int(r.held_days), r.twice
        zh, en = [], []
        if first > start:
            zh.append(f"{first:%m-%d} 起")
            en.append(f"from {first:%m-%d}")
        if last < end:
            zh.append(f"至 {last:%m-%d}")
            en.append(f"until {last:%m-%d}")
        if held < (last - first).days + 1:
            zh.append("有间断")
            en.append("with gaps")
        role_zh = f"{ROLES[r.role].split()[0]}" if dup else ""
        role_en = f" as {ROLES[r.role].split(' ', 1)[1]}" if dup else ""
        shown_zh.append(
            f"{r.person_name}（{r.person_code}）{role_zh}本期在岗 {held}/{total} 天"
            f"（{'，'.join(zh)}）"
        )
        shown_en.append(
            f"{r.person_name} ({r.person_code}){role_en} {held} of {total} days ({', '.join(en)})"
        )
    more = len(part) - len(shown_zh)
    tail_zh = f"等 {len(part)} 人" if more > 0 else ""
    tail_en = f", and {more} more" if more > 0 else ""
    return [
        f"{len(part)} 人本期只部分日子在岗，排名只按达标率，与全期在岗者同列："
        f"{'、'.join(shown_zh)}{tail_zh} "
        f"{count_en(len(part), 'person', 'people')} held duties on part of this period only "
        "and are ranked by their "
        f"rate alone, beside those in post throughout: {', '.join(shown_en)}{tail_en}"
    ]


def _closed_notes(
    engine: Engine, period: Period, duties: pd.DataFrame, started: dt.date
) -> list[str]:
    """A note on a closed period (ended before today) when what it is computed from changed
    after it ended: the network re-imported with segments retired, added or restored, the
    areas re-imported, duties set afterwards that reach back into it. WHY: a report is
    recomputed whenever it is asked for, and a closed month's figures changed after a
    re-import with nothing saying so; only files saved earlier showed it (T43 #4). Each day
    keeps the segments it had (:class:`_NetworkByDay`), but street names, the streets'
    communities and backdated duties are today's."""
    if period.today is None or period.end >= period.today or period.end < started:
        return []
    tz = ZoneInfo(get_settings().timezone)
    closed = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    with engine.connect() as conn:
        imports = conn.execute(
            text(
                "SELECT i.kind, i.created_at, i.counts FROM imports i "
                "WHERE i.kind IN ('osm', 'areas') AND i.created_at >= :t "
                # a re-import: the first import of its kind changed nothing that was there
                "AND EXISTS (SELECT 1 FROM imports j WHERE j.kind = i.kind AND j.id < i.id) "
                "ORDER BY i.id"
            ),
            {"t": closed},
        ).all()

    def days(stamps: Any) -> tuple[str, str]:  # the local days, in Chinese and English
        shown = sorted({pd.Timestamp(t).tz_convert(tz).date().isoformat() for t in stamps})
        more = len(shown) > 3
        return (
            "、".join(shown[:3]) + (" 等" if more else ""),
            ", ".join(shown[:3]) + (" and later" if more else ""),
        )

    zh, en = [], []
    net = [r for r in imports if r.kind == "osm"]

    def changed(r: Any, k: str) -> int:
        return int((r.counts or {}).get(k, 0))

    # segments_moved and streets_renamed: counts of imports that keep a renamed way's past
    # days on its old street (absent from older imports' counts: 0)
    kinds = ("segments_retired", "segments_added", "segments_restored", "segments_moved")
    net = [r for r in net if any(changed(r, k) for k in (*kinds, "streets_renamed"))]
    if net:
        n = {k: sum(changed(r, k) for r in net) for k in (*kinds, "streets_renamed")}
        when, when_en = days(r.created_at for r in net)
        what_zh = (
            f"停用 {n['segments_retired']} 段、新增 {n['segments_added']} 段、"
            f"恢复 {n['segments_restored']} 段"
        )
        what_en = (
            f"{n['segments_retired']} segments retired, {n['segments_added']} added, "
            f"{n['segments_restored']} restored"
        )
        if n["segments_moved"]:
            what_zh += f"、{n['segments_moved']} 段改归其他街巷"
            what_en += f", {n['segments_moved']} moved to another street"
        if n["streets_renamed"]:
            what_zh += f"、{n['streets_renamed']} 条街巷改名"
            what_en += f", {n['streets_renamed']} streets renamed"
        zh.append(
            f"{when} 重新导入路网（{what_zh}；各日的长度和巡查仍按当天的路段计，"
            "街巷名称和所属社区按现在的）"
        )
        en.append(
            f"the network was re-imported on {when_en} ({what_en}; each day still counts the "
            "segments it had, street names and communities are today's)"
        )
    areas = [r for r in imports if r.kind == "areas"]
    if areas:
        when, when_en = days(r.created_at for r in areas)
        zh.append(f"{when} 重新导入区域（社区、街道行按现在的边界计）")
        en.append(
            f"the areas were re-imported on {when_en} "
            "(community and subdistrict rows follow today's boundaries)"
        )
    late = (
        duties[pd.to_datetime(duties["created_at"], utc=True) >= closed] if len(duties) else duties
    )
    if len(late):
        when, when_en = days(late["created_at"])
        # the day set comes first: in brackets after 本期结束后 it read as the period's end
        # (T45 #8)
        zh.append(f"{len(late)} 条职责于 {when} 补设（本期结束之后），其开始日在本期或更早")
        en.append(
            f"{count_en(len(late), 'duty', 'duties')} {verb_en(len(late), 'was', 'were')} set on "
            f"{when_en}, after the period ended, yet start in "
            "it or earlier (backdated)"
        )
    if not zh:
        return []
    return [
        f"本期结束后有改动，数字可能与当时导出的报表不同：{'；'.join(zh)} "
        f"changed since this period ended, so figures may differ from a report exported "
        f"then: {'; '.join(en)}"
    ]


class _NetworkByDay:
    """The segments that make up the network of a local day: those live at its local end
    (``retired_at`` NULL or not before the next local midnight, and in none of the past
    retirement periods ``retirements`` (edge_id, retired_at, restored_at): not
    ``retired_at < end <= restored_at``), and not added by a re-import after it (``added_at``
    NULL or before the end).

    WHY the day's end: a segment retired by a re-import leaves today's report at once (an
    alley's length is what exists now, so its steward can reach the patrolled share again),
    while every earlier day keeps its length and its visits as they were: a past report does
    not change when the network changes later. A visit on a segment counts on the days the
    segment counts, so length and walked metres always come from the same segments. The
    mask is one vectorised comparison per day over the segments already read.

    WHY the past periods: a segment retired and later restored (back in a re-imported file)
    could not be matched while it was retired, so the days in between must not count it
    (its alley would be longer than anything its steward could have walked); its
    ``retired_at`` is NULL again once restored, so only the periods say so."""

    def __init__(
        self, segments: pd.DataFrame, tz: str, retirements: pd.DataFrame | None = None
    ) -> None:
        self.segments = segments
        self.tz = ZoneInfo(tz)
        retired = pd.to_datetime(segments["retired_at"], utc=True)
        self.retired: pd.Series | None = retired if retired.notna().any() else None
        added = pd.to_datetime(
            segments.get("added_at", pd.Series(pd.NaT, segments.index)), utc=True
        )
        self.added: pd.Series | None = added if added.notna().any() else None
        self.periods: tuple[np.ndarray, pd.Series, pd.Series] | None = None
        if retirements is not None and len(retirements):
            self.periods = (
                retirements["edge_id"].to_numpy(),
                pd.to_datetime(retirements["retired_at"], utc=True),
                pd.to_datetime(retirements["restored_at"], utc=True),
            )
        self._days: dict[dt.date, pd.DataFrame] = {}

    def __call__(self, day: dt.date) -> pd.DataFrame:
        if self.retired is None and self.periods is None and self.added is None:
            return self.segments
        if day not in self._days:
            end = pd.Timestamp(
                dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0)), tz=self.tz
            )
            keep = np.ones(len(self.segments), dtype=bool)
            if self.retired is not None:
                keep &= self.retired.isna().to_numpy() | (self.retired >= end).to_numpy()
            if self.added is not None:  # brought in by a re-import: from that day on
                keep &= self.added.isna().to_numpy() | (self.added < end).to_numpy()
            if self.periods is not None:  # retired at the day's end, restored later
                ids, since, until = self.periods
                inside = ((since < end) & (until >= end)).to_numpy()
                if inside.any():
                    keep &= ~self.segments["edge_id"].isin(ids[inside]).to_numpy()
            self._days[day] = self.segments[keep]
        return self._days[day]


def _lists(df: pd.DataFrame, col: str, cast: Any = None) -> pd.Series:
    """Per day and alley, ``col`` of its rows as a list in ascending person_id (one sort and
    one slice per alley-day: a city-month has some 10⁵ alley-days, too many for groupby
    lambdas), indexed by (day, alley_id)."""
    if not len(df):
        return pd.Series(dtype=object, index=pd.MultiIndex.from_arrays([[], []]))
    d = df.sort_values(["day", "alley_id", "person_id"], kind="stable")
    days, alleys = d["day"].to_numpy(), d["alley_id"].to_numpy()
    vals = d[col].tolist() if cast is None else [cast(v) for v in d[col].tolist()]
    new = np.r_[True, (alleys[1:] != alleys[:-1]) | (days[1:] != days[:-1])]
    starts = np.flatnonzero(new)
    ends = [*starts[1:].tolist(), len(alleys)]
    return pd.Series(
        [vals[a:b] for a, b in zip(starts.tolist(), ends, strict=True)],
        index=pd.MultiIndex.from_arrays([days[starts], alleys[starts]]),
    )


def _joined(lists: pd.Series) -> pd.Series:
    return lists.map("、".join)


def _at(rows: pd.DataFrame, by: pd.Series) -> pd.Series:
    """``by`` (indexed by day and alley, :func:`_lists`) at each of ``rows``' day and alley
    (NaN where it has none), as ``rows[...].map(by)`` reads one day's."""
    keys = pd.MultiIndex.from_arrays([rows["day"].to_numpy(), rows["alley_id"].to_numpy()])
    return by.reindex(keys).set_axis(rows.index)


def _walked_only(
    alley_day: pd.DataFrame,
    holder_day: pd.DataFrame,
    walked_sd: pd.DataFrame,
    segments: pd.DataFrame,
    assignments: pd.DataFrame,
    share: float,
    walking: coverage.HolderWalking,
) -> None:
    """``walked_m`` and ``walked_share`` of a day's alley and holder rows (judged, in place,
    with the chief corridor's stretches) set to the walking alone (``walked_sd``, its
    ``walking``): what was walked, not what the corridor covers beside it. ``patrolled``,
    ``credited`` and ``covered_*`` stay as judged."""
    days = sorted(set(alley_day["day"]))
    alley = coverage.alley_day_status(walked_sd, segments, assignments, share, days, walking)
    alley = alley.set_index(["day", "alley_id"])
    keys = pd.MultiIndex.from_frame(alley_day[["day", "alley_id"]])
    for col in ("walked_m", "walked_share"):
        alley_day[col] = alley[col].reindex(keys).fillna(0.0).to_numpy()
    holder = coverage.holder_day_status(
        walked_sd, segments, assignments, alley_day, share, walking
    ).set_index(["day", "alley_id", "person_id"])
    keys = pd.MultiIndex.from_frame(holder_day[["day", "alley_id", "person_id"]])
    for col in ("walked_m", "walked_share"):
        holder_day[col] = holder[col].reindex(keys).fillna(0.0).to_numpy()


def _day_runs(network_of_day: _NetworkByDay, days: list[dt.date]) -> list[list[dt.date]]:
    """``days`` cut into runs of consecutive days with the same network (one run while no
    re-import retired or added a segment in between): each run is judged in one pass."""
    runs: list[list[dt.date]] = []
    last = None
    for day in days:
        segments = network_of_day(day)
        same = last is not None and (
            segments is last or (len(segments) == len(last) and segments.index.equals(last.index))
        )
        if same:
            runs[-1].append(day)
        else:
            runs.append([day])
        last = segments
    return runs


def _duty_days(duties: pd.DataFrame, role: str, days: list[dt.date]) -> pd.DataFrame:
    """The role's duties valid on each of ``days`` (valid_from ≤ day ≤ valid_to), a row per
    duty and day with its ``day``: by day, then in the order of ``duties``."""
    mine = duties[duties["role"] == role]
    since = pd.to_datetime(mine["valid_from"]).astype("datetime64[ns]").to_numpy()
    until = pd.to_datetime(mine["valid_to"]).astype("datetime64[ns]").fillna(pd.Timestamp.max)
    until = until.to_numpy()
    ts = pd.to_datetime(pd.Series(days)).astype("datetime64[ns]").to_numpy()
    which_day, which = np.nonzero((since[None, :] <= ts[:, None]) & (until[None, :] >= ts[:, None]))
    day_of = np.empty(len(days), dtype=object)
    day_of[:] = days
    out = mine.iloc[which].reset_index(drop=True)
    out.insert(0, "day", day_of[which_day])
    return out


def _daily_frames(
    data: dict[str, Any],
    days: list[dt.date],
    share: float,
    today: dt.date | None = None,
    with_segments: bool = False,
    with_unstaffed: bool = False,
) -> dict[str, pd.DataFrame]:
    """Per role and day: ``alleys`` (the alley's status, union rule), ``people`` (each holder
    by their own credit, :func:`geo.coverage.holder_day_status`), with ``segments`` every
    segment of the duty alleys, with ``unstaffed`` the (role, day, alley) with no holder.
    Duty-days of ``today`` not patrolled (for people: not credited) are ``pending``.

    Each role's days are judged in one pass (per run of days with the same network: one
    while nothing was re-imported), the duties of each day keyed by day. WHY: a pass per
    role and day cost the patrol map's 14-day chart some 30 rounds of the same pandas work
    whatever the area's size (a community's page half the city's); every number is the
    one a day judged alone reads (:func:`geo.coverage._union_fraction`)."""
    # The walked stretches go to coverage as they are, each on the local day stored with its
    # visit (cut at local midnight when matched): their union per alley is taken over its
    # assigned people only, and a later change of GRIDWARD_TIMEZONE does not move old walks
    # out of every report.
    edges, duties = data["edges"], data["duties"]
    network_of_day = _NetworkByDay(
        data["segments"], get_settings().timezone, data.get("retirements")
    )
    seg_day = (
        edges
        if len(edges)
        else pd.DataFrame(columns=[*_STRETCH_COLS, "covered_fraction", "walked"])
    )
    alley_frames, person_frames, segment_frames, unstaffed_frames = [], [], [], []
    scope = data.get("scope")
    # the local day each street a later import brought came, by street (T50 #5)
    since_rows = data.get("since")
    since = (
        pd.Series(dtype=object)
        if since_rows is None or not len(since_rows)
        else pd.Series(
            [pd.Timestamp(v).date() for v in since_rows["since"]],
            index=since_rows["alley_id"].to_numpy(),
            dtype=object,
        )
    )
    not_yet_frames: list[pd.DataFrame] = []
    runs = _day_runs(network_of_day, days)
    for role in ROLES:
        for run in runs:
            segments = network_of_day(run[0])
            duty_days = _duty_days(duties, role, run)
            # streets of the role's kind live that day, nobody holding them; none before the
            # city's first duty began (``started``): nobody was in post to leave them (T43 #9)
            if with_unstaffed:
                live = segments.loc[segments["kind"] == ROLE_KIND[role], "alley_id"].unique()
                if scope is not None:
                    live = live[np.isin(live, scope.to_numpy())]
                for day in run:
                    if day < data.get("started", day):
                        continue
                    held_then = duty_days.loc[duty_days["day"] == day, "alley_id"].unique()
                    gap = np.setdiff1d(live, held_then)
                    # nor on the days before a later import brought it (T50 #5)
                    if len(since) and len(gap):
                        not_yet = since.index.to_numpy()[since.to_numpy() > day]
                        cut = np.intersect1d(gap, not_yet)
                        if len(cut):
                            gap = np.setdiff1d(gap, cut)
                            not_yet_frames.append(
                                pd.DataFrame({"day": day, "alley_id": cut, "role": role})
                            )
                    if len(gap):
                        unstaffed_frames.append(
                            pd.DataFrame({"day": day, "alley_id": gap, "role": role})
                        )
            # an alley with no segment that day (all retired) is no duty: nothing to walk
            valid = duty_days[duty_days["alley_id"].isin(segments["alley_id"])]
            if valid.empty:
                continue
            a = valid[["day", "alley_id", "person_id"]].drop_duplicates()
            sd = seg_day[seg_day["day"].isin(run)]
            walked_sd = sd[sd["walked"].astype(bool)]  # without the chief corridor's stretches
            if role != "street_chief":  # stewards keep exact credit: no corridor
                sd = walked_sd
            walking = coverage.HolderWalking.of(sd, segments, a)  # merged once, used thrice
            alley_day = coverage.alley_day_status(sd, segments, a, share, run, walking)
            holder_day = coverage.holder_day_status(sd, segments, a, alley_day, share, walking)
            # judged on what is covered (a chief's parallel ways beside the walk included);
            # the metres are those walked. WHY: a chief who walked 474 m of one carriageway
            # of 成府路 read 1188 m, his person row 1371 m, summed on in areas and months
            # (outside tester, T40 #7)
            alley_day["covered_m"] = alley_day["walked_m"]
            alley_day["covered_share"] = alley_day["walked_share"]
            own = None  # the walked-only numbers, where the corridor added stretches
            if len(walked_sd) < len(sd):
                own = coverage.HolderWalking.of(walked_sd, segments, a)
                _walked_only(alley_day, holder_day, walked_sd, segments, a, share, own)
            # today's duty-days not done yet are pending, not missed (a running period)
            for rows in (alley_day, holder_day):
                rows["pending"] = (rows["day"] == today) & ~rows["patrolled"].astype(bool)
            steward_day = coverage.holder_daily_compliance(holder_day)
            # who answered for each alley that day (an officer reading a missed alley asks),
            # what each of them walked and who was credited, in the order of person_ids
            held = valid.drop_duplicates(["day", "alley_id", "person_id"])
            ids, names = _lists(held, "person_id", int), _joined(_lists(held, "person_name"))
            alley_day["person_ids"] = _at(alley_day, ids)
            alley_day["people"] = _at(alley_day, names)
            # their registry ids too: two stewards of one name read alike in ``people``
            alley_day["person_codes"] = _at(alley_day, _joined(_lists(held, "person_code")))
            alley_day["holder_walked_m"] = _at(
                alley_day, _lists(holder_day, "walked_m", lambda v: round(float(v), 1))
            )
            credited = holder_day.loc[holder_day["patrolled"], ["day", "alley_id", "person_id"]]
            credited = credited.merge(held[["day", "alley_id", "person_id", "person_name"]])
            cred_ids = _at(alley_day, _lists(credited, "person_id", int))
            alley_day["credited_ids"] = [v if isinstance(v, list) else [] for v in cred_ids]
            alley_day["credited"] = _at(alley_day, _joined(_lists(credited, "person_name")))
            # each day's rows numbered from 0, as a day judged alone
            alley_day.index = alley_day.groupby("day", sort=False).cumcount().to_numpy()
            steward_day.index = steward_day.groupby("day", sort=False).cumcount().to_numpy()
            alley_frames.append(alley_day.assign(role=role))
            person_frames.append(steward_day.assign(role=role))
            if with_segments:
                for day in run:
                    on_day = a[a["day"] == day][["alley_id", "person_id"]]
                    if on_day.empty:
                        continue
                    seg = coverage.segment_day_status(sd, segments, on_day, [day], walking)
                    seg["covered_fraction"] = seg["walked_fraction"]
                    seg["covered_m"] = seg["walked_m"]
                    if own is not None:  # each segment's walked part, as the alley's (T40 #7)
                        mine = coverage.segment_day_status(walked_sd, segments, on_day, [day], own)
                        mine = mine.set_index("edge_id")
                        for col in ("walked_fraction", "walked_m"):
                            seg[col] = seg["edge_id"].map(mine[col]).fillna(0.0).to_numpy()
                    seg["person_ids"] = _at(seg, ids)
                    seg["people"] = _at(seg, names)
                    segment_frames.append(seg.assign(role=role))
    alley_cols = ["day", "alley_id", "length_m", "walked_m", "walked_share", "patrolled"]
    alley_cols += ["pending", "person_ids", "people", "person_codes", "holder_walked_m"]
    alley_cols += ["credited_ids"]
    alley_cols += ["credited", "role", "covered_m", "covered_share"]
    person_cols = [
        "day",
        "person_id",
        "alleys",
        "patrolled_alleys",
        "pending",
        "compliance",
        "assigned_m",
        "walked_m",
        "role",
    ]
    out = {
        "alleys": pd.concat(alley_frames) if alley_frames else pd.DataFrame(columns=alley_cols),
        "people": pd.concat(person_frames) if person_frames else pd.DataFrame(columns=person_cols),
    }
    if with_segments:
        out["segments"] = _segment_rows(segment_frames, data["segments"])
    if with_unstaffed:
        cols = ["day", "alley_id", "role"]
        out["unstaffed"] = (
            pd.concat(unstaffed_frames, ignore_index=True)
            if unstaffed_frames
            else pd.DataFrame(columns=cols)
        )
        # the unheld street-days left out as before the street was imported (T50 #5)
        out["not_yet"] = (
            pd.concat(not_yet_frames, ignore_index=True)
            if not_yet_frames
            else pd.DataFrame(columns=cols)
        )
    return out


# Each table's columns, in order, whatever the data (:func:`table_columns`)
ALLEY_COLS = [
    *coverage.ALLEY_DAY_COLS,
    "pending",
    "person_ids",
    "people",
    "person_codes",
    "holder_walked_m",
    "credited_ids",
    "credited",
    "role",
    *_AREA_COLS,
    "alley_name",
    # what the patrolled flag is judged on: walked_m/walked_share are the walking alone,
    # these add a chief's parallel ways within STREET_CORRIDOR_M of it (T40 #7); last, so
    # the columns before them keep their places
    "covered_m",
    "covered_share",
]
# who first: the database id, the registry id (人员编号) and the name
_WHO = ["person_id", "person_code", "person_name"]
PEOPLE_DAY_COLS = ["day", *_WHO, "alleys", "patrolled_alleys", "pending", "compliance"]
PEOPLE_DAY_COLS += ["assigned_m", "walked_m", "role", "rank", "late_uploads"]
PEOPLE_PERIOD_COLS = ["period", *_WHO, "days", "alley_days", "patrolled_alley_days", "pending"]
PEOPLE_PERIOD_COLS += ["compliance", "walked_m", "rank", "role", "late_uploads"]
# the first and last day of the period the person held a duty (T43 #11): last, so the
# columns before them keep their places (scripts read them)
PEOPLE_PERIOD_COLS += ["first_day", "last_day"]


def table_columns(kind: str) -> dict[str, list[str]]:
    """The columns of each table of a ``kind`` report, the same with or without data. WHY:
    an empty week's people table had 4 columns (a full one 12) and an empty day's alleys
    no first/last time, so its CSV header differed from every other day's and a sheet
    that stacked the days broke."""
    people = PEOPLE_DAY_COLS if kind == "daily" else PEOPLE_PERIOD_COLS
    cols = {"people": people, "alleys": ALLEY_COLS, "areas": AREA_COLS}
    if kind == "daily":
        cols["segments"] = SEGMENT_COLS
    return cols


def _fixed(df: pd.DataFrame, columns: list[str], name: str) -> pd.DataFrame:
    """``df`` with exactly ``columns``, in order (missing ones empty). A column not in the
    list is a programming error, not dropped: it would vanish from every file unseen."""
    extra = [c for c in df.columns if c not in columns]
    if extra:
        raise RuntimeError(f"report table {name}: columns {extra} are not in table_columns")
    return df.reindex(columns=columns)


SEGMENT_COLS = [
    "day",
    "role",
    "segment_id",
    "alley_id",
    "alley_name",
    "kind",
    "length_m",
    "walked_fraction",
    "walked_m",
    "first_time",
    "last_time",
    "person_ids",
    "people",
    "covered_fraction",  # as the alleys' covered_*: with a chief's corridor (T40 #7)
    "covered_m",
]


def _segment_rows(frames: list[pd.DataFrame], segments: pd.DataFrame) -> pd.DataFrame:
    """The daily ``segments`` table: one row per segment and role, with its street's name
    and kind, ordered by role, street and segment."""
    if not frames:
        return pd.DataFrame(columns=SEGMENT_COLS)
    seg = pd.concat(frames, ignore_index=True).rename(columns={"edge_id": "segment_id"})
    names = segments[["edge_id", "alley_name", "kind"]].rename(columns={"edge_id": "segment_id"})
    seg = seg.merge(names, on="segment_id", how="left")
    seg = seg.sort_values(["role", "alley_id", "segment_id"]).reset_index(drop=True)
    return seg[SEGMENT_COLS]


def share_used(share: float | None) -> float:
    """The share of an alley's length that counts as patrolled: ``share``, else the setting
    (GRIDWARD_PATROLLED_SHARE, 0.8). Reports print it, so a number can be traced to its rule."""
    used = get_settings().patrolled_share if share is None else float(share)
    if not 0 < used <= 1:  # callers name their own option; this is the last guard
        raise InputError(
            f"达标比例 {used} 有误，须大于 0 且不超过 1 share {used} must be in (0, 1]"
        )
    return used


def daily_frames(
    engine: Engine,
    days: list[dt.date],
    area: str | None = None,
    patrolled_share: float | None = None,
    today: dt.date | None = None,
    streets: Sequence[int] | None = None,
) -> dict[dt.date, dict[str, pd.DataFrame]]:
    """Per day, the ``people`` and ``alleys`` rows a daily report of that day has (before
    names, places and ranks are added), read from the database once for all ``days``: a
    chart of 14 days costs one load, not 14 reports. Duty-days of ``today`` (default the
    city's) not done yet are pending, as in the report. ``streets``: as in
    :func:`build_report`."""
    if not days:
        return {}
    data = _load(engine, sorted(days), area, with_areas=False, streets=streets, with_notes=False)
    frames = _daily_frames(data, sorted(days), share_used(patrolled_share), today or city_today())
    alleys, people = frames["alleys"], frames["people"]
    return {
        d: {"people": people[people["day"] == d], "alleys": alleys[alleys["day"] == d]}
        for d in days
    }


def build_report(
    engine: Engine,
    kind: str,
    day: dt.date,
    area: str | None = None,
    patrolled_share: float | None = None,
    today: dt.date | None = None,
    streets: Sequence[int] | None = None,
) -> Report:
    """A report: ``people`` (per steward/chief, ranked, each by their own credit), ``alleys``
    (per alley and day, with who held it and who was credited), ``areas`` (per community
    and subdistrict, with the unstaffed alley-days), for a daily report ``segments`` (per
    segment of every duty alley), over :func:`report_period` (up to ``today``, default the
    city's; today's duty-days not done yet are ``pending``). ``meta`` of the returned
    :class:`Report` holds notes the tables cannot carry (see the module's rules).

    ``streets``: only these alleys/streets, each with every person who held it. Their rows,
    and the ``people`` row of anyone whose every duty is among them, are those of the whole
    report; a co-holder's row counts only these. WHY: one steward's patrol map built the
    whole city's report and its 13 days before (2.7 s of a 4,000-steward city-day,
    bench/city_day.py) to show their own few alleys."""
    patrolled_share = share_used(patrolled_share)
    period = report_period(kind, day, today)
    days = period.days
    data = _load(engine, days, area, streets=streets)
    # the city's start: its first street or alley duty (today while none has begun). WHY:
    # the days before it counted every alley unstaffed, in reports of a time before the
    # city had staff at all (T43 #9); the days since are counted as before
    first_duty = data["first_duty"]
    started = min(first_duty, period.today) if first_duty else period.today
    data["started"] = started
    frames = _daily_frames(
        data,
        days,
        patrolled_share,
        period.today,
        with_segments=kind == "daily",
        with_unstaffed=True,
    )
    alleys, people = frames["alleys"], frames["people"]
    # the registry id (人员编号, as the office knows them) beside the name: two stewards
    # of one name were told apart by nothing but the database id
    names = (
        data["duties"][_WHO].drop_duplicates("person_id")
        if len(data["duties"])
        else pd.DataFrame(columns=_WHO)
    )
    where = data["areas"][["alley_id", *_AREA_COLS]]
    alleys = (
        alleys.merge(where, on="alley_id", how="left")
        .merge(
            data["segments"][["alley_id", "alley_name"]].drop_duplicates("alley_id"),
            on="alley_id",
            how="left",
        )
        # one order for the same data, run after run (duties are read unordered)
        .sort_values(["day", "role", "alley_id"], kind="stable")
        .reset_index(drop=True)
    )
    if kind == "daily":
        per_person = people.copy()
        if len(per_person):
            per_person["rank"] = coverage.rank_rates(per_person["compliance"], per_person["role"])
    else:
        period_of = "week" if kind == "weekly" else "month"
        parts = []
        for role, grp in people.groupby("role"):
            rolled = coverage.compliance_rollup(grp.drop(columns="role"), period_of)
            parts.append(rolled.assign(role=role))
        per_person = pd.concat(parts) if parts else pd.DataFrame(columns=["person_id", "role"])
    per_person = per_person.merge(names, on="person_id", how="left")
    per_person = _with_late_uploads(per_person, data["late"], daily=kind == "daily")
    counted = [d for d in days if d >= started]  # the days anyone could be in post
    spans = pd.DataFrame(columns=["person_id", "role"])
    if kind != "daily":  # the days each was in post (T43 #11): appended columns
        spans = _in_post(people, counted)
        per_person = per_person.merge(
            spans[["person_id", "role", "first_day", "last_day"]],
            on=["person_id", "role"],
            how="left",
        )
    per_person = per_person.sort_values(
        [c for c in ("role", "rank", "person_id") if c in per_person.columns]
    ).reset_index(drop=True)
    unstaffed = frames["unstaffed"].merge(where, on="alley_id", how="left")
    areas = _by_area(alleys, unstaffed, data["areas"])
    readers: dict[str, str] = {}  # each note as a steward or viewer reads it (for_readers)
    notes = (
        _started_note(engine, period, first_duty, started, readers)
        + _not_yet_note(frames["not_yet"], data["since"], readers)
        + _outside_notes(alleys, unstaffed, readers)
        + _zone_notes(data["edges"], readers)
        + _moved_in_notes(data["moved_in"], days, readers)
        + _unmatched_notes(data["unmatched"])
    )
    # notes naming people: kept apart, so a steward's own view says only their own (see
    # own_notes): each note and what it was made from
    named: dict[str, Any] = {}
    for note in _unheld_notes(data["unheld"], readers):
        named[note] = ("unheld", data["unheld"])
    if kind != "daily":
        for note in _part_period_notes(spans, names, counted):
            named[note] = ("part", (spans, names, counted))
    notes += [*named, *_closed_notes(engine, period, data["duties"], started)]
    # the alley rows say it as the area rows do (their codes stay blank: there is no area)
    alleys["community_name"] = alleys["community_name"].where(
        alleys["community_code"].notna(), OUTSIDE_COMMUNITY
    )
    alleys["subdistrict_name"] = alleys["subdistrict_name"].where(
        alleys["subdistrict_code"].notna(), OUTSIDE_SUBDISTRICT
    )
    if data["level"] in ("community", "village"):
        # a subdistrict the filter covers only in part (area = one of its communities):
        # its row would hold that community alone under the subdistrict's name. (A district
        # filter keeps its row of streets outside every subdistrict: they are the district's.)
        part = areas["level"].eq("subdistrict")
        if part.any():
            subs = where.loc[where["community_code"] == area, "subdistrict_code"].dropna()
            whole = f" (or with area={subs.iloc[0]})" if len(subs) else ""
            whole_zh = f"，或用 area={subs.iloc[0]}" if len(subs) else ""
            notes.append(
                f"街道合计未列出：区域 {area} 只是其街道的一部分；要看街道合计，"
                f"请去掉社区筛选再运行{whole_zh} "
                f"subdistrict rows left out: area {area} is only part of its subdistrict; "
                f"subdistrict totals: run without the community filter{whole}"
            )
            areas = areas[~part].reset_index(drop=True)
    if data["split"]:
        # each person's row counts their duties inside the area only (an outside tester read
        # a steward's monthly rate under a community filter for their whole rate)
        n = len(data["split"])
        notes.append(
            f"人员行仅计本区域 {area} 内的职责：其中 {n} 人在区域外也有职责；要看他们的完整比率，"
            f"请去掉区域筛选再运行报表 people rows count only duties in area {area}: {n} of these "
            f"people hold duties outside it too; their whole rates: the report without the "
            "area filter"
        )
    tables = {"people": per_person, "alleys": alleys, "areas": areas}
    if kind == "daily":
        tables["segments"] = frames["segments"]
    columns = table_columns(kind)
    tables = {name: _whole_seconds(_fixed(df, columns[name], name)) for name, df in tables.items()}
    meta = {
        "area": area,
        "area_level": data["level"],
        "area_name": data["area_name"],
        "today": period.today,
        "notes": notes,
        "reader_notes": readers,
        "named_notes": named,
    }
    return Report(tables, meta)


def own_notes(report: Report, person_id: int | None) -> None:
    """The notes naming people (walks on days without a duty, part of the period in post)
    cut to one person's own, in place: a steward's view of the report names no one else.
    A note that does not concern them is dropped."""
    named = report.meta.get("named_notes", {})
    readers = report.meta.setdefault("reader_notes", {})
    out: list[str] = []
    for note in report.meta.get("notes", []):
        if note not in named:
            out.append(note)
            continue
        what, made_of = named[note]
        if what == "unheld":
            mine = made_of[made_of["person_id"] == person_id]
            out += _unheld_notes(mine, readers)
        else:
            spans, names, counted = made_of
            out += _part_period_notes(spans[spans["person_id"] == person_id], names, counted)
    report.meta["notes"] = out


def _unmatched_tracks(conn: Any, start: dt.date, end: dt.date) -> dict[str, int]:
    """Tracks walked on these local days that credit nothing yet: ``waiting`` (stored or
    queued, not matched yet: a worker backlog, an upload still matching) and ``failed``.
    WHY: a weekly check run during a backlog gave rates that looked final."""
    from geo.track_store import SPAN_OVERLAPS, local_days

    # ``before``: matched once already (``tracks rematch``, a re-import), its visits kept
    # until the new match replaces them, so the report counts it as last matched (T47 #6:
    # "N tracks wait … not in this report" beside figures that already held them)
    rows = conn.execute(
        text(
            "SELECT t.status, EXISTS (SELECT 1 FROM track_matches m WHERE m.track_id = t.id) "
            "AS before, count(*) AS n FROM tracks t WHERE t.status IN "
            f"('stored', 'queued', 'failed') AND {SPAN_OVERLAPS} GROUP BY 1, 2"
        ),
        local_days(start, end),
    ).all()
    waiting = sum(int(r.n) for r in rows if r.status != "failed" and not r.before)
    again = sum(int(r.n) for r in rows if r.status != "failed" and r.before)
    failed = sum(int(r.n) for r in rows if r.status == "failed")
    return {"waiting": waiting, "rematching": again, "failed": failed}


# whether a visit's track was uploaded more than the setting's hours after its last fix
# (tracks.uploaded_at, tracks.ended_at)
_LATE_TRACK = (
    "(SELECT t.uploaded_at > t.ended_at + make_interval(secs => :late_s) FROM tracks t "
    "WHERE t.id = v.track_id) AS late "
)


def _late_tracks(edges: pd.DataFrame, segments: pd.DataFrame, scope: Any) -> pd.DataFrame:
    """The late uploads among the report's walked stretches: (person_id, day, track_id),
    one row per person, day and track; with an area filter (``scope``, its streets) only
    the tracks that credited its streets. WHY: a supervisor asked to see walks sent long
    after they were walked (a phone offline for days, or a walk sent in to fill a missed
    day); the credit stays."""
    cols = ["person_id", "day", "track_id"]
    if not len(edges):
        return pd.DataFrame(columns=cols)
    late = edges[edges["late"].eq(True)]  # None: a track without times
    if scope is not None:
        alley = late["edge_id"].map(segments.set_index("edge_id")["alley_id"])
        late = late[alley.isin(scope)]
    return late[cols].drop_duplicates().reset_index(drop=True)


def late_upload(uploaded_at: dt.datetime | None, ended_at: dt.datetime | None) -> bool | None:
    """Whether a track was sent more than ``GRIDWARD_LATE_UPLOAD_H`` after its last fix (迟传,
    as the reports' ``late_uploads`` count it); None without times. WHY on the track too:
    a supervisor who sees a late upload in a report looks for which walk it was."""
    if uploaded_at is None or ended_at is None:
        return None
    return (uploaded_at - ended_at).total_seconds() > get_settings().late_upload_h * 3600.0


def _with_late_uploads(people: pd.DataFrame, late: pd.DataFrame, daily: bool) -> pd.DataFrame:
    """``people`` with ``late_uploads``: each person's late tracks of the row's day (daily)
    or of the whole period, each track once (a walk over midnight is on both its days)."""
    keys = ["day", "person_id"] if daily else ["person_id"]
    if not len(late) or not len(people):
        return people.assign(late_uploads=0)
    late = late.assign(day=pd.to_datetime(late["day"]).dt.date)  # as the rows' days
    counts = late.groupby(keys)["track_id"].nunique().rename("late_uploads").reset_index()
    out = people.merge(counts, on=keys, how="left")
    return out.assign(late_uploads=out["late_uploads"].fillna(0).astype(int))


def _unmatched_notes(unmatched: dict[str, int]) -> list[str]:
    """The note for :func:`_unmatched_tracks` (none when every track of the days is matched)."""
    out = []
    if unmatched["waiting"]:
        out.append(
            # the remedy that works (T47 #1): an upload cut off by a crash is swept up by
            # the service, not by a worker that only drains the queue
            f"{unmatched['waiting']} 条轨迹待匹配，尚未计入本报表（排队的由服务或 tracks worker "
            "匹配，上传中断留下的在约 10 分钟后由服务自动匹配；要立即匹配：gridward tracks "
            "rematch --track ID，GET /tracks?status=stored 列出编号）；匹配完成后请重新生成报表 "
            "tracks of these days still wait to be matched and are not in this report yet "
            "(queued ones are matched by the service or a tracks worker, those an interrupted "
            "upload left by the service within about 10 minutes; to match them now: gridward "
            "tracks rematch --track ID, GET /tracks?status=stored lists them): run the report "
            "again once they are matched"
        )
    if unmatched.get("rematching"):
        out.append(
            f"{unmatched['rematching']} 条轨迹正在重新匹配，本报表暂按其上次的匹配结果计算；"
            "匹配完成后请重新生成报表 "
            f"{count_en(unmatched['rematching'], 'track', 'tracks')} of these days "
            f"{verb_en(unmatched['rematching'], 'is', 'are')} being matched "
            "again: this report counts their previous match; run it again once they are matched"
        )
    if unmatched["failed"]:
        out.append(
            f"{unmatched['failed']} 条轨迹匹配失败，不计入任何巡查（GET /tracks?status=failed "
            "可查看原因） tracks of these days failed to "
            "match and credit nothing (GET /tracks?status=failed says why)"
        )
    return out


def _zone_notes(edges: pd.DataFrame, readers: dict[str, str] | None = None) -> list[str]:
    """A note when walks of the report were put on their days in another time zone than
    today's setting: each keeps its day (a report of a past day does not change), but its
    times now read in the new zone, on another date. WHY: a city that set
    GRIDWARD_TIMEZONE after walks were stored got reports whose times contradicted their
    days, and nothing said why or what to do."""
    if not len(edges):
        return []
    tz = get_settings().timezone
    day = pd.to_datetime(edges["day"]).to_numpy("datetime64[D]")

    def local(col: str) -> Any:  # midnight of the local day, as the day column is
        t = pd.to_datetime(edges[col], utc=True).dt.tz_convert(tz)
        return t.dt.tz_localize(None).to_numpy("datetime64[D]")

    first, last = local("first_time"), local("last_time")
    other = (day != first) & (day != last)
    if not other.any():
        return []
    # the days to re-match are the walks' days in today's zone (rematch picks walks by
    # them), not their stored days: naming those re-matched other walks and left the note
    since, until = (str(d.astype("datetime64[D]")) for d in (first[other].min(), last[other].max()))
    head = (
        f"{int(other.sum())} 段巡查按另一时区分日（此后 GRIDWARD_TIMEZONE 改过），"
        "仍记在原来的日子；"
    )
    note = (
        f"{head}要按 {tz} 计，请运行 gridward tracks rematch --since {since} --until {until} "
        f"walked stretches were put on their days in "
        f"another time zone than {tz} (GRIDWARD_TIMEZONE changed since): they keep those days; to "
        f"count them by {tz}, run gridward tracks rematch --since {since} --until {until}"
    )
    if readers is not None:
        readers[note] = (
            f"{head}要按 {tz} 计，请联系管理员重新匹配 {since} 至 {until} 的轨迹 "
            f"walked stretches were put on their days in another time zone than {tz} "
            f"(GRIDWARD_TIMEZONE changed since): they keep those days; to count them by {tz}, "
            f"ask an admin to re-match the tracks of {since} to {until}"
        )
    return [note]


def _moved_in_notes(
    moved: pd.DataFrame, days: list[dt.date], readers: dict[str, str] | None = None
) -> list[str]:
    """The note for :func:`_moved_in` (none when no stretch of these days sits elsewhere)."""
    if not len(moved):
        return []
    tz = get_settings().timezone
    stored = ", ".join(sorted({str(d) for d in pd.to_datetime(moved["day"]).dt.date}))
    head = (
        f"{len(moved)} 段巡查记在别日：按 {tz} 属于这些日子的巡查存在 {stored}（按另一时区分日，"
        "此后 GRIDWARD_TIMEZONE 改过），未计入此处；"
    )
    en = (
        f"walked stretches of these days (by {tz}) are stored on "
        f"{stored}, put on their days under another time zone (GRIDWARD_TIMEZONE changed "
        f"since) and not counted here: to count them here, "
    )
    note = (
        f"{head}要计入此处，请运行 gridward tracks rematch --since {days[0]} --until {days[-1]} "
        f"{en}run gridward tracks rematch --since {days[0]} --until {days[-1]}"
    )
    if readers is not None:
        readers[note] = (
            f"{head}要计入此处，请联系管理员重新匹配 {days[0]} 至 {days[-1]} 的轨迹 "
            f"{en}ask an admin to re-match the tracks of {days[0]} to {days[-1]}"
        )
    return [note]


def _whole_seconds(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its first/last times cut to the second. WHY: a stretch walked over
    midnight ends its first day at 23:59:59.999999, which Excel rounds to the next day's
    00:00:00 and a CSV printed with microseconds on every time of the column."""
    times = [c for c in ("first_time", "last_time") if c in df.columns]
    if not times:
        return df
    return df.assign(**{c: pd.to_datetime(df[c], utc=True).dt.floor("s") for c in times})


def _outside_notes(
    alleys: pd.DataFrame, unstaffed: pd.DataFrame, readers: dict[str, str] | None = None
) -> list[str]:
    """A note when some streets lie in no imported community: their area rows say
    "outside every community", and the note says how many and what to do. ``readers``
    gets the note as a steward or viewer reads it (:func:`for_readers`)."""
    ids = pd.concat(
        [t.loc[t["community_code"].isna(), "alley_id"] for t in (alleys, unstaffed) if len(t)]
        or [pd.Series(dtype=int)]
    )
    n = int(ids.nunique())
    if not n:
        return []
    head = f"{n} 条街巷不属任何已导入的社区：其区域行显示为 {OUTSIDE_COMMUNITY!r}，不参与排名；"
    en = (
        f"{n} street(s)/alley(s) lie in no imported community: their area "
        f"rows read {OUTSIDE_COMMUNITY!r} and are not ranked; "
    )
    note = (
        f"{head}请导入缺少的社区（gridward import areas）后再计 "
        f"{en}import the missing communities (gridward import areas) to count them"
    )
    if readers is not None:
        readers[note] = (
            f"{head}请联系管理员导入缺少的社区后再计 "
            f"{en}ask an admin to import the missing communities to count them"
        )
    return [note]


# The roles that cannot run a gridward command (a steward on a phone, a viewer): the notes
# they read say to ask an admin (T40 #12)
READER_ROLES = frozenset({"steward", "viewer"})


def for_readers(report: Report) -> None:
    """The report's notes as a steward or viewer reads them (in place): a note giving an
    admin's command (``gridward import areas``, ``gridward tracks rematch``) says to ask an
    admin instead. WHY: a steward's report on her phone told her to run
    ``gridward import areas``, a shell command only an admin can (outside tester, T40 #12)."""
    swap = report.meta.get("reader_notes", {})
    report.meta["notes"] = [swap.get(n, n) for n in report.meta.get("notes", [])]


def pending_count(report: dict[str, pd.DataFrame], person_id: int | None = None) -> int:
    """Duty-days of a running day (today) not done yet: one person's own (``people``), or
    for everyone the alleys/streets not patrolled yet (``alleys``)."""
    return sum(pending_by_role(report, person_id).values())


def pending_by_role(
    report: dict[str, pd.DataFrame], person_id: int | None = None
) -> dict[str, int]:
    """:func:`pending_count` per role (roles with none left out). WHY per role: the patrol
    map's line per role counted them as not patrolled (1 / 86, 1 %, while the report gave
    100 % of what was due: re-tester T36)."""
    rows = report["people"] if person_id is not None else report.get("alleys")
    if rows is None or "pending" not in rows.columns or not len(rows):
        return {}
    if person_id is not None:
        rows = rows[rows["person_id"] == person_id]
        pending = rows["pending"].fillna(0).astype(int)
    else:
        pending = rows["pending"].fillna(False).astype(bool).astype(int)
    return {str(k): int(v) for k, v in pending.groupby(rows["role"]).sum().items() if v}


def report_summary(report: Report | dict[str, pd.DataFrame], period: Period) -> dict[str, Any]:
    """What a report says about itself beyond its period: whether it is ``running`` (today
    inside it), how many alley/street-days of today are ``pending`` (not patrolled yet, so
    in no rate), and its ``notes`` (e.g. subdistrict rows left out under a community
    filter). Taken from the tables as given (after a steward's view is cut to their own)."""
    meta = getattr(report, "meta", {})
    # one person's view: their own pending duty-days (set by the steward's view)
    pending = int(meta["pending"]) if "pending" in meta else pending_count(report)
    notes = list(meta.get("notes", []))
    if period.running:
        notes.append(
            f"{RUNNING_NOTE_ZH}：今天有 {pending} 个街巷·天待巡，不计入任何比率 "
            f"{RUNNING_NOTE_EN}: {pending} street/alley-days of today pending, in no rate"
        )
    area = None
    if meta.get("area"):  # which area a filtered report covers: files of four communities
        # looked alike, and a district's figures could not be told from the city's
        area = {
            "code": meta["area"],
            "name": meta.get("area_name"),
            "level": meta.get("area_level"),
        }
    return {"running": period.running, "pending": pending, "notes": notes, "area": area}


AREA_LEVELS = {
    "district": "区 district",
    "subdistrict": "街道 subdistrict",
    "community": "社区 community",
}
AREA_COLS = [
    "role",
    "level",
    "subdistrict_code",
    "subdistrict_name",
    "community_code",
    "community_name",
    "alley_days",
    "patrolled",
    "pending",
    "compliance",
    "unstaffed",
    "walked_m",
    "length_m",
    "rank",
    # appended (T50 #11): the columns before keep their places (scripts read them)
    "district_code",
    "district_name",
]
_DISTRICT_COLS = ["district_code", "district_name"]


def _by_area(
    alleys: pd.DataFrame,
    unstaffed: pd.DataFrame | None = None,
    districts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per role: one row per subdistrict (街道) and per community (社区) with its alley-days
    (staffed), patrolled and pending alley-days, compliance (patrolled / (alley-days −
    pending)), ``unstaffed`` alley-days (no holder that day: not in the rate), ranked among
    its level (1 = best, ties share; null without a rate). An area whose alleys nobody holds
    has a row too: its gap is the point of a 周查.

    Every row names its district (``district_code``, ``district_name``: its subdistrict's,
    from ``districts``, each street's district by alley_id; blank for the rows of streets
    outside every subdistrict), and when the rows span two districts or more, each district
    has a row too (level ``district``, first in its role). WHY: two subdistricts named
    学院路街道 in two districts were told apart by code only (T50 #11); a one-district table
    keeps its rows as they were."""
    num = ["staffed", "patrolled", "pending", "unstaffed", "walked_m", "length_m"]
    keys = ["role", *_AREA_COLS]
    parts = []
    if len(alleys):
        staffed = alleys[[*keys, "alley_id", "patrolled", "pending", "walked_m", "length_m"]]
        parts.append(staffed.assign(staffed=1, unstaffed=0))
    if unstaffed is not None and len(unstaffed):
        parts.append(
            unstaffed[[*keys, "alley_id"]].assign(
                staffed=0, patrolled=False, pending=False, unstaffed=1, walked_m=0.0, length_m=0.0
            )
        )
    if not parts:
        return pd.DataFrame(columns=AREA_COLS)
    rows = pd.concat(parts, ignore_index=True)
    for c in ("patrolled", "pending"):
        rows[c] = rows[c].astype(bool).astype(int)
    rows[["walked_m", "length_m"]] = rows[["walked_m", "length_m"]].astype(float)
    rows = _with_districts(rows, districts)
    sub_keys = ["role", "subdistrict_code", "subdistrict_name"]
    subs = rows.groupby(sub_keys, dropna=False)[num].sum().reset_index()
    subs = subs.assign(level="subdistrict", community_code=None, community_name=None)
    comm_keys = [*sub_keys, "community_code", "community_name"]
    comms = rows.groupby(comm_keys, dropna=False)[num].sum().reset_index()
    frames = [subs, comms.assign(level="community")]
    if rows["district_code"].dropna().nunique() >= 2:
        dist = rows.groupby(["role", *_DISTRICT_COLS], dropna=False)[num].sum().reset_index()
        frames.insert(0, dist.assign(level="district"))
    out = pd.concat(frames, ignore_index=True)
    # a subdistrict's (or community's) district is its subdistrict's
    named = rows.dropna(subset=["subdistrict_code"]).drop_duplicates("subdistrict_code")
    named = named.set_index("subdistrict_code")
    sub_rows = out["level"].ne("district")
    for c in _DISTRICT_COLS:
        out[c] = out[c].astype(object) if c in out.columns else None
        out.loc[sub_rows, c] = out.loc[sub_rows, "subdistrict_code"].map(named[c])
    out = out.rename(columns={"staffed": "alley_days"})
    for c in ("alley_days", "patrolled", "pending", "unstaffed"):
        out[c] = out[c].astype(int)
    out["compliance"] = coverage.rate(out["patrolled"], out["alley_days"] - out["pending"])
    out = _name_outside(out)
    # a row outside every area is no area: it is not ranked among them
    ranked = out["rank_code"].notna()
    out["rank"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out.loc[ranked, "rank"] = coverage.rank_rates(
        out.loc[ranked, "compliance"], [out.loc[ranked, "role"], out.loc[ranked, "level"]]
    )
    return _area_order(out)[AREA_COLS].reset_index(drop=True)


def _with_districts(rows: pd.DataFrame, districts: pd.DataFrame | None) -> pd.DataFrame:
    """``rows`` (one per street-day, with alley_id) with each street's district: for a street
    in a subdistrict, the subdistrict's (the lowest district code among its streets: one
    for a subdistrict with a parent), so a district's row holds exactly its subdistricts'."""
    if districts is None or not len(districts):
        return rows.assign(district_code=None, district_name=None)
    d = districts[["alley_id", *_DISTRICT_COLS]].drop_duplicates("alley_id")
    rows = rows.merge(d, on="alley_id", how="left")
    for c in _DISTRICT_COLS:
        rows[c] = rows[c].astype(object)
    of_sub = (
        rows.dropna(subset=["subdistrict_code", "district_code"])
        .sort_values("district_code", kind="stable")
        .drop_duplicates("subdistrict_code")
        .set_index("subdistrict_code")
    )
    has_sub = rows["subdistrict_code"].notna()
    for c in _DISTRICT_COLS:
        rows.loc[has_sub, c] = rows.loc[has_sub, "subdistrict_code"].map(of_sub[c])
    return rows


def _area_order(out: pd.DataFrame) -> pd.DataFrame:
    """Area rows in one order, run after run: per role, each subdistrict by code followed by
    its communities by code, the row of its streets outside every community last; the rows
    of streets outside every subdistrict after all named subdistricts. WHY: blank codes
    sorted first, and rows of equal (blank) keys in no fixed order, so the outside rows led
    the table, in any order (acceptance tester)."""
    dist = out["level"].eq("district")  # the district rows first, by code (T50 #11)
    keys = pd.DataFrame(
        {
            "role": out["role"],
            "not_district": ~dist,
            "no_district": dist & out["district_code"].isna(),
            "district": out["district_code"].astype(object).where(dist, "").fillna(""),
            "no_subdistrict": out["subdistrict_code"].isna(),
            "subdistrict": out["subdistrict_code"].astype(object).fillna(""),
            "community_row": out["level"].eq("community"),
            "no_community": out["community_code"].isna(),
            "community": out["community_code"].astype(object).fillna(""),
        },
        index=out.index,
    )
    return out.loc[keys.sort_values(list(keys.columns), kind="stable").index]


UNNAMED = "（无名 unnamed）"  # before the key of an unnamed way: （无名 unnamed）way:84273943
OUTSIDE_COMMUNITY = "（不属任何社区）outside every community"
OUTSIDE_SUBDISTRICT = "（不属任何街道）outside every subdistrict"
OUTSIDE_DISTRICT = "（不属任何区）outside every district"


def _name_outside(out: pd.DataFrame) -> pd.DataFrame:
    """Area rows of alleys that lie in no imported community (or of communities without a
    subdistrict) named as such: their code is blank (there is no area), and a blank name
    beside it read as a broken row (acceptance tester). ``rank_code``: the code a row is
    ranked by (none for these rows)."""
    out = out.copy()
    # all-blank name columns (no area imported at all) are float NaN: made text to be named
    out[["subdistrict_name", "community_name"]] = out[
        ["subdistrict_name", "community_name"]
    ].astype(object)
    sub = out["level"].eq("subdistrict")
    dist = out["level"].eq("district")  # no subdistrict or community of its own
    no_sub = out["subdistrict_code"].isna() & ~dist
    no_comm = out["community_code"].isna() & ~sub & ~dist
    out.loc[no_sub, "subdistrict_name"] = OUTSIDE_SUBDISTRICT
    out.loc[no_comm, "community_name"] = OUTSIDE_COMMUNITY
    out.loc[dist & out["district_code"].isna(), "district_name"] = OUTSIDE_DISTRICT
    out["rank_code"] = out["subdistrict_code"].where(sub, out["community_code"])
    out.loc[dist, "rank_code"] = out.loc[dist, "district_code"]
    return out

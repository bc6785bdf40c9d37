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
* Street chiefs' parallel ways (:func:`geo.street_corridor.chief_corridor`): a chief's
  street counts as covered where it lies within :data:`geo.street_corridor.STREET_CORRIDOR_M`
  of the chief's walk of the day (the other carriageway, a side road). ``patrolled`` (and
  the chief's credit) is judged on that:
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
  upload came more than ``GRIDWARD_LATE_UPLOAD_H`` after their last fix, and
  ``late_days_max`` the longest of those delays in whole days (blank without one). A marker
  for the supervisor only: the credit of a late track is unchanged.
* ``suspect_tracks`` in the people and alley rows: the flagged tracks (``tracks.flags``,
  :mod:`geo.suspect_tracks`) that credited the row, each once; a note names up to five with
  their first flag. Flagged walks are credited as before (an evaluator withdraws a cheat);
  a steward's own view has neither the column nor the note.
* ``midnight_alley_days`` in the people rows: the row's patrolled street/alley-days that a
  walk over midnight (跨零点: its first and last fix on two local days) earned; such a walk
  is credited on each day for the part walked that day (the rule stays), and a note says
  how many days and whose (T69 #5). Not a flag: a steward's own view keeps the column and
  the note of her own walks.
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
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo import coverage
from geo.closed_changes import data_as_of
from geo.errors import InputError, NotFoundError
from geo.late_uploads import LATE_TRACK, late_days, late_tracks, with_late_uploads
from geo.patrol_days import ROLES, SEGMENT_COLS, STRETCH_COLS, judge_days
from geo.report_areas import (
    AREA_COLS,
    OUTSIDE_COMMUNITY,
    OUTSIDE_SUBDISTRICT,
    ROW_AREA_COLS,
    by_area,
)
from geo.report_notes import (
    MIDNIGHT_COL,
    closed_notes,
    midnight_note,
    midnight_walks,
    moved_in_notes,
    moved_in_stretches,
    not_yet_note,
    outside_notes,
    part_period_notes,
    started_note,
    unheld_notes,
    unheld_walks,
    unmatched_notes,
    unmatched_tracks,
    with_midnight_days,
    zone_notes,
)
from geo.report_period import RUNNING_NOTE_EN, RUNNING_NOTE_ZH, Period, report_period
from geo.settings import city_today, get_settings
from geo.sql_frames import read_frame
from geo.street_areas import AREA_CODES, AREA_COLUMNS, near_area_sql, street_areas_sql
from geo.street_corridor import STRETCHES_FROM, chief_corridor
from geo.suspect_tracks import flagged_walks, suspect_note, with_suspect_tracks
from geo.track_days import local_iso

_STREET_AREA_SQL = street_areas_sql()


SHEETS = {
    "people": "人员 people",
    "alleys": "街巷 alleys",
    "areas": "区域 areas",
    "segments": "路段 segments",
}
ABOUT_SHEET = "报表 report"
TABLES = tuple(SHEETS)  # the tables a CSV can hold (--table / table=)


# 街 (not 街道: in these reports 街道 is the subdistrict, the area level "街道 subdistrict")
KIND_LABELS = {"alley": "小巷 alley", "street": "街 street"}


class Report(dict):
    """A report's tables by name (``people``, ``alleys``, ``areas``, daily ``segments``) and
    ``meta``: what the tables do not say themselves (notes on the area filter, ``today``).
    A dict, so ``report["people"]`` and iterating over the tables work as they always did."""

    def __init__(self, tables: dict[str, pd.DataFrame], meta: dict[str, Any] | None = None):
        super().__init__(tables)
        self.meta: dict[str, Any] = dict(meta or {})


def role_label(code: Any) -> Any:
    """小巷管家 alley steward for ``alley_steward``; anything else as it is."""
    return ROLES.get(code, code) if isinstance(code, str) else code


UNNAMED = "（无名 unnamed）"  # before the key of an unnamed way: （无名 unnamed）way:84273943


def known_area(conn: Connection, area: str) -> Any:
    """The stored area of ``code`` (id, level, name), else NotFoundError (a 404): checked
    before a report's work, and before a background report is queued."""
    found = conn.execute(
        text("SELECT id, level, name FROM areas WHERE code = :c"), {"c": area}
    ).first()
    if found is None:
        raise NotFoundError(f"区域 {area} 不存在，请检查区域代码 area {area} does not exist")
    return found


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
            found = known_area(conn, area)
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
                + LATE_TRACK
                + STRETCHES_FROM
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
        corridor = chief_corridor(conn, duties, start, end)  # only the area's chiefs
        late = late_tracks(edges, segments, scope)
        # what only a report shows (not the patrol map's days): how late each late track
        # was (T52 #18) and the walks of flagged tracks (可疑轨迹, T52 #12)
        suspect = tracks_flagged = midnight = tracks_midnight = None
        if with_notes:
            late = late_days(conn, late)
            suspect, tracks_flagged = flagged_walks(conn, edges, segments)
            # walks over midnight, credited on each day (跨零点, T69 #5)
            midnight, tracks_midnight = midnight_walks(conn, edges, segments, settings.timezone)
        unmatched = unmatched_tracks(conn, start, end)
        moved_in = moved_in_stretches(conn, start, end, settings.timezone)
        unheld = unheld_walks(conn, edges, segments, start, end) if with_notes else None
        as_of = data_as_of(conn) if with_notes else None  # which data (T55 #3)
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
        # day each came, where after the report's first day (T50 #5). WHY: unstaffed counted
        # them on every day before they existed, so adding a district changed the past
        # reports' unstaffed totals. The first network's streets are left out: a city that
        # imports its streets after its staff started counts from its first duty, as before
        # (migration 0013's reason). "Later" is by import run, not by day: a street made
        # after the first network import (its transaction's time, which its streets share;
        # the oldest street's time when no import is recorded). WHY: a second district
        # imported on the setup day itself, the same local day as the first network, read
        # unstaffed on every day before (T51 #7)
        since = (
            read_frame(
                text(
                    "WITH first AS (SELECT coalesce((SELECT min(created_at) FROM imports "
                    "WHERE kind = 'osm'), (SELECT min(created_at) FROM streets)) AS at), "
                    "s AS (SELECT id, created_at, CAST(created_at AT TIME ZONE :tz AS date) "
                    "AS day FROM streets) SELECT s.id AS alley_id, s.day AS since FROM s, first "
                    "WHERE s.day > :a AND s.created_at > first.at"
                ),
                conn,
                params={"tz": settings.timezone, "a": start},
            )
            if with_notes
            else None
        )
    if scope is not None and len(moved_in):  # only the area's streets, as the rows
        street = moved_in["edge_id"].map(segments.set_index("edge_id")["alley_id"])
        moved_in = moved_in[street.isin(scope)]
    # exact union of walked stretches: one row per stretch; ``walked`` false for a stretch
    # the chief corridor adds (a parallel way beside the walk: covered, not walked, T40 #7)
    edges = edges[STRETCH_COLS] if len(edges) else pd.DataFrame(columns=STRETCH_COLS)
    edges = edges.assign(walked=True)
    if len(corridor):
        edges = pd.concat([edges, corridor[STRETCH_COLS].assign(walked=False)], ignore_index=True)
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
        "suspect": suspect,
        "tracks_flagged": tracks_flagged,
        "midnight": midnight,
        "tracks_midnight": tracks_midnight,
        "moved_in": moved_in,
        "unheld": unheld,
        "first_duty": first_duty,
        "as_of": as_of,
        "since": since,
    }


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
    *ROW_AREA_COLS,
    "alley_name",
    # what the patrolled flag is judged on: walked_m/walked_share are the walking alone,
    # these add a chief's parallel ways within STREET_CORRIDOR_M of it (T40 #7); last, so
    # the columns before them keep their places
    "covered_m",
    "covered_share",
    # flagged tracks that credited the row (可疑轨迹, T52 #12): for evaluators, dropped from a
    # steward's own view; last, so the columns before keep their places
    "suspect_tracks",
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
# appended (T52): the longest delay of the row's late uploads in whole days (#18), and the
# flagged tracks that credited the row (#12; for evaluators, not in a steward's own view)
MARKER_COLS = ["late_days_max", "suspect_tracks"]
PEOPLE_DAY_COLS += MARKER_COLS
PEOPLE_PERIOD_COLS += MARKER_COLS
# appended (T69 #5): the row's patrolled street/alley-days credited by walks over midnight
# (跨零点, one outing counted on each day it walked); in a steward's own view too
PEOPLE_DAY_COLS += [MIDNIGHT_COL]
PEOPLE_PERIOD_COLS += [MIDNIGHT_COL]
# the columns a steward's own view leaves out (api.routes.reports._own_view)
EVALUATOR_COLS = ("suspect_tracks",)


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


def share_used(share: float | None) -> float:
    """The share of an alley's length that counts as patrolled: ``share``, else the setting
    (GRIDWARD_PATROLLED_SHARE, 0.8). Reports print it, so a number can be traced to its rule."""
    used = get_settings().patrolled_share if share is None else float(share)
    if not 0 < used <= 1:  # callers name their own option; this is the last guard
        raise InputError(f"达标线 {used} 有误，须大于 0 且不超过 1 share {used} must be in (0, 1]")
    return used


# the threshold's one name in every report text (T71 #5: 达标线, 达标比例, 巷走完比例 and 达标
# for one rule), with the web's English
SHARE_LABEL = "达标线 patrolled when"


def share_text(share: float) -> str:
    """The threshold as a percentage, its one form in texts: ``80%`` (``87.5%``), not 0.8."""
    return f"{share * 100:g}%"


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
    frames = judge_days(data, sorted(days), share_used(patrolled_share), today or city_today())
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
    progress: Callable[[float, str], None] | None = None,
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
    bench/city_day.py) to show their own few alleys.

    ``progress(fraction, message)``: told as each stage ends (a background job's status)."""
    say = progress or (lambda _f, _m: None)
    patrolled_share = share_used(patrolled_share)
    period = report_period(kind, day, today)
    days = period.days
    data = _load(engine, days, area, streets=streets)
    say(0.4, f"已读取 {len(days)} 天的巡查数据 {len(days)} days of patrols read")
    # the city's start: its first street or alley duty (today while none has begun). WHY:
    # the days before it counted every alley unstaffed, in reports of a time before the
    # city had staff at all (T43 #9); the days since are counted as before
    first_duty = data["first_duty"]
    started = min(first_duty, period.today) if first_duty else period.today
    data["started"] = started
    frames = judge_days(
        data,
        days,
        patrolled_share,
        period.today,
        with_segments=kind == "daily",
        with_unstaffed=True,
    )
    alleys, people = frames["alleys"], frames["people"]
    say(0.7, "已判定各巷各日的巡查 each alley's days judged")
    # the registry id (人员编号, as the office knows them) beside the name: two stewards
    # of one name were told apart by nothing but the database id
    names = (
        data["duties"][_WHO].drop_duplicates("person_id")
        if len(data["duties"])
        else pd.DataFrame(columns=_WHO)
    )
    where = data["areas"][["alley_id", *ROW_AREA_COLS]]
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
    per_person = with_late_uploads(per_person, data["late"], daily=kind == "daily", held=people)
    # flagged tracks (可疑轨迹) that credited each row: for evaluators; the credit is as before
    walks = data["suspect"] if data["suspect"] is not None else pd.DataFrame(columns=["day"])
    alleys, per_person, hits = with_suspect_tracks(alleys, per_person, walks, kind == "daily")
    # patrolled days earned by walks over midnight (跨零点): a marker, the credit is as before
    per_person, midnight = with_midnight_days(alleys, per_person, data["midnight"], kind == "daily")
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
    areas = by_area(alleys, unstaffed, data["areas"])
    say(0.8, "已汇总人员和区域 people and areas rolled up")
    readers: dict[str, str] = {}  # each note as a steward or viewer reads it (for_readers)
    notes = (
        started_note(engine, period, first_duty, started, readers)
        + not_yet_note(frames["not_yet"], data["since"], readers)
        + outside_notes(alleys, unstaffed, readers)
        + zone_notes(data["edges"], readers)
        + moved_in_notes(data["moved_in"], days, readers)
        + unmatched_notes(data["unmatched"])
    )
    # notes naming people: kept apart, so a steward's own view says only their own (see
    # own_notes): each note and what it was made from
    named: dict[str, Any] = {}
    for note in unheld_notes(data["unheld"], readers):
        named[note] = ("unheld", data["unheld"])
    if kind != "daily":
        for note in part_period_notes(spans, names, counted):
            named[note] = ("part", (spans, names, counted))
    # the flagged tracks: for evaluators only, so a steward's own view drops it (own_notes)
    for note in suspect_note(hits, data["tracks_flagged"], readers):
        named[note] = ("suspect", None)
    # walks over midnight: everyone's for evaluators, her own for a steward (own_notes)
    over = (midnight, data["tracks_midnight"], names)
    for note in midnight_note(*over):
        named[note] = ("midnight", over)
    # what changed after a closed period: a steward's own view counts her walks and duties
    # only (own_notes makes it again for her), not everyone's late uploads and withdrawals
    closed = partial(
        closed_notes, engine, period, data["duties"], started, data["areas"]["alley_id"].tolist()
    )
    for note in closed():
        named[note] = ("closed", closed)
    notes += [*named]
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
        note = (
            f"人员行仅计本区域 {area} 内的职责：其中 {n} 人在区域外也有职责；要看他们的完整比率，"
            f"请去掉区域筛选再运行报表 people rows count only duties in area {area}: {n} of these "
            f"people hold duties outside it too; their whole rates: the report without the "
            "area filter"
        )
        notes.append(note)
        named[note] = ("split", (area, set(data["split"])))
    tables = {"people": per_person, "alleys": alleys, "areas": areas}
    if kind == "daily":
        tables["segments"] = frames["segments"]
    columns = table_columns(kind)
    tables = {name: _whole_seconds(_fixed(df, columns[name], name)) for name, df in tables.items()}
    meta = {
        "area": area,
        "data_as_of": data["as_of"],
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
    A note that does not concern them is dropped, and so is the suspect-tracks note (flags
    are for evaluators, :mod:`geo.suspect_tracks`); the walks-over-midnight note keeps her
    own walks; the note on what changed after a closed period counts their own walks and
    duties (:func:`geo.report_notes.closed_notes`)."""
    named = report.meta.get("named_notes", {})
    readers = report.meta.setdefault("reader_notes", {})
    out: list[str] = []
    for note in report.meta.get("notes", []):
        if note not in named:
            out.append(note)
            continue
        what, made_of = named[note]
        if what == "suspect":  # flags are for evaluators: not in a steward's own view
            continue
        if what == "closed":  # made again of her own walks and duties
            out += made_of(person=person_id) if person_id is not None else []
            continue
        if what == "split":  # about others' rows: only hers, if she is one of them
            where, split = made_of
            if person_id in split:
                out.append(split_note_for_one(where))
            continue
        if what == "midnight":  # her own walks over midnight only
            hits, tracks, names = made_of
            out += midnight_note(hits[hits["person_id"] == person_id], tracks, names)
            continue
        if what == "unheld":
            mine = made_of[made_of["person_id"] == person_id]
            out += unheld_notes(mine, readers)
        else:
            spans, names, counted = made_of
            out += part_period_notes(spans[spans["person_id"] == person_id], names, counted)
    report.meta["notes"] = out


def split_note_for_one(area: str) -> str:
    """The area filter's note on split duties, for the one person it concerns. WHY (T66
    N4): a steward's own view of a community kept the note on how many people hold duties
    outside it, although it showed her none of those rows."""
    return (
        f"您的行仅计本区域 {area} 内的职责，您在区域外也有职责；要看完整比率，请去掉区域筛选 "
        f"your row counts only your duties in area {area}: you hold duties outside it too; "
        "your whole rate: the report without the area filter"
    )


def _whole_seconds(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its first/last times cut to the second. WHY: a stretch walked over
    midnight ends its first day at 23:59:59.999999, which Excel rounds to the next day's
    00:00:00 and a CSV printed with microseconds on every time of the column."""
    times = [c for c in ("first_time", "last_time") if c in df.columns]
    if not times:
        return df
    return df.assign(**{c: pd.to_datetime(df[c], utc=True).dt.floor("s") for c in times})


# The roles that cannot run a gridward command (a steward on a phone, a viewer): the notes
# they read say to ask an admin (T40 #12)
READER_ROLES = frozenset({"steward", "viewer"})


def for_readers(report: Report, evaluator: bool = False) -> None:
    """The report's notes as a reader of the API or the web page reads them (in place): a
    note giving an admin's command (``gridward import areas``, ``gridward assign set
    --from``, ``gridward tracks rematch``) says to ask an admin instead. WHY: a steward's
    report on her phone told her to run ``gridward import areas``, a shell command only an
    admin can (outside tester, T40 #12); a planner in the browser has no shell either (T71
    #35). ``evaluator`` (an admin or planner): the suspect-tracks note keeps its remedy (the
    withdrawal is theirs, ``DELETE /tracks/ID``, and the list of flagged tracks)."""
    swap = report.meta.get("reader_notes", {})
    named = report.meta.get("named_notes", {})
    keep = {n for n, (what, _) in named.items() if what == "suspect"} if evaluator else set()
    report.meta["notes"] = [
        n if n in keep else swap.get(n, n) for n in report.meta.get("notes", [])
    ]


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


# the unit of the duty counts (街巷·天 alley_days, 无人负责·天 unstaffed, …), said once in every
# report's notes. WHY: a unit of gridward's own, explained nowhere (T71 #22)
ALLEY_DAY_NOTE = (
    "街巷·天：一条街巷在一天内的巡查任务，计为 1；周查、月评把各天的相加 "
    "street/alley-day: one street's or alley's patrol duty on one day, counted as 1; a weekly "
    "or monthly report adds up its days"
)


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
            f"{RUNNING_NOTE_ZH}：今天有 {pending} 项街巷·天尚未完成，不计入达标率 "
            f"{RUNNING_NOTE_EN}: {pending} street/alley-days of today not done yet, in no rate"
        )
    notes.append(ALLEY_DAY_NOTE)
    area = None
    if meta.get("area"):  # which area a filtered report covers: files of four communities
        # looked alike, and a district's figures could not be told from the city's
        area = {
            "code": meta["area"],
            "name": meta.get("area_name"),
            "level": meta.get("area_level"),
        }
    as_of = meta.get("data_as_of")
    return {
        "running": period.running,
        "pending": pending,
        "notes": notes,
        "area": area,
        # the newest change of the data it is made from, in the city's zone (T55 #3)
        "data_as_of": local_iso(as_of),
    }

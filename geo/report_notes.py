"""The sentences a report adds about what its tables cannot show: walks that credit
nobody, days before the city's first duty or before a street was imported, people in post
part of the period, what changed after a closed period, tracks not matched yet, walks put
on their days in another time zone, streets outside every community, patrolled days earned
by walks over midnight (and that count's column of the people rows).

Apart from :mod:`geo.patrol_reports` because none of it changes a number: each note reads
what it needs (some a query of its own) and says it, Chinese first, with its remedy, and
for a steward or viewer (``readers``) the remedy they can ask for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, Engine, text

from geo import coverage
from geo.closed_changes import days_from, later_changes, period_days
from geo.errors import count_en, verb_en
from geo.patrol_days import ROLES
from geo.report_areas import OUTSIDE_COMMUNITY
from geo.report_period import Period, zone_zh
from geo.settings import get_settings
from geo.sql_frames import read_frame
from geo.suspect_tracks import walks_of_tracks


def moved_in_stretches(conn: Connection, start: dt.date, end: dt.date, tz: str) -> pd.DataFrame:
    """Stretches stored on a day next to the report's days that today's zone puts in them
    (walked in them by GRIDWARD_TIMEZONE, stored while another zone was set): their
    segment and stored day. WHY: :func:`zone_notes` told the report of the stored day; the
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


def unheld_walks(
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


def unheld_notes(unheld: pd.DataFrame, readers: dict[str, str] | None = None) -> list[str]:
    """The note for :func:`unheld_walks` (none when every walker held a duty that day)."""
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


def started_note(
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
        readers[note] = f"{head}请联系管理员补设职责 {en}ask an admin to backdate the duties"
    return [note]


def not_yet_note(
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


def part_period_notes(
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


# what a network import changes beside adding segments
OTHER_CHANGES = ("segments_retired", "segments_restored", "segments_moved", "streets_renamed")


def days_named(tz: ZoneInfo) -> Callable[[Iterable[Any]], tuple[str, str]]:
    """``days(stamps)``: the local days of some times, at most three named, in Chinese and in
    English (``2026-11-20、2026-11-21 等``), for the notes on what changed after a time."""

    def days(stamps: Iterable[Any]) -> tuple[str, str]:
        shown = sorted({pd.Timestamp(t).tz_convert(tz).date().isoformat() for t in stamps})
        more = len(shown) > 3
        return (
            "、".join(shown[:3]) + (" 等" if more else ""),
            ", ".join(shown[:3]) + (" and later" if more else ""),
        )

    return days


def reimport_clauses(
    conn: Connection, cut: dt.datetime, days: Callable[[Iterable[Any]], tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """Chinese and English clauses on the network and the areas re-imported from ``cut`` on
    (a period's end, or a report's signing): what each network import changed, the days."""
    imports = conn.execute(
        text(
            # the segments of the streets the import brought that count on every day
            # (added_at NULL: a new area's extract, sharing nothing with the stored
            # network; its streets share the import's transaction time)
            "SELECT i.kind, i.created_at, i.counts, CASE WHEN i.kind = 'osm' THEN "
            "(SELECT count(*) FROM street_segments s JOIN streets st ON st.id = s.street_id "
            "WHERE st.created_at = i.created_at AND s.added_at IS NULL) ELSE 0 END "
            "AS new_area_segments FROM imports i "
            "WHERE i.kind IN ('osm', 'areas') AND i.created_at >= :t "
            # a re-import: the first import of its kind changed nothing that was there
            "AND EXISTS (SELECT 1 FROM imports j WHERE j.kind = i.kind AND j.id < i.id) "
            "ORDER BY i.id"
        ),
        {"t": cut},
    ).all()
    zh: list[str] = []
    en: list[str] = []
    net = [r for r in imports if r.kind == "osm"]

    def changed(r: Any, k: str) -> int:
        return int((r.counts or {}).get(k, 0))

    # segments_moved and streets_renamed: counts of imports that keep a renamed way's past
    # days on its old street (absent from older imports' counts: 0)
    kinds = ("segments_retired", "segments_added", "segments_restored", "segments_moved")
    net = [r for r in net if any(changed(r, k) for k in (*kinds, "streets_renamed"))]
    # a new area's extract only (every segment it added is of a street it brought, nothing
    # else changed): it changed nothing of a closed period, whose days count no unstaffed
    # day for its streets (the not-yet-imported note says so); said here it read as a
    # re-import whose days "still count the segments they had" (T51 #7)
    net = [
        r
        for r in net
        if not (
            changed(r, "segments_added") == int(r.new_area_segments or 0)
            and not any(changed(r, k) for k in OTHER_CHANGES)
        )
    ]
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
    areas = [r for r in imports if r.kind == "areas" and _areas_changed(r.counts)]
    if areas:
        when, when_en = days(r.created_at for r in areas)
        zh.append(f"{when} 重新导入区划（社区、街道行按现在的边界计）")
        en.append(
            f"the areas were re-imported on {when_en} "
            "(community and subdistrict rows follow today's boundaries)"
        )
    return zh, en


def _areas_changed(counts: dict[str, Any] | None) -> bool:
    """An areas import wrote an area or made a parent (``areas_written``, ``parents`` of
    :func:`geo.areas_import.import_areas`). WHY: a re-import of the same file (写入 0) was
    named in every closed report and the signed copy as a change that may move the figures
    (T71 #18), as a network import that changed nothing no longer is. An import recorded
    without those counts is kept: what it changed is unknown."""
    got = counts or {}
    if "areas_written" not in got:
        return True
    return bool(int(got.get("areas_written") or 0) or int(got.get("parents") or 0))


def held_days(duties: Iterable[Any], start: dt.date, end: dt.date) -> tuple[str, str]:
    """The days of ``start``..``end`` some of ``duties`` (``valid_from``, ``valid_to``) hold,
    named as :func:`geo.closed_changes.period_days` names them."""
    held: set[dt.date] = set()
    for d in duties:
        first = max(pd.Timestamp(d.valid_from).date(), start)
        last = end if pd.isna(d.valid_to) else min(pd.Timestamp(d.valid_to).date(), end)
        held |= days_from(first, last)
    return period_days(held, start, end)


def closed_notes(
    engine: Engine,
    period: Period,
    duties: pd.DataFrame,
    started: dt.date,
    alleys: Sequence[int] = (),
    person: int | None = None,
) -> list[str]:
    """A note on a closed period (ended before today) when what it is computed from changed
    after it ended: the network re-imported with segments retired, added or restored, the
    areas re-imported, duties set afterwards that reach back into it, and in the report's
    scope (``alleys``, the holders in ``duties``) walks uploaded late, walks withdrawn,
    restored or changed, duties ended, undone or closed by a leave
    (:mod:`geo.closed_changes`). WHY: a report is
    recomputed whenever it is asked for, and a closed month's figures changed after a
    re-import with nothing saying so; only files saved earlier showed it (T43 #4). Each day
    keeps the segments it had (:class:`geo.patrol_days._NetworkByDay`), but street names, the
    streets' communities and backdated duties are today's. ``person``: a steward's own note,
    of her walks and duties only (the re-imports stay: they change her streets)."""
    if period.today is None or period.end >= period.today or period.end < started:
        return []
    if person is not None and len(duties):
        duties = duties[duties["person_id"] == person]
    tz = ZoneInfo(get_settings().timezone)
    closed = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    days = days_named(tz)
    with engine.connect() as conn:
        zh, en = reimport_clauses(conn, closed, days)
        people = duties["person_id"].tolist() if len(duties) else []
        later = later_changes(conn, period.start, period.end, closed, people, alleys, person=person)
    late = (
        duties[pd.to_datetime(duties["created_at"], utc=True) >= closed] if len(duties) else duties
    )
    if len(late):
        when, when_en = days(late["created_at"])
        on, on_en = held_days(late.itertuples(), period.start, period.end)
        # the day set comes first: in brackets after 本期结束后 it read as the period's end
        # (T45 #8)
        zh.append(
            f"{len(late)} 条职责于 {when} 补设（本期结束之后），其开始日在本期或更早，在岗日为 {on}"
        )
        en.append(
            f"{count_en(len(late), 'duty', 'duties')} {verb_en(len(late), 'was', 'were')} set on "
            f"{when_en}, after the period ended, yet start in "
            f"it or earlier (backdated), held on {on_en}"
        )
    more_zh, more_en = later.moved(days)
    zh += more_zh
    en += more_en
    ren_zh, ren_en = later.renumber_clauses(days)
    if not zh and not ren_zh:
        return []
    if not zh:
        # only registry ids changed: every figure is as it was, and saying they may differ
        # sent the reader to re-check the period for nothing (as the since-signing note,
        # geo.report_signoffs.SinceSigning.note, already says it)
        return [
            f"本期结束后有改动，数字未变：{'；'.join(ren_zh)} "
            f"changed since this period ended, figures unchanged: {'; '.join(ren_en)}"
        ]
    return [
        f"本期结束后有改动，数字可能与当时导出的报表不同：{'；'.join(zh + ren_zh)} "
        f"changed since this period ended, so figures may differ from a report exported "
        f"then: {'; '.join(en + ren_en)}"
    ]


def unmatched_tracks(conn: Any, start: dt.date, end: dt.date) -> dict[str, int]:
    """Tracks walked on these local days that credit nothing yet: ``waiting`` (stored or
    queued, not matched yet: a worker backlog, an upload still matching) and ``failed``.
    WHY: a weekly check run during a backlog gave rates that looked final."""
    from geo.track_days import SPAN_OVERLAPS, local_days

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


def unmatched_notes(unmatched: dict[str, int]) -> list[str]:
    """The note for :func:`unmatched_tracks` (none when every track of the days is matched)."""
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


def zone_notes(edges: pd.DataFrame, readers: dict[str, str] | None = None) -> list[str]:
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
        f"{head}要按{zone_zh(tz)}计，请运行 gridward tracks rematch --since {since} "
        f"--until {until} "
        f"walked stretches were put on their days in "
        f"another time zone than {tz} (GRIDWARD_TIMEZONE changed since): they keep those days; to "
        f"count them by {tz}, run gridward tracks rematch --since {since} --until {until}"
    )
    if readers is not None:
        readers[note] = (
            f"{head}要按{zone_zh(tz)}计，请联系管理员重新匹配 {since} 至 {until} 的轨迹 "
            f"walked stretches were put on their days in another time zone than {tz} "
            f"(GRIDWARD_TIMEZONE changed since): they keep those days; to count them by {tz}, "
            f"ask an admin to re-match the tracks of {since} to {until}"
        )
    return [note]


def moved_in_notes(
    moved: pd.DataFrame, days: list[dt.date], readers: dict[str, str] | None = None
) -> list[str]:
    """The note for :func:`moved_in_stretches` (none when no stretch of these days sits
    elsewhere)."""
    if not len(moved):
        return []
    tz = get_settings().timezone
    stored = ", ".join(sorted({str(d) for d in pd.to_datetime(moved["day"]).dt.date}))
    head = (
        f"{len(moved)} 段巡查记在别日：按{zone_zh(tz)}属于这些日子的巡查存在 {stored}"
        "（按另一时区分日，此后 GRIDWARD_TIMEZONE 改过），未计入此处；"
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


def outside_notes(
    alleys: pd.DataFrame, unstaffed: pd.DataFrame, readers: dict[str, str] | None = None
) -> list[str]:
    """A note when some streets lie in no imported community: their area rows say
    "outside every community", and the note says how many and what to do. ``readers``
    gets the note as a steward or viewer reads it (:func:`geo.patrol_reports.for_readers`)."""
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


# Walks over midnight (跨零点): one outing credited on each day it walked (README: each day is
# credited for its part), the rule of the track flag ``spans_midnight``
# (:func:`geo.track_judging.spans_midnight`: its first and last fix on two local days)
MIDNIGHT_SQL = (
    "SELECT t.id AS track_id, t.started_at, t.ended_at FROM tracks t "
    "WHERE t.id = ANY(CAST(:ids AS int[])) AND t.status <> 'withdrawn' "
    "AND CAST(t.started_at AT TIME ZONE :tz AS date) < CAST(t.ended_at AT TIME ZONE :tz AS date)"
)
MIDNIGHT_TRACK_COLS = ["track_id", "started_at", "ended_at"]
MIDNIGHT_HIT_COLS = ["day", "alley_id", "role", "person_id", "track_id"]
# the column of the people rows: their patrolled street/alley-days credited by such walks
MIDNIGHT_COL = "midnight_alley_days"


def midnight_walks(
    conn: Connection, edges: pd.DataFrame, segments: pd.DataFrame, tz: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report's walking by walks over midnight: (person_id, day, alley_id, track_id),
    one row per person, day, street and track, and those tracks (:data:`MIDNIGHT_TRACK_COLS`).
    Judged from the track's first and last fix (``started_at``, ``ended_at``) in the city's
    zone, as the flag is, so a walk matched before the flag existed counts too."""
    return walks_of_tracks(conn, edges, segments, MIDNIGHT_SQL, {"tz": tz}, MIDNIGHT_TRACK_COLS)


def with_midnight_days(
    alleys: pd.DataFrame, people: pd.DataFrame, walks: pd.DataFrame | None, daily: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``people`` with :data:`MIDNIGHT_COL`: how many of the row's patrolled street/alley-days
    (the alley rows crediting the person) the person walked that day by a walk over
    midnight, and those hits (:data:`MIDNIGHT_HIT_COLS`) for :func:`midnight_note`. WHY
    (outside tester T69 #5): a 7-minute walk 23:57–00:03 earned two patrolled days, and
    the 月评 reader, who pays allowances on them, was not told."""
    hits = pd.DataFrame(columns=MIDNIGHT_HIT_COLS)
    if walks is not None and len(walks) and len(alleys):
        rows = alleys[["day", "alley_id", "role", "credited_ids"]].explode("credited_ids")
        rows = rows.dropna(subset=["credited_ids"]).rename(columns={"credited_ids": "person_id"})
        rows = rows.astype({"person_id": "int64", "alley_id": "int64"})
        rows = rows.assign(day=pd.to_datetime(rows["day"]).dt.date)
        hits = rows.merge(walks, on=["day", "alley_id", "person_id"])[MIDNIGHT_HIT_COLS]
    if not len(hits) or not len(people):
        return people.assign(**{MIDNIGHT_COL: 0}), hits
    days = hits.drop_duplicates(["day", "alley_id", "role", "person_id"])
    keys = ["person_id", "role"]
    on = people.assign(_day=None)
    if daily:  # per day, whatever type the people rows hold their day in
        keys = ["_day", *keys]
        on["_day"] = pd.to_datetime(people["day"]).dt.date
        days = days.rename(columns={"day": "_day"})
    counts = days.groupby(keys).size().rename(MIDNIGHT_COL).reset_index()
    out = on.merge(counts, on=keys, how="left").drop(columns="_day")
    return out.assign(**{MIDNIGHT_COL: out[MIDNIGHT_COL].fillna(0).astype(int)}), hits


# tracks named for one person in the note; the rest counted
TRACKS_PER_PERSON = 3


def midnight_note(hits: pd.DataFrame, tracks: pd.DataFrame, names: pd.DataFrame) -> list[str]:
    """The note on the patrolled street/alley-days walks over midnight earned (none without
    one): how many and by how many walks, then whose (up to :data:`NAMED_IN_NOTE` people,
    most days first, each with up to :data:`TRACKS_PER_PERSON` tracks and their times), the
    rest counted with where to read them (the people rows' column). ``names``: person_id,
    person_code, person_name. WHY (T69 #5): the rule stays (each day is credited for its
    part), but a habit of 23:57–00:03 walks was visible only track by track on the map."""
    if not len(hits):
        return []
    tz = ZoneInfo(get_settings().timezone)
    days = hits.drop_duplicates(["day", "alley_id", "role", "person_id"])
    n_days, n_tracks = len(days), int(hits["track_id"].nunique())
    per = days.groupby("person_id").size().rename("n").reset_index()
    per = per.merge(names.drop_duplicates("person_id"), on="person_id", how="left")
    per = per.sort_values(["n", "person_code", "person_id"], ascending=[False, True, True])
    when = tracks.drop_duplicates("track_id").set_index("track_id")

    def span(t: int) -> str:
        a, b = (pd.Timestamp(when.at[t, c]).tz_convert(tz) for c in ("started_at", "ended_at"))
        return f"{a:%m-%d %H:%M}", f"{b:%m-%d %H:%M}"

    zh, en = [], []
    for r in per.head(NAMED_IN_NOTE).itertuples():
        mine = hits.loc[hits["person_id"] == r.person_id, "track_id"].drop_duplicates()
        mine = sorted(mine, key=lambda t: (pd.Timestamp(when.at[t, "started_at"]), t))
        shown = [(int(t), *span(t)) for t in mine[:TRACKS_PER_PERSON]]
        more = len(mine) - len(shown)
        who_zh = f"{r.person_name}（{r.person_code}）"
        who_en = f"{r.person_name} ({r.person_code})"
        zh.append(
            f"{who_zh}{int(r.n)} 个街巷·天："
            + "、".join(f"轨迹 {t}（{a} 至 {b}）" for t, a, b in shown)
            + (f" 等 {len(mine)} 条" if more > 0 else "")
        )
        en.append(
            f"{who_en} {int(r.n)} street/alley-day(s): "
            + ", ".join(f"track {t} ({a} to {b})" for t, a, b in shown)
            + (f" and {more} more" if more > 0 else "")
        )
    rest = len(per) - len(zh)
    tail_zh = f"；等共 {len(per)} 人" if rest > 0 else ""
    tail_en = f"; and {count_en(rest, 'person', 'people')} more" if rest > 0 else ""
    return [
        f"跨零点巡查：本报表有 {n_days} 个已巡街巷·天来自 {n_tracks} 条跨零点的轨迹"
        "（按规定一次巡查计入所跨各天的日巡，各计其当天走过的部分；不属可疑轨迹）："
        f"{'；'.join(zh)}{tail_zh}；每人的数目见人员行“跨零点已巡街巷·天 {MIDNIGHT_COL}” "
        f"walks over midnight: {n_days} patrolled street/alley-day(s) of this report came from "
        f"{count_en(n_tracks, 'walk', 'walks')} over midnight (as the rules say, one outing "
        "counts on each day it walked, for the part walked that day; not a suspect track): "
        f"{'; '.join(en)}{tail_en}; each person's count is in the people rows' {MIDNIGHT_COL}"
    ]

"""Suspect tracks (可疑轨迹) in the reports: walks the match flagged as doubtful
(``tracks.flags``, :mod:`geo.track_flags`: a replay, a copy walked alongside another person,
a generated or virtual-location walk, a phone left lying still), counted in the people and
alley rows they credited (``suspect_tracks``) and named in one note.

Apart from :mod:`geo.patrol_reports` because it is a marker for evaluators only: a flagged
walk is credited as before, and the evaluator decides (withdrawing a cheat with ``gridward
tracks delete``, which takes its credit away; a withdrawn track's visits are gone, so it
counts nowhere). A steward's own view shows neither the column nor the note
(``api.routes.reports._own_view``). WHY: an outside tester (T52, the district inspection
office) had eight kinds of cheat credited in full with nothing marking them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import text

from geo.errors import _LEAD, count_en
from geo.sql_frames import read_frame
from geo.track_judging import COPY_CODES, SPANS_MIDNIGHT

# the flagged tracks among the report's walks, with whose walk each is (withdrawn ones never:
# their visits are deleted, and the status says so even while a withdrawal is under way)
FLAGGED_SQL = (
    "SELECT t.id AS track_id, t.flags, p.name AS walker_name, p.external_id AS walker_code "
    "FROM tracks t LEFT JOIN people p ON p.id = t.person_id "
    "WHERE t.id = ANY(CAST(:ids AS int[])) "
    # a walk over midnight alone is no suspect (T53 N7: an honest night patrol was counted
    # on both days): its flag says it counts twice, on the track and the map
    "AND jsonb_path_exists(t.flags, '$[*] ? (@.code != \"spans_midnight\")') "
    "AND t.status <> 'withdrawn'"
)
WALK_COLS = ["person_id", "day", "alley_id", "track_id"]
TRACK_COLS = ["track_id", "flags", "walker_name", "walker_code"]
# at most this many tracks are named in the note; the rest are counted
NAMED_IN_NOTE = 5


def walks_of_tracks(
    conn: Any,
    edges: pd.DataFrame,
    segments: pd.DataFrame,
    sql: str,
    params: dict[str, Any],
    track_cols: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report's walking by the tracks ``sql`` picks out of its walks (``:ids``, the
    walks' track ids, with ``params``): (person_id, day, alley_id, track_id), one row per
    person, day, street and track (``edges``: the walked stretches with their track), and
    those tracks (``track_cols``). WHY one reader: the flagged walks and the walks over
    midnight are both few tracks among a month's many stretches, read the same way."""
    none = pd.DataFrame(columns=WALK_COLS), pd.DataFrame(columns=track_cols)
    if not len(edges) or "track_id" not in edges.columns:
        return none
    ids = pd.unique(edges["track_id"].dropna().astype("int64")).tolist()  # a month: many stretches
    tracks = read_frame(text(sql), conn, params={**params, "ids": ids})
    if not len(tracks):
        return none
    walked = edges[edges["track_id"].isin(tracks["track_id"])]
    walks = walked.assign(
        alley_id=walked["edge_id"].map(segments.set_index("edge_id")["alley_id"]),
        day=pd.to_datetime(walked["day"]).dt.date,  # as the rows' days
    )
    walks = walks.dropna(subset=["alley_id"])[WALK_COLS].drop_duplicates()
    walks = walks.astype({"person_id": "int64", "alley_id": "int64", "track_id": "int64"})
    return walks.reset_index(drop=True), tracks[track_cols]


def flagged_walks(
    conn: Any, edges: pd.DataFrame, segments: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report's walking by flagged tracks (:func:`walks_of_tracks`) and the flagged
    tracks themselves (:data:`TRACK_COLS`). Few: flags are exceptions, so only the flagged
    tracks' stretches are looked at."""
    return walks_of_tracks(conn, edges, segments, FLAGGED_SQL, {}, TRACK_COLS)


def _hits(alleys: pd.DataFrame, walks: pd.DataFrame) -> pd.DataFrame:
    """Each alley row (by position, ``row``) with the flagged tracks its holders walked on
    it that day: the walks whose credit the row counts."""
    cols = ["row", "day", "alley_id", "role", "person_id", "track_id"]
    if not len(alleys) or not len(walks):
        return pd.DataFrame(columns=cols)
    held = alleys[["day", "alley_id", "role", "person_ids"]].reset_index(drop=True)
    held = held.assign(row=range(len(held))).explode("person_ids")
    held = held.dropna(subset=["person_ids"]).rename(columns={"person_ids": "person_id"})
    held = held.astype({"person_id": "int64", "alley_id": "int64"})
    return held.merge(walks, on=["day", "alley_id", "person_id"])[cols]


def with_suspect_tracks(
    alleys: pd.DataFrame, people: pd.DataFrame, walks: pd.DataFrame, daily: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``alleys`` and ``people`` with ``suspect_tracks``: how many flagged tracks credited
    the row (an alley row: its holders' walks on it that day; a person row: their walks on
    the streets they held in that role, that day or over the period, each track once), and
    the hits themselves (which tracks, on which rows) for :func:`suspect_note`."""
    hits = _hits(alleys, walks)
    per_row = hits.groupby("row")["track_id"].nunique() if len(hits) else pd.Series(dtype=int)
    alleys = alleys.assign(
        suspect_tracks=pd.Series(range(len(alleys))).map(per_row).fillna(0).astype(int).to_numpy()
    )
    keys = ["day", "person_id", "role"] if daily else ["person_id", "role"]
    if len(hits) and len(people):
        counts = hits.groupby(keys)["track_id"].nunique().rename("suspect_tracks").reset_index()
        people = people.merge(counts, on=keys, how="left")
        people["suspect_tracks"] = people["suspect_tracks"].fillna(0).astype(int)
    else:
        people = people.assign(suspect_tracks=0)
    return alleys, people, hits


def suspect_note(
    hits: pd.DataFrame, tracks: pd.DataFrame, readers: dict[str, str] | None = None
) -> list[str]:
    """The note naming the report's flagged tracks (up to :data:`NAMED_IN_NOTE`, copies of
    another walk first, then by day; the rest counted, with where to see them all): each
    with whose walk it is, its first day in the report and its weightiest flag's message;
    none without one. ``readers`` gets the note as a viewer reads it (ask an admin to
    withdraw, not the command; the rest on the patrol map, not the API)."""
    if not len(hits):
        return []
    first = hits.groupby("track_id")["day"].min()
    shown = tracks[tracks["track_id"].isin(first.index)].assign(
        first_day=lambda t: t["track_id"].map(first)
    )
    # copies first (T53 N6: five generated-looking walks were named and the copies were not)
    shown = shown.assign(rank=shown["flags"].map(lambda f: min(map(_rank, _codes(f)), default=9)))
    shown = shown.sort_values(["rank", "first_day", "track_id"], kind="stable")
    n = len(shown)
    items = []
    for r in shown.head(NAMED_IN_NOTE).itertuples():
        said = flag_messages(_ordered(r.flags))
        message = said[0] if said else ""
        more = f"（另有 {len(said) - 1} 项 {len(said) - 1} more）" if len(said) > 1 else ""
        who = " ".join(str(v) for v in (r.walker_name, r.walker_code) if _given(v)) or "无人员"
        day = r.first_day.strftime("%m-%d") if isinstance(r.first_day, dt.date) else r.first_day
        items.append(f"轨迹 {int(r.track_id)}（{who}，{day}）：{message}{more}")
    ids = ", ".join(str(int(t)) for t in shown["track_id"].head(NAMED_IN_NOTE))
    rest = n - len(items)
    # where the rest are (T53 N8: "and 37 more", and no way shown to see them): the API for
    # an admin or planner, the patrol map for a viewer (for_readers), over the days they hit
    since, until = (_day(hits["day"].min()), _day(hits["day"].max()))
    listed = f"GET /tracks?flagged=true&since={since}&until={until}"
    one_day = since == until
    on_map = (
        f"巡查图 /maps/patrols?date={since}（标 ⚠ 的轨迹）"
        if one_day
        else f"巡查图 /maps/patrols（{since} 至 {until} 逐日查看，标 ⚠ 的轨迹）"
    )
    on_map_en = "all are marked ⚠ on the patrol map /maps/patrols" + (
        f"?date={since}" if one_day else f", day by day from {since} to {until}"
    )

    def head(where: str) -> str:
        tail = f"；等共 {n} 条，全部见 {where}" if rest > 0 else ""
        return (
            f"可疑轨迹 {n} 条（均已计入；标记不改变记分，请评估人员核实）："
            f"{'；'.join(items)}{tail}；"
        )

    def en(where: str) -> str:
        tail = f", and {rest} more ({where})" if rest > 0 else ""
        return (
            f"{count_en(n, 'suspect track', 'suspect tracks')}, all credited (a flag changes no "
            f"credit: an evaluator judges it): track(s) {ids}{tail}, each with its reason as "
            "given above; "
        )

    note = (
        f"{head(listed)}核实后如属作弊，可用 gridward tracks delete ID 撤回其记分（API：DELETE "
        f"/tracks/ID） {en(f'all are listed by {listed}')}once checked, withdraw a cheat's "
        "credit with gridward tracks delete ID (API: DELETE /tracks/ID)"
    )
    if readers is not None:
        readers[note] = (
            f"{head(on_map)}核实后如属作弊，请联系管理员撤回其记分 "
            f"{en(on_map_en)}once checked, ask an admin to withdraw a cheat's credit"
        )
    return [note]


def _day(d: Any) -> str:
    """A hit's day as YYYY-MM-DD (a date, or a pandas Timestamp)."""
    return d.isoformat()[:10] if hasattr(d, "isoformat") else str(d)[:10]


def _codes(flags: Any) -> list[str]:
    if not isinstance(flags, list):
        return []
    return [str(f.get("code")) for f in flags if isinstance(f, dict)]


def _rank(code: str) -> int:
    """How much a flag matters to an evaluator: a copy of another walk (replay, alongside)
    first, then a generated or virtual-location walk, a walk over midnight (no suspect on
    its own: FLAGGED_SQL) last."""
    if code in COPY_CODES:
        return 0
    return 2 if code == SPANS_MIDNIGHT else 1


def _ordered(flags: Any) -> Any:
    """A track's flags, copies first (the note gives the first one's message)."""
    if not isinstance(flags, list):
        return flags
    return sorted(flags, key=lambda f: _rank(str(f.get("code")) if isinstance(f, dict) else ""))


def flag_messages(flags: Any) -> list[str]:
    """The messages of a track's flags (tracks.flags: a list of {code, message, other_track}),
    in order; a flag without a message by its code. Also the patrol map's (geo.map_data)."""
    if not isinstance(flags, list):
        return []
    return [str(f.get("message") or f.get("code")) for f in flags if isinstance(f, dict)]


def flags_said(messages: list[str]) -> tuple[str, str]:
    """A track's flag messages (each "中文 English", as stored) as one Chinese text and one
    English: ("zh1；zh2", "en1; en2"), each message cut where its English begins (the first
    English word, as geo.errors.reads_chinese_first finds it); a message without English
    counts as Chinese. WHY: the patrol map's line read "zh en；zh en", Chinese and English
    alternating (T53 N10); every other bilingual list gives all the Chinese first."""
    zh, en = [], []
    for m in messages:
        lead = _LEAD.match(m)
        cut = len(lead.group(1)) if lead else len(m)
        zh.append(m[:cut].strip())
        if m[cut:].strip():
            en.append(m[cut:].strip())
    return "；".join(z for z in zh if z), "; ".join(en)


def _given(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and pd.isna(v)) and str(v) != ""

"""Which stored walk a new upload is a copy of (the same fixes, nudged ones, a stretch of it, or
a file holding it: :func:`walk_holder`), and the refusals that say so (:func:`copy_refusal`,
:func:`withdrawn_refusal`), in full words and in a steward's (``anonymous``) words.

Apart from the store because it only looks and words: what to do with a walk found (claim it,
change its mode, put its times right) is the store's (:func:`geo.track_store._same_walk`), and a
restore (:mod:`geo.track_withdraw`) asks the same question of a withdrawn walk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from geo.errors import ConflictError
from geo.sql_frames import read_frame
from geo.track_days import local_iso
from geo.track_points import read_track_points
from geo.walk_digest import (
    CENTER_RADIUS_DEG,
    NEAR_M,
    box_rules_out,
    fixes_center,
    may_be_copy,
    near_copy,
    nudged_from,
)


class OwnedByAnother(ConflictError):
    """The same bytes, or (:func:`copy_refusal`) a part or a copy of the walk, are stored as
    another person's track. ``anonymous``: the message for someone who may not know whose (a
    steward; api.routes.tracks says it to her): WHY, the full one names the owner's track
    and person, and one steward must not learn another's ids by sending their file."""

    code = "walk_of_another"  # the API body's code (T67 #7), a kind's own where told apart

    def __init__(
        self, message: str, anonymous: str, copies: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code)
        self.anonymous = anonymous
        # the stored track the file copies (or is), for the refusal's audit entry
        # (geo.track_store: ``track.refused``)
        self.copies = copies


class TrackWithdrawn(OwnedByAnother):
    """The same bytes are a withdrawn track's (:mod:`geo.track_withdraw`). WHY refused and
    not stored again or restored: a phone's retry or a folder sent again must not bring back
    what a supervisor withdrew. ``anonymous`` (for a steward sending someone else's file)
    names no one."""

    code = "track_withdrawn"


# with the box of its fixes (box_*, NULL when not kept), which rules most walks out before
# their fixes are read (geo.walk_digest.box_rules_out)
_WALK_COLUMNS = (
    "t.id, t.sha256, t.n_points, t.format, t.started_at, t.ended_at, t.person_id, t.mode, "
    "p.external_id, t.status, t.withdrawn_at, t.withdrawn_by, t.withdraw_reason, "
    "ST_XMin(t.fixes_extent) AS box_x0, ST_YMin(t.fixes_extent) AS box_y0, "
    "ST_XMax(t.fixes_extent) AS box_x1, ST_YMax(t.fixes_extent) AS box_y1 "
    "FROM tracks t LEFT JOIN people p ON p.id = t.person_id"
)


def walk_holder(
    conn: Connection, fixes: str, pts: pd.DataFrame, live_other_than: int | None = None
) -> tuple[Any, bool, pd.DataFrame | None]:
    """The stored track whose walk these fixes are, whether they are its fixes nudged (near,
    :func:`geo.walk_digest.near_copy`) rather than the same to 0.1 m, and its fixes when they
    were read to tell; (None, False, None) for none. Exact first (the digest's index); else
    the stored walks whose mean fix lies within CENTER_RADIUS_DEG and which last as long at
    least (a copy is the walk or part of it), nearest first, read in one query.

    ``live_other_than``: a withdrawn track being restored (:mod:`geo.track_withdraw`): only
    the other tracks not withdrawn, those that would credit its walk a second time. WHY one
    rule for both: a restore is its walk sent again, and must see what an upload sees.

    An upload sees withdrawn walks too (their fixes read from their kept files, the
    withdrawal having deleted them), each look taking a live walk first: a file of a
    withdrawn walk is refused as it re-sent is (T41 #1), and where a live walk holds the
    same fixes (a corrected file sent after the withdrawal) that one is the walk."""
    live = "" if live_other_than is None else "AND t.id <> :me AND t.status <> 'withdrawn' "
    row = conn.execute(
        text(
            f"SELECT {_WALK_COLUMNS} WHERE t.fixes_sha256 = :f {live}"
            "ORDER BY t.status = 'withdrawn', t.id LIMIT 1"
        ),
        {"f": fixes, "me": live_other_than},
    ).first()
    if row is not None:
        return row, False, None
    found = None
    if may_be_copy(pts):  # else no stored walk's fixes need reading for a nudged copy
        found = _nudged_holder(conn, pts, _near_walks(conn, pts, live_other_than))
        if found is None:
            found = _part_holder(conn, pts, live, live_other_than)
    if found is None:
        found = _whole_holder(conn, pts, live, live_other_than)
    return (found[0], True, found[1]) if found is not None else (None, False, None)


# the stored walks a nudged copy is looked for among: the NEAR_WALKS whose mean fix is nearest
# the new one's, within CENTER_RADIUS_DEG
NEAR_WALKS = 5
# the new walk's mean fix (:x, :y) in SQL
_POINT = "ST_SetSRID(ST_MakePoint(:x, :y), 4326)"


def _near_walks(conn: Connection, pts: pd.DataFrame, live_other_than: int | None) -> list:
    """The NEAR_WALKS stored walks whose mean fix lies nearest ``pts``'s, within
    CENTER_RADIUS_DEG, which last as long at least (a copy is the walk or part of it), live
    ones first (``live_other_than``: live ones only, not that one; see :func:`walk_holder`).

    WHY each kind by its own nearest-first index walk (``<->``): sorted together, live ones
    first, every stored walk in the radius was read and sorted, the place's whole history
    (a walk a day on one route: ~450 within 6.7 m at 1.4 million tracks, half a city's
    year); each walk stops after NEAR_WALKS, withdrawn ones by their own small index."""
    x, y = fixes_center(pts)
    span = (pts["time"].max() - pts["time"].min()).to_pytimedelta()
    if live_other_than is None:
        kinds = [("false", "t.status <> 'withdrawn'"), ("true", "t.status = 'withdrawn'")]
    else:
        kinds = [("false", "t.status <> 'withdrawn' AND t.id <> :me")]
    arms = " UNION ALL ".join(
        f"(SELECT t.id, {gone} AS gone, t.fixes_center <-> {_POINT} AS d FROM tracks t "
        f"WHERE {which} AND ST_DWithin(t.fixes_center, {_POINT}, :r) "
        "AND t.ended_at - t.started_at >= :span - interval '2 seconds' "
        f"ORDER BY t.fixes_center <-> {_POINT} LIMIT {NEAR_WALKS})"
        for gone, which in kinds
    )
    return conn.execute(
        text(
            f"WITH near AS ({arms}) SELECT {_WALK_COLUMNS} JOIN near n ON n.id = t.id "
            f"ORDER BY n.gone, n.d LIMIT {NEAR_WALKS}"
        ),
        {"x": x, "y": y, "r": CENTER_RADIUS_DEG, "span": span, "me": live_other_than},
    ).all()


def _nudged_holder(
    conn: Connection,
    pts: pd.DataFrame,
    rows: list,
    holds: bool = False,
    read: pd.DataFrame | None = None,
) -> tuple | None:
    """The first of ``rows`` (stored walks) whose fixes ``pts`` are, nudged (``holds``: whose
    fixes are a stretch of ``pts``); with its fixes. ``read``: fixes of some of them read
    already (read_track_points), not read again."""
    if not holds:  # the walks whose box leaves out too many of its fixes: not read
        rows = [r for r in rows if r.box_x0 is None or not box_rules_out(pts, _box(r))]
    if not rows:
        return None
    ids = [int(c.id) for c in rows]
    have = set() if read is None else set(read["track_id"].astype(int)) & set(ids)
    parts = [read[read["track_id"].isin(have)]] if have and read is not None else []
    if set(ids) - have:
        parts.append(read_track_points(conn, [i for i in ids if i not in have]))
    stored = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for cand in rows:
        old = stored[stored["track_id"] == cand.id].drop(columns="track_id")
        # pts passed may_be_copy before any look that is not ``holds`` (walk_holder)
        if near_copy(old, pts) if holds else nudged_from(pts, old):
            return cand, old.reset_index(drop=True)
    return None


def _box(row: Any) -> tuple[float, float, float, float]:
    """A stored walk's box (lon0, lat0, lon1, lat1) from its ``box_*`` columns."""
    return float(row.box_x0), float(row.box_y0), float(row.box_x1), float(row.box_y1)


# the first or last fix of a stretch of a stored walk lies this close to the walk's own fix
# at that time (degrees; about 2 m north-south, 1.5 m east-west at 40°N): an upper bound
# only, near_copy then holds the whole stretch to NEAR_M
_PART_END_DEG = 2e-5


def _part_holder(
    conn: Connection, pts: pd.DataFrame, live: str, live_other_than: int | None
) -> tuple | None:
    """The stored walk of which ``pts`` is a stretch at its own times, with its fixes; None.

    WHY a second look: a stretch's mean fix can lie hundreds of metres from its walk's (a
    walk re-sent with its last half cut was stored as a second track: outside re-tester
    T37), so the look near the mean (:func:`walk_holder`) misses it. A stretch at its own
    times starts and ends on two of its walk's fixes, at their times: the walks whose span
    holds the stretch's (the span index) with a fix there at that time (the fixes' key,
    one day's partition) are all it can be, mostly none or one."""
    t0, t1 = pts["time"].min(), pts["time"].max()
    spans = conn.execute(
        text(
            f"SELECT {_WALK_COLUMNS} WHERE t.fixes_center IS NOT NULL {live}"
            "AND tstzrange(t.started_at, t.ended_at, '[]') @> tstzrange(:t0, :t1, '[]') "
            "ORDER BY t.status = 'withdrawn', t.id"
        ),
        {"t0": t0.to_pydatetime(), "t1": t1.to_pydatetime(), "me": live_other_than},
    ).all()
    if not spans:
        return None
    # the candidates' fixes at the stretch's first and last times, by the fixes' key: one
    # query joining track_points to the candidates (a semi-join) read whole day partitions,
    # 0.2 s an upload among 2,000 stored walks (a city-day bench)
    ends = read_frame(
        "SELECT track_id, t, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM track_points "
        "WHERE track_id = ANY(:ids) AND t = ANY(:ts)",
        conn,
        {"ids": [int(r.id) for r in spans], "ts": [t0.to_pydatetime(), t1.to_pydatetime()]},
    )
    # a withdrawn walk's fixes were deleted with it: read from its kept file (withdrawn
    # walks are few, and only those spanning the stretch). WHY: a stretch of a withdrawn
    # walk found none and was stored, its credit back (T41 #1)
    gone = [int(r.id) for r in spans if r.status == "withdrawn"]
    read = read_track_points(conn, gone) if gone else None
    if read is not None and len(read):
        when = pd.to_datetime(read["time"], utc=True)
        kept = read[(when == t0) | (when == t1)].rename(columns={"time": "t"})
        if len(kept):
            kept = kept[list(ends.columns)]
            ends = pd.concat([ends, kept], ignore_index=True) if len(ends) else kept
    if ends.empty:
        return None
    first, last = pts.loc[pts["time"].idxmin()], pts.loc[pts["time"].idxmax()]
    at = np.where(pd.to_datetime(ends["t"], utc=True) == t0, 0, 1)
    lon = np.where(at == 0, float(first["lon"]), float(last["lon"]))
    lat = np.where(at == 0, float(first["lat"]), float(last["lat"]))
    close = np.hypot(ends["lon"].to_numpy() - lon, ends["lat"].to_numpy() - lat) <= _PART_END_DEG
    hits = set(ends.loc[close, "track_id"].astype(int))
    rows = [r for r in spans if int(r.id) in hits][:5]
    return _nudged_holder(conn, pts, rows, read=read)


def _whole_holder(
    conn: Connection, pts: pd.DataFrame, live: str, live_other_than: int | None
) -> tuple | None:
    """The stored walk that is a stretch of ``pts`` at its own times (a stored walk with fixes
    added around it), with its fixes; None. WHY: an outside re-tester (T39, H1) sent a
    colleague's stored walk with a minute of fixes appended for himself and was credited its
    alleys: the new file holds the walk, not the other way round. Candidates: walks whose span
    lies within the file's and whose mean fix lies within the file's extent, live ones first.
    Withdrawn walks too (T41 #1: another steward's file holding one was stored and credited
    her what was withdrawn; :func:`geo.track_store._withdrawn_walk` says who may still send
    one)."""
    lon, lat = pts["lon"].to_numpy(dtype=float), pts["lat"].to_numpy(dtype=float)
    rows = conn.execute(
        text(
            f"SELECT {_WALK_COLUMNS} WHERE t.fixes_center IS NOT NULL {live}"
            "AND tstzrange(t.started_at, t.ended_at, '[]') <@ tstzrange(:t0, :t1, '[]') "
            # &&& (n-D, for a point the same as &&): ix_tracks_span_center's operator
            "AND t.fixes_center &&& ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) "
            "ORDER BY t.status = 'withdrawn', t.n_points DESC, t.id LIMIT 5"
        ),
        {"t0": pts["time"].min().to_pydatetime(), "t1": pts["time"].max().to_pydatetime(),
         "x0": float(lon.min()), "y0": float(lat.min()), "x1": float(lon.max()),
         "y1": float(lat.max()), "me": live_other_than},
    ).all()  # fmt: skip
    return _nudged_holder(conn, pts, rows, holds=True)


def copy_refusal(
    row: Any,
    person_id: int | None,
    near: bool = False,
    part: bool = False,
    holds: bool = False,
) -> OwnedByAnother:
    """409 for a file of a stored walk's fixes at other times (``row``: the stored track;
    ``near``: its fixes nudged by under a metre), or (``part``) of a stretch of it at its own
    times: a shortened copy, said so (outside tester T37, F3: a walk re-sent with its last
    line cut was called a copy "at other times, with its fixes nudged"). ``person_id``: whose
    walk the file was sent as. Its ``anonymous`` words (for a steward, unless the stored walk
    is hers) name no track, person or time (T39 M2: any steward sending a colleague's walk,
    or a part of it, read its track id, the colleague's registry id and when it was walked)."""
    whose = f"person {row.external_id or row.person_id}" if row.person_id else "nobody"
    whose_zh = f"人员 {row.external_id or row.person_id}" if row.person_id else "未指定人员"
    when = local_iso(row.started_at)
    kind = "part" if part else "holds" if holds else "near" if near else "copy"
    mine = row.person_id is not None and row.person_id == person_id
    if part:
        full = (
            f"此文件是轨迹 {row.id}（{whose_zh}，{when}）的一段：定位点与时间都与它相同，只是"
            "少了一些定位点；整条巡查已存储，未再存储 the fixes and times are part of track "
            f"{row.id}'s ({whose}, {when}): a shortened copy of a walk stored already; "
            "not stored"
        )
    elif holds:  # ``row`` is a stretch of the file: another's walk with fixes added (T39 H1)
        full = (
            f"此文件包含轨迹 {row.id}（{whose_zh}，{when}）的全部定位点与时间，只是前后多了"
            "一些定位点：是他人已存巡查的复制，未存储 the file holds all the fixes and times "
            f"of track {row.id} ({whose}, {when}) with fixes added: a copy of another "
            "person's walk; not stored"
        )
    elif near:
        full = (
            f"定位点与轨迹 {row.id}（{whose_zh}，{when}）相差不到 {NEAR_M:g} 米，仅时间不同：是把"
            "定位点略作挪动后复制的轨迹，不是一次巡查，未存储 the fixes "
            f"lie within {NEAR_M:g} m of track {row.id}'s ({whose}, {when}), "
            "at other times: a copy of a walk with its fixes nudged, not a walk; not stored"
        )
    else:
        full = (
            f"定位点与轨迹 {row.id}（{whose_zh}，{when}）完全相同，仅时间不同：是复制的轨迹，不是"
            f"一次巡查，未存储 the fixes are those of track {row.id} ({whose}, {when}) at other "
            "times: a copy of a walk, not a walk; not stored"
        )
    code = "track_part" if part else "track_copy"
    return OwnedByAnother(full, full if mine else _ANONYMOUS_COPY[kind], int(row.id), code)


# what a steward hears of a stored walk not hers that her file is a part or a copy of
# (copy_refusal): that another person uploaded it (README: "another person uploaded this
# file already"), and the way out if it is her own walk stored for someone else or nobody
ASK_PLANNER = (
    "；如是您本人的巡查，请联系规划员改归属给您（由规划员发送同一文件可看到是哪条轨迹） ",
    ": if it is yours, ask a planner to reassign it to you (the same file sent by them "
    "names the track)",
)


_ANONYMOUS_COPY = {
    "part": "此文件是他人已上传的一次巡查的一段：定位点与时间都与它相同，只是少了一些定位点，"
    f"未存储{ASK_PLANNER[0]}another person uploaded this walk already: the file is a part of "
    f"it (its fixes and times, fewer of them); not stored{ASK_PLANNER[1]}",
    "holds": "此文件包含他人已上传的一次巡查的全部定位点与时间，只是前后多了一些定位点：是他人"
    f"巡查的复制，未存储{ASK_PLANNER[0]}another person uploaded this walk already: the file "
    f"holds all its fixes and times with fixes added, a copy of it; not stored{ASK_PLANNER[1]}",
    "near": f"此文件的定位点与他人已上传的一次巡查相差不到 {NEAR_M:g} 米，仅时间不同：是把定位点"
    f"略作挪动后复制的轨迹，不是一次巡查，未存储{ASK_PLANNER[0]}another person uploaded this "
    f"walk already: the file's fixes lie within {NEAR_M:g} m of its, at other times, a copy "
    f"with its fixes nudged, not a walk; not stored{ASK_PLANNER[1]}",
    "copy": "此文件的定位点与他人已上传的一次巡查完全相同，仅时间不同：是复制的轨迹，不是一次巡查，"
    f"未存储{ASK_PLANNER[0]}another person uploaded this walk already: the file holds its "
    f"fixes at other times, a copy of it, not a walk; not stored{ASK_PLANNER[1]}",
}


# what a file of a withdrawn walk is (withdrawn_refusal's ``kind``), Chinese and English
_WITHDRAWN_FILE = {
    "file": ("同一文件", "the same file"),
    "fixes": ("同一次巡查的文件（定位点相同）", "a file of the same walk (its fixes)"),
    "near": (
        f"同一次巡查的文件（定位点相差不到 {NEAR_M:g} 米）",
        f"a file of the same walk (its fixes within {NEAR_M:g} m)",
    ),
    "part": (
        "这次巡查的一段（定位点与时间都与它相同）",
        "a part of this walk (its fixes at their times)",
    ),
    "holds": (
        "包含这次巡查全部定位点与时间的文件（另加了一些定位点）",
        "a file holding all its fixes and times (with fixes added)",
    ),
}


def withdrawn_refusal(row: Any, person_id: int | None, kind: str | None = "file") -> TrackWithdrawn:
    """The 409 for a re-send of withdrawn track ``row`` (id, person_id and its withdrawal)
    by or for ``person_id``: what happened, and the ways out. ``kind``: what the file is
    (a key of _WITHDRAWN_FILE: its bytes, its fixes, nudged, a stretch, a file holding it;
    None: not told apart). WHY no way round by upload: a withdrawn walk sent again at other
    dates was credited on a day it was not walked (an outside tester), a stretch of it to
    another steward (T41 #1); it comes back only by a restore, which says who may, and is
    put right there. Whose walk it is only its own person hears (``anonymous``)."""
    from geo.track_withdraw import withdrawn_words, withdrawn_words_zh

    what_zh, what = _WITHDRAWN_FILE.get(kind or "", ("这次巡查", "this walk"))
    full = (
        f"轨迹 {row.id} {withdrawn_words_zh(row)}，{what_zh}不再存储。"
        f"如撤回有误，或这是别人的巡查，请先恢复（gridward tracks restore {row.id}，"
        f"或 POST /tracks/{row.id}/restore），再在恢复后改正：规划员把它改归属给实际巡查的人"
        "（gridward tracks reassign），或重新发送改正后的文件以更正时间或坐标系 "
        f"track {row.id} {withdrawn_words(row)}; {what} is "
        "not stored again. If it was withdrawn by mistake, or is someone else's walk, restore "
        f"it (gridward tracks restore {row.id}, POST /tracks/{row.id}/restore) and put it "
        "right there: a planner reassigns it to its walker (gridward tracks reassign), its "
        "corrected file sent again puts its times or datum right"
    )
    theirs = person_id is not None and person_id == row.person_id
    anonymous = (
        full
        if theirs
        else (
            "此轨迹已上传并已撤回；如是您本人的巡查，请联系规划员恢复并改归属给您（由规划员发送同一"
            "文件可看到是哪条轨迹） "
            "this walk was uploaded and withdrawn: if it is yours, ask a "
            "planner to restore it and reassign it to you (the same file sent by them names it)"
        )
    )
    return TrackWithdrawn(full, anonymous, int(row.id))

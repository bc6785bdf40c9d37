"""Late uploads (迟传): tracks sent more than ``GRIDWARD_LATE_UPLOAD_H`` after their last
fix, counted per person in the report's ``late_uploads`` column and shown on the track.

Apart from :mod:`geo.patrol_reports` because it is a marker for the supervisor only: it
changes no credit, and the tracks API asks it of one track without a report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from geo.settings import get_settings

# whether a visit's track was uploaded more than the setting's hours after its last fix
# (tracks.uploaded_at, tracks.ended_at)
LATE_TRACK = (
    "(SELECT t.uploaded_at > t.ended_at + make_interval(secs => :late_s) FROM tracks t "
    "WHERE t.id = v.track_id) AS late "
)


def late_tracks(edges: pd.DataFrame, segments: pd.DataFrame, scope: Any) -> pd.DataFrame:
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


# how late each late track was sent, in whole days after its last fix (T52 #18)
LATE_DAYS_SQL = (
    "SELECT id AS track_id, CAST(floor(extract(epoch FROM uploaded_at - ended_at) / 86400) "
    "AS int) AS late_days FROM tracks WHERE id = ANY(CAST(:ids AS int[]))"
)


def late_days(conn: Any, late: pd.DataFrame) -> pd.DataFrame:
    """``late`` (:func:`late_tracks`) with ``late_days``: whole days between each track's
    last fix and its upload (a walk sent 25 hours after reads 1, three weeks after 21)."""
    if not len(late):
        return late.assign(late_days=pd.Series(dtype="int64"))
    from sqlalchemy import text

    from geo.sql_frames import read_frame

    ids = sorted({int(t) for t in late["track_id"]})
    days = read_frame(text(LATE_DAYS_SQL), conn, params={"ids": ids})
    return late.merge(days, on="track_id", how="left")


def with_late_uploads(
    people: pd.DataFrame, late: pd.DataFrame, daily: bool, held: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``people`` with ``late_uploads``: each person's late tracks of the row's day (daily)
    or of the whole period, each track once (a walk over midnight is on both its days); and
    ``late_days_max``: the longest delay among them in whole days (``late`` with
    ``late_days``, :func:`late_days`), blank without a late track. WHY: a walk sent three
    weeks late counted 1, as one sent 25 hours late (outside tester T52 #18).

    ``held``: the daily rows (their day and person_id pairs: the days each person held a
    duty); a period counts only the late walks of those days. WHY: a week counted a late
    walk on a day its walker held no duty, which no daily row of the week showed (outside
    tester T62 #4); the week now agrees with its days."""
    keys = ["day", "person_id"] if daily else ["person_id"]
    if len(late) and len(people):
        late = late.assign(day=pd.to_datetime(late["day"]).dt.date)  # as the rows' days
        if held is not None:
            pairs = held[["day", "person_id"]].drop_duplicates()
            pairs = pairs.assign(day=pd.to_datetime(pairs["day"]).dt.date)
            late = late.merge(pairs, on=["day", "person_id"])
    if not len(late) or not len(people):
        return people.assign(late_uploads=0, late_days_max=pd.array([pd.NA] * len(people), "Int64"))
    if "late_days" not in late.columns:
        late = late.assign(late_days=pd.NA)
    grouped = late.groupby(keys)
    counts = pd.DataFrame(
        {
            "late_uploads": grouped["track_id"].nunique(),
            "late_days_max": grouped["late_days"].max(),
        }
    ).reset_index()
    out = people.merge(counts, on=keys, how="left")
    return out.assign(
        late_uploads=out["late_uploads"].fillna(0).astype(int),
        late_days_max=pd.to_numeric(out["late_days_max"], errors="coerce").astype("Int64"),
    )

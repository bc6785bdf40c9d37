"""Judging each duty-day of a report: the network a local day had, the duties held on it,
and each role's alley, holder and segment rows per day (:func:`judge_days`).

Apart from :mod:`geo.patrol_reports` because it is pure: it takes the frames a report
loaded and reads no database, so the report and the patrol map judge the same way."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo import coverage
from geo.settings import get_settings

ROLES = {"alley_steward": "小巷管家 alley steward", "street_chief": "街巷长 street chief"}


# what each role is held on: the kind of street its unstaffed rows count
ROLE_KIND = {"alley_steward": "alley", "street_chief": "street"}


STRETCH_COLS = [
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


def judge_days(
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
        edges if len(edges) else pd.DataFrame(columns=[*STRETCH_COLS, "covered_fraction", "walked"])
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
            # in (day, alley, person) order: the duties' order as read is the database's, and
            # an alley's rows moved between runs (a full CI run saw alleys 1 and 3 swap)
            a = valid[["day", "alley_id", "person_id"]].drop_duplicates()
            a = a.sort_values(["day", "alley_id", "person_id"], kind="stable")
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
        out["segments"] = segment_rows(segment_frames, data["segments"])
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


def segment_rows(frames: list[pd.DataFrame], segments: pd.DataFrame) -> pd.DataFrame:
    """The daily ``segments`` table: one row per segment and role, with its street's name
    and kind, ordered by role, street and segment."""
    if not frames:
        return pd.DataFrame(columns=SEGMENT_COLS)
    seg = pd.concat(frames, ignore_index=True).rename(columns={"edge_id": "segment_id"})
    names = segments[["edge_id", "alley_name", "kind"]].rename(columns={"edge_id": "segment_id"})
    seg = seg.merge(names, on="segment_id", how="left")
    seg = seg.sort_values(["role", "alley_id", "segment_id"]).reset_index(drop=True)
    return seg[SEGMENT_COLS]

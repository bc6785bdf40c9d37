"""Patrol coverage roll-ups: matched edges per track → segments per day → alleys patrolled →
steward compliance per day, week and month, with rankings.

Pure pandas so the same code serves files, tests and the service (the lead feeds it from
PostGIS and exports CSV/XLSX). Days are local days (Asia/Shanghai by default): a patrol at
07:30 Beijing time belongs to that Beijing day whatever the device clock zone.

Schemas (column: meaning):

``track_edges`` (input, one row per matched edge per track, as MatchResult.edges plus ids):
    track_id, person_id, edge_id, covered_fraction (0–1), first_time, last_time (tz-aware);
    optional start_fraction, end_fraction: covered stretches (MatchResult.intervals, one row
    per stretch) — when present the union over tracks is exact, otherwise fractions of the
    same person's tracks on one day are summed and capped at 1.
``segments`` (input): edge_id, alley_id, length_m (optional alley_name): the network of the
    day(s) judged (the reports pass, per day, the segments live at that day's end, so a
    segment retired by a later re-import still counts on the days before).
``assignments`` (input): alley_id, person_id (the steward(s) responsible for the alley);
    optionally day: the duties of each day (a duty-day per row), so one call judges many
    days whose duties differ (the reports' days, one pass per role instead of one per day).

``segment_day`` (output of :func:`segment_day_coverage`):
    day (datetime.date), person_id, edge_id, walked_fraction (0–1), first_time, last_time.
``alley_day`` (output of :func:`alley_day_status`):
    day, alley_id, length_m, walked_m, walked_share, patrolled (bool), first_time, last_time.
``segment_status`` (output of :func:`segment_day_status`): one row per segment of every
    assigned alley and day: day, alley_id, edge_id, length_m, walked_fraction (union over
    the alley's holders), walked_m, first_time, last_time (NaT where nobody assigned walked).
``holder_day`` (output of :func:`holder_day_status`): one row per alley, day and holder:
    day, alley_id, person_id, holders, length_m, walked_m and walked_share (the holder's own
    walking), required_share, alley_patrolled, patrolled (the holder's own credit).
``steward_day`` (output of :func:`steward_daily_compliance` and
    :func:`holder_daily_compliance`): day, person_id, alleys, patrolled_alleys, pending,
    compliance (0–1; patrolled / (alleys − pending), NaN when nothing counts yet),
    assigned_m, walked_m.
``group_day`` (output of :func:`group_daily_compliance`): as steward_day, keyed by a group.
``rollup`` (output of :func:`compliance_rollup`):
    period (week: Monday date, month: first day), person_id, days, alley_days,
    patrolled_alley_days, pending, compliance, walked_m, rank (1 = best; ties share a rank;
    null where there is no rate yet or nothing was patrolled: :func:`rank_rates`).

Shared alleys (co-stewards, 共管): the alley's status is the union rule (the exact union of
all its holders' walked stretches reaches the share). A holder's own row counts the
alley-day as patrolled only when the alley is patrolled AND the holder's own walking covers
at least ``share / holders`` of it (their equal part): two co-stewards who split it in halves
are both credited, one who walked nothing or a token bit is not. A holder's walked metres
are their own walking only.

Pending: a ``pending`` column (duty-days of a day still running, not yet patrolled) leaves
the denominator of every rate: they are neither done nor missed yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from geo.errors import InputError

DEFAULT_TZ = "Asia/Shanghai"


# an alley-day's columns (the reports' alley table starts with them)
ALLEY_DAY_COLS = [
    "day",
    "alley_id",
    "length_m",
    "walked_m",
    "walked_share",
    "patrolled",
    "first_time",
    "last_time",
]


def _require(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(
            f"数据 {what} 缺少列 {', '.join(missing)}，无法计算巡查覆盖 "
            f"{what} lacks column(s): {', '.join(missing)}"
        )


def local_day(times: pd.Series, tz: str = DEFAULT_TZ) -> pd.Series:
    """Local calendar day of tz-aware (or UTC-naive) times."""
    t = pd.to_datetime(times, utc=True)
    return t.dt.tz_convert(tz).dt.date


def segment_day_coverage(track_edges: pd.DataFrame, tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """Walked fraction per (day, person, segment), union over that person's tracks that day."""
    _require(track_edges, ["person_id", "edge_id", "first_time", "last_time"], "track_edges")
    df = track_edges.copy()
    df["day"] = local_day(df["first_time"], tz)
    keys = ["day", "person_id", "edge_id"]
    times = df.groupby(keys, sort=True).agg(
        first_time=("first_time", "min"), last_time=("last_time", "max")
    )
    if {"start_fraction", "end_fraction"} <= set(df.columns):
        frac = _union_fraction(df, keys)
    else:
        _require(df, ["covered_fraction"], "track_edges")
        frac = df.groupby(keys, sort=True)["covered_fraction"].sum().clip(upper=1.0)
    out = times.join(frac.rename("walked_fraction")).reset_index()
    return out[["day", "person_id", "edge_id", "walked_fraction", "first_time", "last_time"]]


def _union_fraction(df: pd.DataFrame, keys: list[str]) -> pd.Series:
    """The union of the stretches [start_fraction, end_fraction] per ``keys``. Each group is
    shifted into its own range (group number × 2) so one running maximum serves them all;
    with ``day`` the first key the numbering starts again on each day. WHY: the shift rounds
    the last bit of a length by the group's number, and a day judged alone (a daily report)
    and within a week or a month (one pass over its days) must read the same, bit for bit."""
    d = df.sort_values([*keys, "start_fraction"]).reset_index(drop=True)
    grp = d.groupby(keys, sort=False).ngroup().to_numpy()
    total = np.zeros(grp.max() + 1 if len(grp) else 0)
    bounds = [0, len(d)]  # the rows of each day (sorted, so each day's rows are together)
    if keys and keys[0] == "day" and len(d):
        day = d.groupby("day", sort=False).ngroup().to_numpy()
        bounds = [0, *(np.flatnonzero(day[1:] != day[:-1]) + 1).tolist(), len(d)]
    f0, f1 = d["start_fraction"].to_numpy(float), d["end_fraction"].to_numpy(float)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if a == b:
            continue
        g = grp[a:b] - grp[a]  # the day's own group numbers, from 0
        lo = f0[a:b] + g * 2.0  # each group in its own range
        hi = f1[a:b] + g * 2.0
        run = np.maximum.accumulate(hi)
        new = np.ones(b - a, dtype=bool)
        new[1:] = lo[1:] > run[:-1]
        starts = np.flatnonzero(new)
        length = np.maximum.reduceat(hi, starts) - lo[starts]
        total += np.bincount(grp[a:b][starts], weights=length, minlength=len(total))
    idx = d.groupby(keys, sort=False).size().index
    return pd.Series(np.clip(total, 0, 1), index=idx).sort_index()


def _assigned_stretches(
    segment_day: pd.DataFrame, segments: pd.DataFrame, assignments: pd.DataFrame
) -> pd.DataFrame:
    """The rows of ``segment_day`` walked by a holder of the segment's alley (that day's,
    when ``assignments`` has days), with the segment's alley and length (walking by anyone
    else is dropped here)."""
    sd = segment_day.merge(segments[["edge_id", "alley_id", "length_m"]], on="edge_id")
    keys = _holder_keys(assignments)
    return sd.merge(assignments[keys].drop_duplicates(), on=keys)


def _holder_keys(assignments: pd.DataFrame) -> list[str]:
    """What a duty is keyed by: (alley, person), and the day when duties are per day."""
    return ["day", "alley_id", "person_id"] if "day" in assignments.columns else _PAIR


_PAIR = ["alley_id", "person_id"]


@dataclass
class HolderWalking:
    """The walked stretches of each alley's holders (:func:`_assigned_stretches`) and their
    union per segment, built once and shared by :func:`alley_day_status`,
    :func:`segment_day_status` and :func:`holder_day_status`. WHY: a report asks all three
    for every day of a month, and each otherwise repeats the same two merges and the union
    (about a tenth of a city-month report's time)."""

    stretches: pd.DataFrame
    _per_segment: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls, segment_day: pd.DataFrame, segments: pd.DataFrame, assignments: pd.DataFrame
    ) -> HolderWalking:
        _require(segments, ["edge_id", "alley_id", "length_m"], "segments")
        _require(assignments, ["alley_id", "person_id"], "assignments")
        return cls(_assigned_stretches(segment_day, segments, assignments))

    @property
    def per_segment(self) -> pd.DataFrame:
        """:func:`_walked_segments` of the stretches (computed on first use)."""
        if self._per_segment is None:
            self._per_segment = _walked_segments(self.stretches)
        return self._per_segment


def _walked_fraction(sd: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Walked fraction (0–1) per ``keys``: the exact union of stretches when ``sd`` has them,
    else the summed walked fractions (an upper bound), capped at 1."""
    if not len(sd):
        return pd.Series(0.0, index=sd.groupby(keys).size().index)
    if {"start_fraction", "end_fraction"} <= set(sd.columns):
        f = _union_fraction(sd, keys)
    else:
        f = sd.groupby(keys)["walked_fraction"].sum()
    return f.clip(upper=1.0)


def _walked_segments(sd: pd.DataFrame) -> pd.DataFrame:
    """Per (day, alley, segment) walked by its holders: length_m, first/last time, walked
    fraction (union over the holders) and metres."""
    keys = ["day", "alley_id", "edge_id"]
    per_seg = sd.groupby(keys).agg(
        length_m=("length_m", "first"),
        first_time=("first_time", "min"),
        last_time=("last_time", "max"),
    )
    per_seg["walked_fraction"] = _walked_fraction(sd, keys).reindex(per_seg.index).fillna(0.0)
    per_seg["walked_m"] = per_seg["walked_fraction"] * per_seg["length_m"]
    return per_seg


def _days_of(segment_day: pd.DataFrame, days: Iterable[date] | None) -> list[date]:
    if days is not None:
        return list(days)
    if len(segment_day) == 0:
        return []
    return list(pd.date_range(min(segment_day["day"]), max(segment_day["day"]), freq="D").date)


def alley_day_status(
    segment_day: pd.DataFrame,
    segments: pd.DataFrame,
    assignments: pd.DataFrame,
    patrolled_share: float = 0.8,
    days: Iterable[date] | None = None,
    walking: HolderWalking | None = None,
) -> pd.DataFrame:
    """Per assigned alley and day: share of its length walked by its steward(s), patrolled flag.

    Walking by anyone not assigned to the alley does not count. Several stewards of one alley
    are combined by the exact union of their walked stretches when ``segment_day`` has them
    (``start_fraction``, ``end_fraction``: one row per stretch, as the reports pass it), so two
    stewards walking the same half make half, not all; without stretches their walked
    fractions per segment are summed and capped at 1 (an upper bound). ``days`` defaults
    to every day from the first to the last in ``segment_day``; an alley nobody walked on a day
    is a row with walked_share 0. This is the alley's status; what each holder is credited
    with is :func:`holder_day_status`. ``walking``: the same inputs' :class:`HolderWalking`,
    when the caller already has it. ``assignments`` with a ``day`` column: a row per alley
    and day it is held (in their order), ``days`` unused.
    """
    _require(segments, ["edge_id", "alley_id", "length_m"], "segments")
    _require(assignments, ["alley_id", "person_id"], "assignments")
    if not 0 < patrolled_share <= 1:
        raise InputError(
            "达标比例 patrolled_share 须大于 0 且不超过 1 patrolled_share must be in (0, 1]"
        )
    alley_len = segments.groupby("alley_id")["length_m"].sum()
    if "day" in assignments.columns:  # each day's own duties
        grid = pd.MultiIndex.from_frame(assignments[["day", "alley_id"]].drop_duplicates())
    else:
        days = _days_of(segment_day, days)
        alleys = assignments["alley_id"].drop_duplicates()
        grid = pd.MultiIndex.from_product([days, alleys], names=["day", "alley_id"])
    walking = walking or HolderWalking.of(segment_day, segments, assignments)
    per_alley = walking.per_segment.groupby(["day", "alley_id"]).agg(
        walked_m=("walked_m", "sum"),
        first_time=("first_time", "min"),
        last_time=("last_time", "max"),
    )
    out = per_alley.reindex(grid).reset_index()
    out["walked_m"] = out["walked_m"].fillna(0.0)
    out["length_m"] = out["alley_id"].map(alley_len).fillna(0.0).to_numpy()
    out["walked_share"] = np.where(out["length_m"] > 0, out["walked_m"] / out["length_m"], 0.0)
    out["walked_share"] = out["walked_share"].clip(upper=1.0)
    out["patrolled"] = out["walked_share"] >= patrolled_share - 1e-9
    return out[ALLEY_DAY_COLS]


def segment_day_status(
    segment_day: pd.DataFrame,
    segments: pd.DataFrame,
    assignments: pd.DataFrame,
    days: Iterable[date] | None = None,
    walking: HolderWalking | None = None,
) -> pd.DataFrame:
    """Per segment of every assigned alley and day (``segment_status``): the fraction its
    alley's holders walked (exact union of their stretches, others' walking not counted),
    the metres, and the first and last time they walked it (NaT when nobody did). Every
    segment of the alleys in ``assignments`` has a row on each of ``days``: one merge and
    one union over the walked stretches, no per-row work."""
    _require(segments, ["edge_id", "alley_id", "length_m"], "segments")
    _require(assignments, ["alley_id", "person_id"], "assignments")
    days = _days_of(segment_day, days)
    mine = segments[segments["alley_id"].isin(assignments["alley_id"])]
    base = mine[["alley_id", "edge_id", "length_m"]].drop_duplicates("edge_id")
    grid = pd.DataFrame({"day": days}).merge(base, how="cross")
    walking = walking or HolderWalking.of(segment_day, segments, assignments)
    walked = walking.per_segment.drop(columns="length_m").reset_index()
    out = grid.merge(walked, on=["day", "alley_id", "edge_id"], how="left")
    out["walked_fraction"] = out["walked_fraction"].fillna(0.0)
    out["walked_m"] = out["walked_m"].fillna(0.0)
    cols = ["day", "alley_id", "edge_id", "length_m", "walked_fraction", "walked_m"]
    return out[[*cols, "first_time", "last_time"]]


def holder_day_status(
    segment_day: pd.DataFrame,
    segments: pd.DataFrame,
    assignments: pd.DataFrame,
    alley_day: pd.DataFrame,
    patrolled_share: float = 0.8,
    walking: HolderWalking | None = None,
) -> pd.DataFrame:
    """Per alley, day and holder (``holder_day``): the holder's own walking and credit.

    ``walked_m`` is the exact union of the holder's OWN stretches on the alley (summed
    fractions without stretches), never the co-holders'. ``patrolled`` (the holder's own
    row) is true when the alley is patrolled that day (``alley_day``, the union rule) AND
    the holder's own share reaches ``required_share`` = ``patrolled_share / holders``, their
    equal part of the share (WHY: two co-stewards who split an alley in halves both did
    their duty; one who left it all to the other did not, and must not be credited with
    the other's walking)."""
    duty = _holder_keys(assignments)  # with days: each day's holders
    pairs = assignments[duty].drop_duplicates()
    holders = pairs.groupby(duty[:-1])["person_id"].size().rename("holders")
    keys = ["day", "alley_id", "person_id", "edge_id"]
    walking = walking or HolderWalking.of(segment_day, segments, assignments)
    f = _walked_fraction(walking.stretches, keys)
    seg_len = segments.drop_duplicates("edge_id").set_index("edge_id")["length_m"]
    own = (
        (f * f.index.get_level_values("edge_id").map(seg_len).to_numpy())
        .groupby(level=["day", "alley_id", "person_id"])
        .sum()
        .rename("walked_m")
        .reset_index()
    )
    out = alley_day[["day", "alley_id", "length_m", "patrolled"]].rename(
        columns={"patrolled": "alley_patrolled"}
    )
    out = out.merge(pairs, on=duty[:-1]).merge(own, on=["day", "alley_id", "person_id"], how="left")
    if len(duty) == 2:
        out["holders"] = out["alley_id"].map(holders).astype(int)
    else:
        at = pd.MultiIndex.from_frame(out[duty[:-1]])
        out["holders"] = holders.reindex(at).to_numpy().astype(int)
    out["walked_m"] = out["walked_m"].fillna(0.0)
    length = out["length_m"].to_numpy(float)
    share = np.where(length > 0, out["walked_m"] / np.where(length > 0, length, 1.0), 0.0)
    out["walked_share"] = np.clip(share, 0.0, 1.0)
    out["required_share"] = patrolled_share / out["holders"]
    out["patrolled"] = out["alley_patrolled"].astype(bool) & (
        out["walked_share"] >= out["required_share"] - 1e-9
    )
    cols = ["day", "alley_id", "person_id", "holders", "length_m", "walked_m", "walked_share"]
    return out[[*cols, "required_share", "alley_patrolled", "patrolled"]]


def holder_daily_compliance(holder_day: pd.DataFrame) -> pd.DataFrame:
    """Per holder and day (``steward_day``) from :func:`holder_day_status`: each alley-day
    counts by the holder's own credit and own metres; rows with ``pending`` true (a day
    still running, not done yet) are counted in ``pending`` and left out of the rate."""
    df = holder_day
    if "pending" not in df.columns:
        df = df.assign(pending=False)
    out = (
        df.groupby(["day", "person_id"])
        .agg(
            alleys=("alley_id", "size"),  # one row per (day, alley, holder)
            patrolled_alleys=("patrolled", "sum"),
            pending=("pending", "sum"),
            assigned_m=("length_m", "sum"),
            walked_m=("walked_m", "sum"),
        )
        .reset_index()
    )
    out["patrolled_alleys"] = out["patrolled_alleys"].astype(int)
    out["pending"] = out["pending"].astype(int)
    out["compliance"] = rate(out["patrolled_alleys"], out["alleys"] - out["pending"])
    cols = ["day", "person_id", "alleys", "patrolled_alleys", "pending", "compliance"]
    return out[[*cols, "assigned_m", "walked_m"]]


def rate(done: pd.Series, counted: pd.Series) -> pd.Series:
    """``done / counted``, NaN where nothing counts (no finished duty-day: no rate yet)."""
    counted = counted.astype(float)
    return (done.astype(float) / counted.where(counted > 0)).astype(float)


def steward_daily_compliance(alley_day: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Per steward and day: assigned alleys, how many patrolled, compliance share. Every
    holder gets the alley's status and metres: right for one steward per alley; where
    alleys are shared, judge each holder by :func:`holder_daily_compliance`."""
    return group_daily_compliance(alley_day, assignments, key="person_id")


def group_daily_compliance(
    alley_day: pd.DataFrame, alley_groups: pd.DataFrame, key: str = "group_id"
) -> pd.DataFrame:
    """Per group and day (street chief, community, subdistrict…): alleys, patrolled, share.

    ``alley_groups`` maps alley_id → ``key`` (an alley may belong to several groups, e.g. a
    chief holding several streets). Output has the ``steward_day`` columns with ``key`` in
    place of person_id, so :func:`compliance_rollup` (``key=...``) ranks groups the same way.
    """
    _require(alley_groups, ["alley_id", key], "alley_groups")
    df = alley_day.merge(alley_groups[["alley_id", key]].drop_duplicates(), on="alley_id")
    out = (
        df.groupby(["day", key])
        .agg(
            alleys=("alley_id", "nunique"),
            patrolled_alleys=("patrolled", "sum"),
            assigned_m=("length_m", "sum"),
            walked_m=("walked_m", "sum"),
        )
        .reset_index()
    )
    out["patrolled_alleys"] = out["patrolled_alleys"].astype(int)
    out["compliance"] = out["patrolled_alleys"] / out["alleys"].clip(lower=1)
    return out[["day", key, "alleys", "patrolled_alleys", "compliance", "assigned_m", "walked_m"]]


def rank_rates(rates: pd.Series, groups: pd.Series | list) -> pd.Series:
    """1 = best within each group, ties share a rank; null where there is no rate yet, or
    nothing was patrolled. WHY not rank those: on a day (a week, a month) nobody patrolled,
    every chief read "rank 1", which a supervisor reads as the best (two outside testers)."""
    return (
        rates.where(rates > 0).groupby(groups).rank(method="min", ascending=False).astype("Int64")
    )


def compliance_rollup(
    steward_day: pd.DataFrame, period: str = "week", key: str = "person_id"
) -> pd.DataFrame:
    """Weekly (ISO weeks, Monday) or monthly roll-up of daily compliance, with a ranking.

    ``key`` is the column rolled up (person_id for stewards, or a group column from
    :func:`group_daily_compliance`). ``alley_days`` counts every duty-day; ``pending`` ones
    (optional input column: today's, not done yet) are left out of the rate, which is
    NaN (and the rank null) while nothing counts.
    """
    if period not in ("week", "month"):
        raise InputError(
            f"周期 '{period}' 有误，请用 week（周）或 month（月） "
            f"unknown period '{period}': use week or month"
        )
    d = pd.to_datetime(pd.Series(steward_day["day"]).astype(str))
    if period == "week":
        start = (d - pd.to_timedelta(d.dt.day_of_week, unit="D")).dt.date
    else:
        start = d.dt.to_period("M").dt.start_time.dt.date
    df = steward_day.assign(period=start.to_numpy())
    if "pending" not in df.columns:
        df = df.assign(pending=0)
    out = (
        df.groupby(["period", key])
        .agg(
            days=("day", "nunique"),
            alley_days=("alleys", "sum"),
            patrolled_alley_days=("patrolled_alleys", "sum"),
            pending=("pending", "sum"),
            walked_m=("walked_m", "sum"),
        )
        .reset_index()
    )
    out["pending"] = out["pending"].astype(int)
    out["compliance"] = rate(out["patrolled_alley_days"], out["alley_days"] - out["pending"])
    out["rank"] = rank_rates(out["compliance"], out["period"])
    out = out.sort_values(["period", "rank", key]).reset_index(drop=True)
    return out[
        [
            "period",
            key,
            "days",
            "alley_days",
            "patrolled_alley_days",
            "pending",
            "compliance",
            "walked_m",
            "rank",
        ]
    ]

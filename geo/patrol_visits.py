"""A match recorded: its patrol visits (one per segment and local day: :func:`visit_rows`)
written in place of the track's old ones with its summary in ``track_matches``
(:func:`write_visits`), and what a re-match changed (:class:`Rematch`).

Apart from the store because an upload's match and the match queue's batches both record
their matches through it, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import text

from geo.day_networks import DayMatches


@dataclass(frozen=True)
class MatchSummary:
    """What one match of a track found, kept in ``track_matches``: fixes placed on the
    network, pieces, and a datum hint when the fixes look like another datum's
    (:mod:`geo.tracks.datum`)."""

    matched_points: int
    pieces: int
    datum_hint: dict[str, Any] | None = None
    # GPS dropouts credited along the network when certain (geo.tracks.match._bridge; T52 #9)
    bridged_gaps: int = 0
    bridged_m: float = 0.0


def summarize(net: Any, result: Any, points: pd.DataFrame, crs: str | None) -> MatchSummary:
    """A :class:`MatchSummary` of ``result`` (a :class:`DayMatches`), the match of ``points``
    (WGS-84, converted from the declared ``crs``)."""
    from geo.tracks.datum import datum_hint

    hint = datum_hint(
        net, points["lon"].to_numpy(float), points["lat"].to_numpy(float), crs or "wgs84"
    )
    return MatchSummary(
        result.matched_points,
        result.pieces,
        hint.as_dict() if hint else None,
        sum(int(getattr(r, "bridged_gaps", 0)) for _, r in result.days),
        sum(float(getattr(r, "bridged_m", 0.0)) for _, r in result.days),
    )


def visit_rows(track_id: int, person_id: int | None, matches: DayMatches) -> list[dict[str, Any]]:
    """patrol_visits rows (one per matched segment and local day) of a track's match.

    A stretch of a segment the walk passed alongside, on a way drawn closer to it than GPS
    tells apart (:mod:`geo.tracks.twins`: 8 m, within 20° of parallel, over 15 m or more), is
    credited as walked too, with the times of the way the matcher chose. WHY (T62 #1): a
    steward's alley drawn 4 m beside a street was credited nothing on 11 of 50 full walks,
    the matcher having put them on the street: with fixes drifting 5-10 m, no matcher can
    tell which of the two was walked. Reports count a segment's visits for its holders only,
    so the other way's credit moves nobody's figures unless they hold it too; the metres
    credited (``walked_m``) count both."""
    rows: list[dict[str, Any]] = []
    for day, result in matches.days:
        intervals = result.intervals if result.intervals is not None else pd.DataFrame()
        by_edge: dict[int, list[list[float]]] = {}
        for r in intervals.itertuples(index=False):
            by_edge.setdefault(int(r.edge_id), []).append(
                [round(float(r.start_fraction), 6), round(float(r.end_fraction), 6)]
            )
        found = {
            int(e.edge_id): (
                float(e.covered_fraction),
                pd.Timestamp(e.first_time).to_pydatetime(),
                pd.Timestamp(e.last_time).to_pydatetime(),
            )
            for e in result.edges.itertuples(index=False)
        }
        if result.alongside is not None and len(result.alongside):
            _credit_alongside(result.alongside, found, by_edge)
        rows.extend(
            {
                "t": track_id,
                "seg": seg,
                "p": person_id,
                "day": day,
                "f": float(min(max(f, 0.0), 1.0)),
                "t0": t0,
                "t1": t1,
                "iv": json.dumps(sorted(by_edge.get(seg, []))),
            }
            for seg, (f, t0, t1) in found.items()
        )
    return rows


def _credit_alongside(
    side: pd.DataFrame,
    found: dict[int, tuple[float, Any, Any]],
    by_edge: dict[int, list[list[float]]],
) -> None:
    """Add to ``found`` (fraction, first and last time per segment) and ``by_edge`` (its
    stretches) the stretches passed alongside (``side``: :func:`geo.tracks.twins.alongside`)
    of the segments credited."""
    for r in side.itertuples(index=False):
        seg, by = int(r.edge_id), int(r.by_edge_id)
        if by not in found:  # its walk was too short to credit
            continue
        stretches = [*by_edge.get(seg, []), [round(r.start_fraction, 6), round(r.end_fraction, 6)]]
        merged = _merge(stretches)
        by_edge[seg] = merged
        _, t0, t1 = found[by]
        if seg in found:
            t0, t1 = min(t0, found[seg][1]), max(t1, found[seg][2])
        found[seg] = (sum(hi - lo for lo, hi in merged), t0, t1)


def _merge(stretches: list[list[float]]) -> list[list[float]]:
    """The union of ``[lo, hi]`` stretches, as sorted disjoint stretches."""
    out: list[list[float]] = []
    for lo, hi in sorted(stretches):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


@dataclass(frozen=True)
class Rematch:
    """What one match changed. ``rematch``: the track had been matched before; ``now``: metres
    walked now; ``gained_m`` / ``lost_m``: metres credited more / less than by the previous
    match, summed per segment. Per segment, because a re-match that moves the credit from one
    alley to a parallel one of the same length leaves the total as it was, while one steward's
    alley lost its patrol and another's gained one."""

    rematch: bool
    now: float
    gained_m: float = 0.0
    lost_m: float = 0.0
    # metres credited to other local days than before (a changed GRIDWARD_TIMEZONE, a time
    # correction), within each segment: the metres alone hid such a move (tester Z3)
    moved_m: float = 0.0


# metres credited and visit rows per (track, segment, local day)
_SEGMENT_METRES = (
    "SELECT v.track_id, v.segment_id, v.day, sum(v.covered_fraction * s.length_m), count(*) "
    "FROM patrol_visits v JOIN street_segments s ON s.id = v.segment_id "
    "WHERE v.track_id = ANY(:t) GROUP BY v.track_id, v.segment_id, v.day"
)


def _credit_change(
    ids: list[int],
    old: dict[tuple[int, int, dt.date], float],
    new: dict[tuple[int, int, dt.date], float],
) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """Per track: metres gained and lost, summed per segment, and metres moved to other
    days within a segment: half of what the per-day differences add up to beyond the
    segment's own (a segment's 0.6 of its length moved from one day to the next is 0.6 of it
    moved, nothing gained or lost)."""
    gained = dict.fromkeys(ids, 0.0)
    lost = dict.fromkeys(ids, 0.0)
    moved = dict.fromkeys(ids, 0.0)
    per_day: dict[tuple[int, int], float] = {}
    per_seg: dict[tuple[int, int], float] = {}
    for key in old.keys() | new.keys():
        d = new.get(key, 0.0) - old.get(key, 0.0)
        per_day[key[:2]] = per_day.get(key[:2], 0.0) + abs(d)
        per_seg[key[:2]] = per_seg.get(key[:2], 0.0) + d
    for (t, seg), d in per_seg.items():
        gained[t] += max(d, 0.0)
        lost[t] += max(-d, 0.0)
        moved[t] += (per_day[(t, seg)] - abs(d)) / 2
    return gained, lost, moved


def write_visits(
    conn: Any, rows: list[dict[str, Any]], summaries: dict[int, MatchSummary]
) -> dict[int, Rematch]:
    """Replace the patrol visits of the tracks in ``summaries`` with ``rows``, mark them
    matched and add their match to ``track_matches`` (in the caller's transaction: a crash
    leaves the old visits and status, never half of the new).

    Returns track id → :class:`Rematch`, so a re-match can say what it changed.

    The tracks' rows are locked here and each visit takes its person from that locked read,
    whatever ``rows`` say. WHY: a steward's claim of a file stored for nobody
    (:func:`geo.track_store._claim`) sets the person of the track and of its visits under the
    same lock, so whichever commits first, the visits end with the track's person; a person
    read before the match and written after it undid a claim made in between (the visits
    stayed with nobody)."""
    ids = list(summaries)
    owner = dict(
        conn.execute(
            text("SELECT id, person_id FROM tracks WHERE id = ANY(:t) ORDER BY id FOR UPDATE"),
            {"t": ids},
        ).all()
    )
    rows = [{**r, "p": owner.get(r["t"])} for r in rows]
    matched_before = set(
        conn.execute(
            text("SELECT DISTINCT track_id FROM track_matches WHERE track_id = ANY(:t)"),
            {"t": ids},
        ).scalars()
    )
    old = {
        (t, seg, day): float(m)
        for t, seg, day, m, _ in conn.execute(text(_SEGMENT_METRES), {"t": ids})
    }
    conn.execute(text("DELETE FROM patrol_visits WHERE track_id = ANY(:t)"), {"t": ids})
    if rows:
        conn.execute(
            text(
                "INSERT INTO patrol_visits (track_id, segment_id, person_id, day, "
                "covered_fraction, first_time, last_time, intervals) VALUES (:t, :seg, :p, "
                ":day, :f, :t0, :t1, CAST(:iv AS jsonb)) ON CONFLICT (track_id, segment_id, "
                "day) DO UPDATE SET covered_fraction = greatest(patrol_visits.covered_fraction,"
                " EXCLUDED.covered_fraction), intervals = patrol_visits.intervals || "
                "EXCLUDED.intervals"
            ),
            rows,
        )
    conn.execute(
        text(
            "UPDATE tracks SET status = 'matched', error = NULL, changed_at = now() "
            "WHERE id = ANY(:t)"
        ),
        {"t": ids},
    )
    # the new visits, read once: each track's totals for its match row, and per segment the
    # difference from the old visits
    walked = dict.fromkeys(ids, 0.0)
    visits = dict.fromkeys(ids, 0)
    new: dict[tuple[int, int, dt.date], float] = {}
    for t, seg, day, m, n in conn.execute(text(_SEGMENT_METRES), {"t": ids}):
        walked[t] += float(m)
        visits[t] += int(n)
        new[(t, seg, day)] = float(m)
    gained, lost, moved = _credit_change(ids, old, new)
    conn.execute(
        text(
            "INSERT INTO track_matches (track_id, matched_points, pieces, datum_hint, "
            "segments, walked_m, bridged_gaps, bridged_m) "
            "SELECT u.t, u.m, u.p, CAST(u.h AS jsonb), u.n, u.w, u.bg, u.bm "
            "FROM unnest(CAST(:t AS int[]), CAST(:m AS int[]), CAST(:p AS int[]), "
            "CAST(:h AS text[]), CAST(:n AS int[]), CAST(:w AS float8[]), "
            "CAST(:bg AS int[]), CAST(:bm AS float8[])) AS u(t, m, p, h, n, w, bg, bm)"
        ),
        {
            "t": ids,
            "m": [x.matched_points for x in summaries.values()],
            "p": [x.pieces for x in summaries.values()],
            "h": [
                json.dumps(x.datum_hint, ensure_ascii=False) if x.datum_hint else None
                for x in summaries.values()
            ],
            "n": [visits[t] for t in ids],
            "w": [walked[t] for t in ids],
            "bg": [x.bridged_gaps for x in summaries.values()],
            "bm": [round(x.bridged_m, 1) for x in summaries.values()],
        },
    )
    return {
        t: Rematch(True, walked[t], gained[t], lost[t], moved[t])
        if t in matched_before
        # a first match: nothing was credited before, so nothing was gained or lost
        else Rematch(False, walked[t])
        for t in ids
    }

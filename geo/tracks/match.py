"""Hidden-Markov-model map matching (Newson & Krumm 2009) tuned for patrol tracks, and the
per-edge coverage it implies.

States at each fix are the nearest edges (emission N(0, σ) on the point-to-edge distance) plus
one "off network" state (courtyards, squares, inside buildings). Transitions between edges follow
real shortest paths on the network and cost |route − straight line| / β; a route much longer than
the straight line (ratio and slack caps) is refused, so a walker who cuts across a courtyard goes
off-network instead of being credited with the alleys around it. Viterbi runs in log space over
padded (n, k+1) numpy arrays; route distances for all transitions of a piece are looked up at
once in the network's bounded shortest-path table.

Coverage credits only what was walked: the interval of each edge between the matched positions,
whole edges only when the matched route passes through them. A track can be matched whole and
its coverage shared out between instants (local midnights: :func:`match_tracks_split`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.tracks.crossings import crossing_steps
from geo.tracks.dead_ends import reach_dead_ends
from geo.tracks.network import RouteRows, WalkNetwork
from geo.tracks.route_rides import ridden_steps, ride_windows, route_metres
from geo.tracks.smooth import (
    SIGMA_PER_MEDIAN_D2,
    reversal_fixes,
    rts_smooth,
    second_differences,
)


@dataclass
class MatchParams:
    """Matcher settings; :meth:`for_mode` gives tuned defaults for walk, bike and drive.

    sigma_m: GPS noise σ of the emission; None estimates it per track from the median
        distance to the nearest edge (Newson & Krumm's MAD estimate), clipped to
        [sigma_min_m, sigma_max_m]. The floor is 8 m: phone fixes between buildings are
        rarely better, and a smaller σ lets one noisy fix drag the path onto a side alley.
    beta_m: transition scale: a route 1 β longer or shorter than the straight line costs 1 nat.
    search_radius_m, k: candidate edges per fix (at most k within the radius).
    max_route_ratio, detour_slack_m, detour_slack_sigmas: a transition is refused when its route
        exceeds ratio × straight line + max(slack_m, slack_sigmas × σ).
    off_network_sigmas: a fix farther than this many times the measured noise (σ, or the
        fix-to-fix jitter estimate where that is larger) from every edge is better explained
        as off-network; off_penalty: nats to leave or rejoin the network.
    min_step_m: fixes closer than this to the previous kept fix are not separate HMM steps
        (Newson & Krumm drop fixes within 2σ; dense 1 s walking fixes add cost, not information).
        None: σ.
    max_route_m: upper bound for a single transition's route search (sparse fixes).
    smooth_accel_psd: when the fix-to-fix noise exceeds ``smooth_min_noise_m``, fixes are first
        smoothed (:mod:`geo.tracks.smooth`, constant-velocity model with this acceleration
        density, m²/s³) and the HMM runs on the smoothed points, thinned at
        ``smooth_min_step_sigmas`` × σ. None: never smooth (drive: sparse fixes are not
        worth smoothing, and a car's turns would be flattened).
    reversal_window_s, reversal_max_cos, reversal_min_disp_sigmas: where the smoothed track
        turns back (displacements over the window before and after a fix with cosine below
        max_cos, each ≥ min_disp_sigmas × the noise), it is smoothed again with the velocity
        left free at that fix: the constant-velocity model otherwise rounds a U-turn or a dead
        end walked in and out off several metres short (~9 m at 10–20 m noise). 0: off.
    crossing_sigmas, crossing_side_sigmas, crossing_min_steps: a run of at least min_steps
        matched steps whose fixes all lie more than side_sigmas × the measured noise to one side
        of the matched path, reaching crossing_sigmas × the noise, is a walk across a courtyard
        or block (:mod:`geo.tracks.crossings`) and is taken off the network, so the alleys
        around it are not credited. The noise here is the larger of the measured noise and the
        σ of the fixes' distances to the matched path (over at least 60 steps: drifting phone
        noise reads low before matching). None: off (drive: a curved road drawn as a chord keeps
        sparse taxi fixes to one side of it for good reason).
    ride_speed_mps, ride_window_s, ride_slack_m, ride_slack_sigmas, ride_min_window_s: steps
        on a stretch covered faster than ride_speed over ride_window (a shorter piece: over its
        length, from ride_min_window), measured as the shortest walk on the network between
        the matched positions less max(slack_m, slack_sigmas × the noise), were ridden, not
        walked, and are taken off the network (:mod:`geo.tracks.route_rides`). The cleaner's
        ride rules measure straight lines, which a winding alley route beats. 2.2 m/s over
        40 s: on an outside tester's winding route (σ 8 m, 8 rides each) the alleys credited
        per ride fell from 2.75, 2.12, 1.62 to 1.12, 0.50, 0.12 at 3, 3.5, 4.5 m/s; walkers
        at 1.3 m/s kept theirs and at 1.8 m/s with 15 m drifting noise lost 1 alley in 8
        walks; bench recall unchanged. None: off (bike, drive).
    keep_reversals, turn_windows_s: the fixes where the track turns back (reversal_fixes over
        reversal_window_s and each of turn_windows_s: a short dead end between two ways reads
        as a corner over 20 s, as a turn over 10 s) are always kept as HMM steps; distance
        thinning alone dropped every fix near a short dead end's end.
    dead_end_sigmas, dead_end_depth_sigmas: a matched stretch in a dead end, at least
        depth_sigmas × the noise in from its junction and within dead_end_sigmas × the noise of
        its closed end, where a turn of the fixes lies as near that end, is carried to it
        (:mod:`geo.tracks.dead_ends`). 1.5 and 1: an outside tester's 15–50 m dead ends walked
        in and out (64 walks per noise level, drifting 5/10/15 m noise) were patrolled in
        59/55/46 walks (38/39/42 before both rules), passing them by in 0/4/12 (0/2/10).
        None: off (drive).
    bridge_max_s, bridge_route_ratio, bridge_slack_sigmas, bridge_pace_window_s,
    bridge_min_pace, bridge_max_pace: the stretch between two pieces of a track (a GPS
        dropout longer than the cleaner's ``gap_s``) is credited only when it is certain
        (:func:`_bridge`): a gap of at most bridge_max_s; both sides on the network for their
        two nearest steps; each side moving at a walking pace (0.5–2.5 m/s over
        bridge_pace_window_s) towards the other; the route between the matched positions at
        most bridge_route_ratio × the straight line + bridge_slack_sigmas × the noise; the
        implied speed between bridge_min_pace and bridge_max_pace × the walker's own pace
        either side; and no other way round any stretch of that route short enough to walk
        at bridge_max_pace × that pace in the gap (a walker who left the alley by a side way
        and came back by another did not walk the stretch between). None: off (bike, drive).
    min_credit_sigmas: a partially covered edge with less than this many σ of covered length
        is not credited: noise near a junction projects a few fixes past the corner onto the
        next edge, and a walked stretch shorter than the noise cannot be verified anyway.
    end_credit_max_noise_m: where a piece's walking begins or ends, half that minimum (and
        half the edge) suffices (see ``_credit``), on tracks whose noise is at most this;
        None: never. WHY a bound: at 20 m noise a walk's first fixes reached half a short
        edge beside its start in 4 of an outside tester's 96 walks (T56 #3), none at 5–10 m.

    Walk defaults (smooth_accel_psd 0.2, min_credit_sigmas 2) were chosen on 8 × 60 simulated
    walks per noise level (two sets of four seeds, neither the benchmark's): against the
    earlier 0.1 and 3, recall rose on every seed (mean 10 m: 0.969 → 0.973, 20 m: 0.934 →
    0.942) for 0.001–0.003 of precision at 20 m.
    """

    sigma_m: float | None = None
    sigma_min_m: float = 8.0
    sigma_max_m: float = 25.0
    beta_m: float = 10.0
    search_radius_m: float = 60.0
    k: int = 6
    max_route_ratio: float = 1.8
    detour_slack_m: float = 25.0
    detour_slack_sigmas: float = 2.5
    off_network_sigmas: float = 3.0
    off_penalty: float = 6.0
    min_step_m: float | None = None
    max_route_m: float = 5_000.0
    min_credit_sigmas: float = 2.0
    end_credit_max_noise_m: float | None = 12.0
    beta_sigmas: float = 0.0
    min_step_sigmas: float = 1.0
    smooth_accel_psd: float | None = 0.2
    smooth_min_noise_m: float = 8.0
    smooth_min_step_sigmas: float = 0.5
    reversal_window_s: float = 20.0
    reversal_max_cos: float = -0.7
    reversal_min_disp_sigmas: float = 1.0
    crossing_sigmas: float | None = 3.0
    crossing_side_sigmas: float = 1.5
    crossing_min_steps: int = 3
    ride_speed_mps: float | None = 2.2
    ride_window_s: float = 40.0
    ride_slack_m: float = 30.0
    ride_slack_sigmas: float = 3.0
    ride_min_window_s: float = 20.0
    keep_reversals: bool = True
    turn_windows_s: tuple[float, ...] = (10.0,)
    dead_end_sigmas: float | None = 1.5
    dead_end_depth_sigmas: float = 1.0
    bridge_max_s: float | None = 600.0
    bridge_route_ratio: float = 1.15
    bridge_slack_sigmas: float = 2.0
    bridge_pace_window_s: float = 120.0
    bridge_min_pace: float = 0.75
    bridge_max_pace: float = 1.5

    @classmethod
    def for_mode(cls, mode: str = "walk", **overrides: object) -> MatchParams:
        """Defaults per travel mode (walk and bike patrols; drive for taxi benchmarks)."""
        base = {
            "walk": cls(),
            "bike": cls(beta_m=15.0, min_step_m=15.0, ride_speed_mps=None, bridge_max_s=None),
            "drive": cls(
                beta_m=60.0,
                # road networks kept to junction vertices draw a curved road as a straight
                # chord, 80-180 m from a fix on the curve; the off-network bound (``useful`` in
                # _prepare_piece) caps the search at ~180 m anyway. SparseTaxi: recall 0.806 ->
                # 0.816, precision 0.820 -> 0.821, the 15 clean pairs unchanged
                search_radius_m=200.0,
                max_route_ratio=2.5,
                detour_slack_m=150.0,
                off_network_sigmas=6.0,
                off_penalty=12.0,
                min_step_m=20.0,
                sigma_min_m=15.0,
                max_route_m=15_000.0,
                smooth_accel_psd=None,
                min_credit_sigmas=3.0,
                crossing_sigmas=None,
                ride_speed_mps=None,
                dead_end_sigmas=None,
                bridge_max_s=None,
            ),
        }
        if mode not in base:
            raise InputError(
                f"出行方式 '{mode}' 有误，请用 walk、bike 或 drive "
                f"unknown mode '{mode}': use walk, bike or drive"
            )
        return replace(base[mode], **overrides)  # type: ignore[arg-type]


@dataclass
class MatchResult:
    """Matched edges of one track.

    ``edges`` columns: ``edge_id`` (the network's id), ``seq`` (order of first traversal, 0-based:
    the first that covers the minimum credit, not a touch at a junction), ``covered_fraction``
    (0–1, share of the edge's length traversed), ``covered_m``, ``first_time`` (UTC: when that
    traversal began, so ``seq`` and ``first_time`` agree), ``last_time`` (UTC: the last moment
    on the edge). ``intervals``: the covered stretches (``edge_id``,
    ``start_fraction``, ``end_fraction``) so coverage over several tracks is an exact union.
    ``runs`` counts on-network stretches (off-network stretches split a piece into runs).
    ``bridged_gaps``, ``bridged_m``: GPS dropouts between pieces whose stretch was credited as
    certainly walked (see ``MatchParams.bridge_max_s``), and the metres of their routes
    (included in ``edges``); a split result counts those that begin in its span.
    """

    edges: pd.DataFrame
    matched_points: int
    total_points: int
    pieces: int
    runs: int = 0
    sigma_m: float = float("nan")
    point_state: list[np.ndarray] = field(default_factory=list, repr=False)
    intervals: pd.DataFrame | None = None
    bridged_gaps: int = 0
    bridged_m: float = 0.0
    # stretches of ways beside the covered ones, closer than GPS tells apart
    # (geo.tracks.twins.alongside; set by geo.day_networks.match_by_day)
    alongside: pd.DataFrame | None = None


def match_track(
    net: WalkNetwork, pieces: list[pd.DataFrame], params: MatchParams | None = None
) -> MatchResult:
    """Match cleaned pieces (columns lon, lat, time) of one track to ``net``."""
    return match_tracks(net, [pieces], params)[0]


def match_tracks(
    net: WalkNetwork, tracks: list[list[pd.DataFrame]], params: MatchParams | None = None
) -> list[MatchResult]:
    """Match many tracks at once (same answers as one by one, much faster for many tracks).

    Each track's pieces are prepared separately (candidates, route table lookups: vectorised
    per piece); the Viterbi recursions of all pieces then run in lockstep, so the per-step
    Python overhead is paid once per step for a whole batch instead of once per piece.
    """
    return [spans[0] for spans in match_tracks_split(net, tracks, params)]


def match_tracks_split(
    net: WalkNetwork,
    tracks: list[list[pd.DataFrame]],
    params: MatchParams | None = None,
    cuts: list[np.ndarray] | None = None,
) -> list[list[MatchResult]]:
    """:func:`match_tracks`, each track's coverage cut at instants ``cuts[i]`` (sorted, ns
    since the epoch, UTC; local midnights): track i gets ``len(cuts[i]) + 1`` results, one per
    span between cuts (each span's fixes and the stretches walked in it).

    The track is matched whole, exactly as without cuts; only its covered stretches are
    shared out. A step between two fixes that runs over a cut is cut along its matched route
    where the walker was at that instant (linear in time between the two fixes), so the spans'
    stretches meet and add up to the uncut track's. An edge walked over a cut is credited on
    both sides however short either side's stretch, when the track as a whole passes the
    minimum credit there (``MatchParams.min_credit_sigmas`` guards against junction noise;
    a cut is no junction, and split on its own each side's metres near a segment end fell
    below it). Visits before a cut end 1 µs before it (so they lie within their day).
    Each span's counts, ``point_state`` and ``pieces`` are of its own fixes (a fix at a cut
    is the later span's); spans without a fix or a stretch share one empty result.
    """
    p = params or MatchParams()
    prepared: list[tuple[float, list[_Piece], float]] = []
    for pieces in tracks:
        pieces = [pc for pc in pieces if len(pc)]
        xys = [net.to_metric(pc["lon"].to_numpy(float), pc["lat"].to_numpy(float)) for pc in pieces]
        ts = [pc["time"].to_numpy("datetime64[ns]").astype(np.int64) for pc in pieces]
        tp = p
        jitter = _jitter_sigma(xys)
        if p.smooth_accel_psd is not None and _dense_and_noisy(xys, jitter, p.smooth_min_noise_m):
            noise_in = min(jitter, p.sigma_max_m)
            xys = [_smooth(xy, t / 1e9, noise_in, p) for xy, t in zip(xys, ts, strict=True)]
            jitter = _jitter_sigma(xys)
            tp = replace(p, min_step_sigmas=p.smooth_min_step_sigmas)
        sigma = p.sigma_m if p.sigma_m is not None else _estimate_sigma(net, xys, p)
        # measured noise: the jitter estimate only ever raises σ (see _jitter_sigma)
        noise = max(sigma, min(jitter, p.sigma_max_m))
        credit_sigma = noise
        prep = [_prepare_piece(net, xy, t, sigma, tp, noise) for xy, t in zip(xys, ts, strict=True)]
        prepared.append((sigma, prep, credit_sigma))
    _viterbi_batch([pc for _, prep, _ in prepared for pc in prep])
    if p.crossing_sigmas is not None or p.ride_speed_mps is not None:
        for _, prep, noise in prepared:
            on_path = [_on_path(net, pc, p.k) for pc in prep]
            # the fixes' distances to the matched path: the noise a sparse track's jitter
            # estimate cannot see (a 20 m-noise walk at 8 s read 8 m, and its ends' noise
            # along the way made a walker a rider over 40 s)
            noise = max(noise, _residual_sigma(prep, on_path))
            for pc, (on, at) in zip(prep, on_path, strict=True):
                if p.crossing_sigmas is not None:
                    _detach_crossings(pc, on, at, noise, p)
                if p.ride_speed_mps is not None:
                    _detach_rides(net, pc, noise, p)
    out = []
    for i, (pieces, (sigma, prep, credit_sigma)) in enumerate(zip(tracks, prepared, strict=True)):
        intervals: list[tuple[np.ndarray, ...]] = []
        ends: list[int] = []  # edges (positions) where a piece's walking begins or ends
        matched = runs = 0
        states: list[np.ndarray] = []
        for pc in prep:
            iv, on_raw, r = _finish_piece(net, pc, p.k)
            if p.dead_end_sigmas is not None and pc.turn_t is not None and len(pc.turn_t):
                reach = p.dead_end_sigmas * credit_sigma
                depth = p.dead_end_depth_sigmas * credit_sigma
                iv = _to_dead_ends(
                    net, iv, reach, depth, pc.turn_t, pc.turn_xy, p.reversal_window_s
                )
            intervals.extend(iv)
            if p.end_credit_max_noise_m is not None and credit_sigma <= p.end_credit_max_noise_m:
                ends.extend(_end_edges(iv))
            matched += int(on_raw.sum())
            runs += r
            states.append(on_raw)
        bridges: list[tuple[int, float]] = []  # (start ns, metres) of each bridged gap
        if p.bridge_max_s is not None:
            for before, after in zip(prep, prep[1:], strict=False):
                got = _bridge(net, before, after, credit_sigma, p)
                if got is not None:
                    intervals.extend(got)
                    bridges.append(
                        (int(before.t[-1]), float(sum((iv[2] - iv[1]).sum() for iv in got)))
                    )
        least = p.min_credit_sigmas * credit_sigma
        end_edges = np.asarray(ends, dtype=np.int64)
        cut = np.asarray(cuts[i] if cuts is not None else [], dtype=np.int64)
        if len(cut):
            spans = _split_spans(
                net, prep, states, intervals, cut, least, p.k, float(sigma), end_edges
            )
            for t0, metres in bridges:
                s = int(np.searchsorted(cut, t0, side="right"))
                spans[s] = replace(
                    spans[s],
                    bridged_gaps=spans[s].bridged_gaps + 1,
                    bridged_m=spans[s].bridged_m + metres,
                )
            out.append(spans)
            continue
        edges, blocks = _coverage(net, intervals, least, ends=end_edges)
        total = int(sum(len(pc) for pc in pieces))
        res = MatchResult(edges, matched, total, len(pieces), runs, float(sigma), states, blocks)
        res.bridged_gaps, res.bridged_m = len(bridges), sum(m for _, m in bridges)
        out.append([res])
    return out


def _split_spans(
    net: WalkNetwork,
    prep: list[_Piece],
    states: list[np.ndarray],
    intervals: list[tuple[np.ndarray, ...]],
    cut: np.ndarray,
    least: float,
    k: int,
    sigma: float,
    ends: np.ndarray,
) -> list[MatchResult]:
    """One track's match as one result per span between the instants ``cut`` (see
    :func:`match_tracks_split`); ``ends`` as :func:`_coverage` takes them."""
    by_span, at_cut = _split_intervals(net, intervals, cut)
    # the minimum credit of an edge walked over a cut is judged on the whole track
    kept = set(_credited(net, intervals, least, ends).tolist()) if any(at_cut) else set()
    raw_span = [np.searchsorted(cut, pc.t_raw, side="right") for pc in prep]
    step_span = [np.searchsorted(cut, pc.t, side="right") for pc in prep]
    busy = {s for s, iv in enumerate(by_span) if iv}
    for r in raw_span:
        busy.update(np.unique(r).tolist())
    out: list[MatchResult] = []
    idle: MatchResult | None = None  # one empty result serves every span without a fix
    for s in range(len(cut) + 1):
        if s not in busy:
            if idle is None:
                edges, blocks = _coverage(net, [])
                idle = MatchResult(edges, 0, 0, 0, 0, sigma, [], blocks)
            out.append(idle)
            continue
        exempt = np.fromiter(at_cut[s] & kept, dtype=np.int64)
        edges, blocks = _coverage(net, by_span[s], least, exempt, ends)
        span_states, matched, runs = [], 0, 0
        for pc, on_raw, rs, ss in zip(prep, states, raw_span, step_span, strict=True):
            mine = rs == s
            if mine.any():
                span_states.append(on_raw[mine])
                matched += int(on_raw[mine].sum())
            # runs: on-network stretches of kept steps, cut where the span changes
            assert pc.path is not None
            on = pc.path < k
            fresh = np.ones(len(on), dtype=bool)
            fresh[1:] = ~on[:-1] | (ss[1:] != ss[:-1])
            runs += int((on & fresh & (ss == s)).sum())
        total = sum(len(x) for x in span_states)
        out.append(
            MatchResult(edges, matched, total, len(span_states), runs, sigma, span_states, blocks)
        )
    return out


# a visit that ends at a cut ends this much before it (ns): within the cut's earlier day
_BEFORE_CUT_NS = 1_000


def _split_intervals(
    net: WalkNetwork, intervals: list[tuple[np.ndarray, ...]], cut: np.ndarray
) -> tuple[list[list[tuple[np.ndarray, ...]]], list[set[int]]]:
    """Covered intervals (as :func:`_intervals` makes them) shared out to the spans between
    the instants ``cut``; and per span, the edges (positions) it walked up to or from a cut.

    An interval lies in the span of its step's start; a step running over cuts (t0 < cut <
    t1) is cut along its route (the step's intervals in order, each walked in its direction)
    where the share of its length equals the share of its time run at each cut."""
    n_span = len(cut) + 1
    by_span: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(n_span)]
    at_cut: list[set[int]] = [set() for _ in range(n_span)]
    if not intervals or sum(len(iv[0]) for iv in intervals) == 0:
        return by_span, at_cut
    e, lo, hi, t0, t1, order, fwd = (np.concatenate([iv[i] for iv in intervals]) for i in range(7))
    s0 = np.searchsorted(cut, t0, side="right")  # span of the step's start
    s1 = np.searchsorted(cut, t1, side="left")  # of its end (a step ending at a cut: before it)
    whole = s0 == s1
    # a step ending at a cut ends 1 µs before it, within the earlier span's day
    end_cap = np.append(cut - _BEFORE_CUT_NS, np.iinfo(np.int64).max)
    t1c = np.minimum(t1, end_cap[s0])
    for s in np.unique(s0[whole]).tolist():
        m = whole & (s0 == s)
        by_span[s].append((e[m], lo[m], hi[m], t0[m], t1c[m], order[m], fwd[m]))
    # a fix exactly at a cut: the walker was where the step ending there ends (the earlier
    # span's side) and where the step starting there starts (the later span's)
    for side, t_at in ((1, t1), (0, t0)):
        touch = np.flatnonzero(whole & (hi > lo) & np.isin(t_at, cut))
        if len(touch):
            rank = order[touch] if side == 0 else -order[touch]
            touch = touch[np.lexsort((rank, t_at[touch]))]
            first_of = np.ones(len(touch), dtype=bool)
            first_of[1:] = t_at[touch][1:] != t_at[touch][:-1]
            for j in touch[first_of].tolist():
                at_cut[int(s0[j])].add(int(e[j]))
    across = np.flatnonzero(~whole)
    if not len(across):
        return by_span, at_cut
    # a step's intervals share its times; walked in the order of ``order``
    steps: dict[tuple[int, int], list[int]] = {}
    for j in across.tolist():
        steps.setdefault((int(t0[j]), int(t1[j])), []).append(j)
    rows: list[list[tuple[int, float, float, int, int, float, bool]]] = [[] for _ in cut] + [[]]
    for (a_t, b_t), js in steps.items():
        js.sort(key=lambda j: order[j])
        first, last = int(s0[js[0]]), int(s1[js[0]])
        lengths = [float(hi[j] - lo[j]) for j in js]
        route = sum(lengths)
        # metres along the route: the step's start, where the walker was at each cut it runs
        # over (linear in time, as between any two fixes), its end
        marks = [0.0, *(route * (int(c) - a_t) / (b_t - a_t) for c in cut[first:last]), route]
        done = 0.0
        for j, length in zip(js, lengths, strict=True):
            for s in range(first, last + 1):
                x = max(done, marks[s - first])
                y = min(done + length, marks[s - first + 1])
                if y <= x:
                    continue
                # offsets on the edge: from its lo end when walked forwards, else from hi
                a, b = (
                    (lo[j] + x - done, lo[j] + y - done)
                    if fwd[j]
                    else (hi[j] - y + done, hi[j] - x + done)
                )
                begin = a_t if s == first else int(cut[s - 1])
                until = b_t if s == last else int(cut[s]) - _BEFORE_CUT_NS
                rows[s].append(
                    (int(e[j]), float(a), float(b), begin, until, float(order[j]), bool(fwd[j]))
                )
                if (s > first and x == marks[s - first]) or (
                    s < last and y == marks[s - first + 1]
                ):
                    at_cut[s].add(int(e[j]))  # this span's stretch of it reaches a cut
            done += length
    for s, got in enumerate(rows):
        if got:
            cols = list(zip(*got, strict=True))
            by_span[s].append(
                (
                    np.asarray(cols[0], np.int64),
                    np.asarray(cols[1], float),
                    np.asarray(cols[2], float),
                    np.asarray(cols[3], np.int64),
                    np.asarray(cols[4], np.int64),
                    np.asarray(cols[5], float),
                    np.asarray(cols[6], bool),
                )
            )
    return by_span, at_cut


def _smooth(xy: np.ndarray, t_s: np.ndarray, noise: float, p: MatchParams) -> np.ndarray:
    """RTS-smoothed fixes; smoothed again with a free velocity at detected turn-backs."""
    assert p.smooth_accel_psd is not None
    out = rts_smooth(xy, t_s, noise, p.smooth_accel_psd)
    if p.reversal_window_s > 0:
        rv = reversal_fixes(
            out, t_s, p.reversal_window_s, p.reversal_min_disp_sigmas * noise, p.reversal_max_cos
        )
        if len(rv):
            out = _resmooth_around(out, xy, t_s, noise, p.smooth_accel_psd, rv)
    return out


def _resmooth_around(
    out: np.ndarray,
    xy: np.ndarray,
    t_s: np.ndarray,
    noise: float,
    psd: float,
    kicks: np.ndarray,
    margin_s: float = 100.0,
) -> np.ndarray:
    """``out`` with the stretches within ``margin_s`` of each kick smoothed again with the
    kick. Each stretch is smoothed over twice its margin: a kick changes the smoothed track
    only over a few of the smoother's time constants (10–30 s at 10–20 m noise and 1–10 s
    fixes), and the extra margin keeps the stretch's own end effects out of what is replaced.
    Within 5 cm of smoothing the whole piece again (30 simulated walks each at 10 and 20 m),
    at a fraction of the cost."""
    out = out.copy()
    n = len(t_s)
    tk = t_s[kicks]
    lo = np.searchsorted(t_s, tk - 2 * margin_s, side="left")
    hi = np.searchsorted(t_s, tk + 2 * margin_s, side="right")
    # merge overlapping stretches
    groups: list[list[int]] = []
    for j in range(len(kicks)):
        if groups and lo[j] <= hi[groups[-1][-1]]:
            groups[-1].append(j)
        else:
            groups.append([j])
    for g in groups:
        a, b = int(lo[g[0]]), int(hi[g[-1]])
        seg = rts_smooth(xy[a:b], t_s[a:b], noise, psd, kicks=kicks[g] - a)
        c = 0 if a == 0 else int(np.searchsorted(t_s, tk[g[0]] - margin_s, side="left"))
        d = n if b >= n else int(np.searchsorted(t_s, tk[g[-1]] + margin_s, side="right"))
        out[c:d] = seg[c - a : d - a]
    return out


def _estimate_sigma(net: WalkNetwork, xys: list[np.ndarray], p: MatchParams) -> float:
    if not xys:
        return p.sigma_min_m
    allxy = np.vstack(xys)
    step = max(1, len(allxy) // 120)  # the median of ~120 distances is stable to ~10 %
    d = net.nearest_distance(allxy[::step], p.search_radius_m)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return p.sigma_max_m
    return float(np.clip(1.4826 * np.median(d), p.sigma_min_m, p.sigma_max_m))


def _jitter_sigma(xys: list[np.ndarray]) -> float:
    """Noise σ from the second differences of consecutive fixes (steady walking cancels; white
    noise leaves variance 6σ² per axis, median length 1.1774·√6·σ). Correlated real noise makes
    it an underestimate, so it only ever raises the network-based estimate."""
    j = np.concatenate([second_differences(xy) for xy in xys] or [np.empty(0)])
    return float(np.median(j)) * SIGMA_PER_MEDIAN_D2 if len(j) >= 10 else 0.0


def _dense_and_noisy(xys: list[np.ndarray], jitter: float, min_noise: float) -> bool:
    """Worth smoothing: noise above ``min_noise`` and fixes closer together than a few noise
    radii. Sparse fixes (a taxi every 60 s) make large second differences from real turns,
    which the jitter estimate would misread as noise."""
    if jitter <= min_noise:
        return False
    steps = [np.hypot(*np.diff(xy, axis=0).T) for xy in xys if len(xy) >= 2]
    return bool(steps) and float(np.median(np.concatenate(steps))) < 4.0 * jitter


def _thin(xy: np.ndarray, min_step: float, forced: np.ndarray | None = None) -> np.ndarray:
    """Indices of fixes kept as HMM steps: each ≥ min_step from the previous kept, every
    ``forced`` one (sorted), and the last."""
    n = len(xy)
    if n <= 2 or min_step <= 0:
        return np.arange(n)
    # Sequential by nature; a plain loop over Python floats is ~0.3 µs per fix.
    xs, ys = xy[:, 0].tolist(), xy[:, 1].tolist()
    must = set(forced.tolist()) if forced is not None else set()
    keep = [0]
    lx, ly = xs[0], ys[0]
    m2 = float(min_step) ** 2  # a Python float keeps the loop off numpy scalar arithmetic
    for i in range(1, n - 1):
        if (xs[i] - lx) ** 2 + (ys[i] - ly) ** 2 >= m2 or i in must:
            keep.append(i)
            lx, ly = xs[i], ys[i]
    keep.append(n - 1)
    return np.asarray(keep)


@dataclass
class _Piece:
    """One piece between preparation and the batched Viterbi."""

    kept: np.ndarray
    n_raw: int
    t: np.ndarray
    ce: np.ndarray
    co: np.ndarray
    E: np.ndarray
    T: np.ndarray
    combo: np.ndarray
    rows: dict[int, RouteRows]
    path: np.ndarray | None = None
    t_raw: np.ndarray | None = None  # every fix's time (ns), for spans (match_tracks_split)
    xy: np.ndarray | None = None  # the kept steps' metric positions (smoothed, if it was)
    turn_t: np.ndarray | None = None  # times (ns) where the fixes turn back (reversal_fixes)
    turn_xy: np.ndarray | None = None  # and where (metric)


def _prepare_piece(
    net: WalkNetwork,
    xy_all: np.ndarray,
    t_all: np.ndarray,
    sigma: float,
    p: MatchParams,
    noise: float | None = None,
) -> _Piece:
    step = p.min_step_m if p.min_step_m is not None else p.min_step_sigmas * sigma
    turns = np.empty(0, dtype=np.int64)
    if p.reversal_window_s > 0 and (p.keep_reversals or p.dead_end_sigmas is not None):
        noise_m = max(noise or sigma, sigma)
        windows = [p.reversal_window_s, *p.turn_windows_s]
        found = [
            reversal_fixes(
                xy_all, t_all / 1e9, w, p.reversal_min_disp_sigmas * noise_m, p.reversal_max_cos
            )
            for w in windows
        ]
        turns = np.unique(np.concatenate(found))
    # WHY keep them: thinning alone drops the apex of a short dead end walked in and out (a
    # 29 m alley at 12 m noise: the fixes near its end all lie within σ of the last kept one),
    # and the matched path turned back short of the end
    kept = _thin(xy_all, step, turns if p.keep_reversals else None)
    xy, t = xy_all[kept], t_all[kept]
    n, k = len(xy), p.k
    # A candidate farther than this can never beat going off-network and back (emission gap
    # larger than two off-network penalties), so it is not worth searching for.
    # off-network threshold in emission-σ units: off_network_sigmas × the measured noise
    # (the emission σ is floored at the network-based estimate, which at 20 m noise on a
    # dense network with sidewalks comes out at 8–16 m: 3 × that declares true fixes 30–50 m
    # off their path "off network" and loses the stretch between)
    off_z = p.off_network_sigmas * max(noise or sigma, sigma) / sigma
    useful = sigma * np.sqrt(off_z**2 + 4.0 * p.off_penalty)
    ce, co, cd = net.candidates(xy, min(p.search_radius_m, useful), k)
    valid = ce >= 0
    # emissions (n, k+1); last column = off network
    E = np.full((n, k + 1), -np.inf)
    E[:, :k] = np.where(valid, -0.5 * (cd / sigma) ** 2, -np.inf)
    E[:, k] = -0.5 * off_z**2
    T = np.full((max(n - 1, 0), k + 1, k + 1), -np.inf)
    T[:, :k, k] = -p.off_penalty
    T[:, k, :k] = -p.off_penalty
    T[:, k, k] = 0.0
    combo = np.zeros((max(n - 1, 0), k, k), dtype=np.int8)
    rows: dict[int, RouteRows] = {}
    if n > 1:
        gc = np.hypot(*(xy[1:] - xy[:-1]).T)
        logt, combo, rows = _transitions(net, ce, co, gc, sigma, p)
        T[:, :k, :k] = logt
    return _Piece(
        kept,
        len(xy_all),
        t,
        ce,
        co,
        E,
        T,
        combo,
        rows,
        t_raw=t_all,
        xy=xy,
        turn_t=t_all[turns],
        turn_xy=xy_all[turns],
    )


def _on_path(net: WalkNetwork, pc: _Piece, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The piece's on-network steps (indices into its kept fixes) and where the Viterbi path
    put them (metric xy)."""
    assert pc.path is not None
    on = np.flatnonzero(pc.path < k)
    state = pc.path[on]
    at = shapely.line_interpolate_point(net.geoms_m[pc.ce[on, state]], pc.co[on, state])
    return on, shapely.get_coordinates(at).reshape(-1, 2)


# fewer on-network steps than this in a track: its residuals are not used. WHY: a crossing
# is 10–40 steps; in a short walk it is much of the median and would hide itself (with 20
# here, the bench's courtyard cuts of 9–43 steps read a way never neared as patrolled in 2
# and 3 more of 80 walks at 5 and 20 m), while an hour's patrol has hundreds of steps (1.5 km
# walks at 3 s: 106–219)
MIN_RESIDUALS = 60


def _residual_sigma(pieces: list[_Piece], on_path: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Noise σ per axis from how far the fixes lie from where the matched path put them
    (1.4826 × the median distance; 0 with too few). WHY: the estimate before matching measures
    to the nearest way, often a closer parallel one on a dense network, and read 8–10 m on
    walks with 12 m drifting phone noise; the crossing rule, in units of it, then took
    ordinary drift for courtyard cuts: recall of the patrolled status 0.81 (0.88 without the
    rule, 0.86 now; 20 walks of 1.5 km). A real crossing is a few dozen of a walk's hundreds of
    steps and moves the median little."""
    d = [np.hypot(*(pc.xy[on] - at).T) for pc, (on, at) in zip(pieces, on_path, strict=True)]
    d = np.concatenate(d) if d else np.empty(0)
    return float(1.4826 * np.median(d)) if len(d) >= MIN_RESIDUALS else 0.0


def _detach_crossings(
    pc: _Piece, on: np.ndarray, at: np.ndarray, noise: float, p: MatchParams
) -> None:
    """Take the steps of a courtyard crossing (:func:`geo.tracks.crossings.crossing_steps`)
    off the network in the piece's Viterbi path, before anything is credited from it."""
    assert pc.path is not None and pc.xy is not None and p.crossing_sigmas is not None
    if len(on) < p.crossing_min_steps:
        return
    off = crossing_steps(
        pc.xy[on],
        at,
        np.diff(on) == 1,
        noise,
        p.crossing_side_sigmas,
        p.crossing_sigmas,
        p.crossing_min_steps,
    )
    pc.path[on[off]] = p.k


def _detach_rides(net: WalkNetwork, pc: _Piece, noise: float, p: MatchParams) -> None:
    """Take the steps of a stretch ridden, not walked, off the network in the piece's path
    (:mod:`geo.tracks.route_rides`). A window's distance is the shorter of two: between its
    end steps, and between the steps after each, so one outlier fix at an end (matched tens
    of metres along the way) does not make a walk a ride."""
    assert pc.path is not None and p.ride_speed_mps is not None
    k = p.k
    on = pc.path < k
    steps = np.flatnonzero(on)
    run = np.cumsum(~on)[steps]  # steps of one on-network run share it
    t = pc.t[steps] / 1e9
    i, j = ride_windows(t, run, p.ride_window_s, p.ride_min_window_s)
    if not len(i):
        return
    i2 = np.minimum(i + 1, j)
    j2 = np.minimum(j + 1, len(t) - 1)
    j2 = np.where(run[j2] == run[j], j2, j)  # the step after, while on the same run
    a, b = steps[np.concatenate([i, i2])], steps[np.concatenate([j, j2])]
    ea, oa = pc.ce[a, pc.path[a]], pc.co[a, pc.path[a]]
    eb, ob = pc.ce[b, pc.path[b]], pc.co[b, pc.path[b]]
    metres = route_metres(net, ea, oa, eb, ob).reshape(2, -1).min(axis=0)
    slack = max(p.ride_slack_m, p.ride_slack_sigmas * noise)
    ridden = ridden_steps(len(t), i, j, metres, t[j] - t[i], p.ride_speed_mps, slack)
    pc.path[steps[ridden]] = k


def _to_dead_ends(
    net: WalkNetwork,
    intervals: list[tuple[np.ndarray, ...]],
    reach_m: float,
    depth_m: float,
    turn_t: np.ndarray,
    turn_xy: np.ndarray,
    window_s: float,
) -> list[tuple[np.ndarray, ...]]:
    """``intervals`` with stretches that turn back near a dead end carried to it
    (:mod:`geo.tracks.dead_ends`), where the fixes themselves turn back (``turn_t``, sorted ns,
    at ``turn_xy``) within ``window_s`` and within ``reach_m`` of that end. WHY the fixes'
    turn: drifting noise can carry the matched path of a walker passing a dead end's junction
    a few metres into it and out, and a corner turned there is a turn too, but its fixes turn
    near the junction, not near the dead end's end."""
    u_dead, v_dead = net.dead_end_flags()
    w = int(window_s * 1e9)
    out = []
    for e, lo, hi, t0, t1, *rest in intervals:
        lo2, hi2 = reach_dead_ends(e, lo, hi, net.length, u_dead, v_dead, reach_m, depth_m)
        for j in np.flatnonzero((lo2 != lo) | (hi2 != hi)).tolist():
            tip = net.u[e[j]] if lo2[j] != lo[j] else net.v[e[j]]
            a = np.searchsorted(turn_t, t0[j] - w, side="left")
            b = np.searchsorted(turn_t, t1[j] + w, side="right")
            near = np.hypot(*(turn_xy[a:b] - net.node_xy[tip]).T)
            if not (near <= reach_m).any():
                lo2[j], hi2[j] = lo[j], hi[j]
        out.append((e, lo2, hi2, t0, t1, *rest))
    return out


def _finish_piece(
    net: WalkNetwork, pc: _Piece, k: int
) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray, int]:
    assert pc.path is not None
    path = pc.path
    on = path < k
    iv = _intervals(net, path, pc.ce, pc.co, pc.combo, pc.t, pc.rows, k)
    # raw fixes inherit the state of the last kept step at or before them
    owner = np.searchsorted(pc.kept, np.arange(pc.n_raw), side="right") - 1
    on_raw = on[owner]
    # runs: maximal stretches of on-network steps joined by transitions
    starts = on & ~np.concatenate([[False], on[:-1]])
    return iv, on_raw, int(starts.sum())


def _transitions(
    net: WalkNetwork, ce: np.ndarray, co: np.ndarray, gc: np.ndarray, sigma: float, p: MatchParams
) -> tuple[np.ndarray, np.ndarray, dict[int, RouteRows]]:
    """Log transition probabilities (n-1, k, k) and the route variant chosen for each pair.

    Variant 0–3: leave edge a by its u/v end and enter edge b by its u/v end; 4: along one edge.
    """
    k = ce.shape[1]
    ea = np.broadcast_to(ce[:-1, :, None], (len(gc), k, k))
    eb = np.broadcast_to(ce[1:, None, :], (len(gc), k, k))
    oa = np.broadcast_to(co[:-1, :, None], ea.shape)
    ob = np.broadcast_to(co[1:, None, :], eb.shape)
    g = np.broadcast_to(gc[:, None, None], ea.shape)
    ok = (ea >= 0) & (eb >= 0)
    slack = max(p.detour_slack_m, p.detour_slack_sigmas * sigma)
    allowed_all = np.minimum(g * p.max_route_ratio + slack, p.max_route_m)
    idx = np.flatnonzero(ok)
    a, b = ea.ravel()[idx], eb.ravel()[idx]
    xa, xb = oa.ravel()[idx], ob.ravel()[idx]
    allowed = allowed_all.ravel()[idx]
    la, lb = net.length[a], net.length[b]
    fa, fb = net.cost_factor[a], net.cost_factor[b]
    exits = ((net.u[a], xa * fa), (net.v[a], (la - xa) * fa))
    enters = ((net.u[b], xb * fb), (net.v[b], (lb - xb) * fb))
    routes = np.full((5, len(idx)), np.inf)
    ow_a, ow_b = net.oneway[a], net.oneway[b]
    # along one edge: backwards only where two-way
    routes[4] = np.where(
        (a == b) & (~ow_a | (xb >= xa - 2.0 * sigma)), np.abs(xb - xa) * fa, np.inf
    )
    pending = []
    for j, ((sn, sc), (tn, tc)) in enumerate((ex, en) for ex in exits for en in enters):
        d, found = net.ubodt_lookup(sn, tn)
        base = sc + tc
        # a one-way edge is left only by its v end (j // 2 == 1) and entered by its u end
        blocked = (ow_a & (j // 2 == 0)) | (ow_b & (j % 2 == 1))
        base = np.where(blocked, np.inf, base)
        routes[j] = base + d
        # pairs beyond the table that might still be allowed: route them by Dijkstra
        miss = ~found & (base + net.ubodt_delta_m < allowed)
        if miss.any():
            pending.append((j, np.flatnonzero(miss), sn[miss], tn[miss], base[miss]))
    rows: dict[int, RouteRows] = {}
    if pending:
        # One bounded Dijkstra per step, limited by what that step allows: a single limit for
        # the whole piece (its longest step) would explore far more of a city graph.
        step_of = idx // (k * k)
        all_steps = np.concatenate([step_of[w] for _, w, _, _, _ in pending])
        all_src = np.concatenate([sn for _, _, sn, _, _ in pending])
        all_need = np.concatenate([allowed[w] - b for _, w, _, _, b in pending])
        for st in np.unique(all_steps).tolist():
            m = all_steps == st
            rows[st] = net.bounded_rows(all_src[m], float(all_need[m].max()))
        for j, where, sn, tn, base in pending:
            st_w = step_of[where]
            for st in np.unique(st_w).tolist():
                mm = st_w == st
                routes[j, where[mm]] = base[mm] + rows[st].lookup(sn[mm], tn[mm])
    best = np.argmin(routes, axis=0)
    route = routes[best, np.arange(len(idx))]
    gcf = g.ravel()[idx]
    feasible = route <= allowed
    logt = np.full(ea.size, -np.inf)
    beta = max(p.beta_m, p.beta_sigmas * sigma)
    logt[idx] = np.where(feasible, -np.abs(route - gcf) / beta, -np.inf)
    combo = np.zeros(ea.size, dtype=np.int8)
    combo[idx] = best
    return logt.reshape(ea.shape), combo.reshape(ea.shape), rows


def _viterbi_batch(pieces: list[_Piece], max_cells: int = 60_000) -> None:
    """Viterbi (log space) for many pieces in lockstep; sets each piece's ``path``.

    Pieces are sorted by length and batched (≤ max_cells steps per batch, bounding memory);
    shorter pieces are padded with steps whose transition keeps every state as it is.
    """
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].E))
    batch: list[_Piece] = []
    for i in order:
        pc = pieces[i]
        if batch and len(pc.E) * (len(batch) + 1) > max_cells:
            _viterbi_lockstep(batch)
            batch = []
        batch.append(pc)
    if batch:
        _viterbi_lockstep(batch)


def _viterbi_single(pc: _Piece) -> None:
    """Viterbi of one piece: the lockstep recursion without the batch axis and padding, with
    each step's scores laid out (to, from) so both reductions run along contiguous memory
    (a third faster per step; same additions, same argmax order, same path)."""
    n = len(pc.E)
    back = np.zeros((n, pc.E.shape[1]), dtype=np.int64)
    score = pc.E[0].copy()
    if n > 1:
        Mt = np.ascontiguousarray((pc.T + pc.E[1:, None, :]).transpose(0, 2, 1))
        for i in range(1, n):
            cand = Mt[i - 1] + score
            back[i] = cand.argmax(axis=1)
            score = cand.max(axis=1)
    if not np.isfinite(score.max()):
        raise InputError(
            "轨迹无法匹配到路网：找不到路径（有定位点没有可行的匹配状态） "
            "map matching found no path (a fix has no finite state)"
        )
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    pc.path = path


def _viterbi_lockstep(batch: list[_Piece]) -> None:
    if len(batch) == 1:
        _viterbi_single(batch[0])
        return
    B = len(batch)
    m = batch[0].E.shape[1]
    L = max(len(pc.E) for pc in batch)
    E = np.zeros((B, L, m))
    keep = np.full((m, m), -np.inf)
    np.fill_diagonal(keep, 0.0)
    M = np.broadcast_to(keep, (B, max(L - 1, 0), m, m)).copy()
    for j, pc in enumerate(batch):
        n = len(pc.E)
        E[j, :n] = pc.E
        if n > 1:
            M[j, : n - 1] = pc.T + pc.E[1:, None, :]
    back = np.zeros((B, L, m), dtype=np.int64)
    score = E[:, 0].copy()
    # No step can leave every state at -inf: the off-network state has a finite emission at
    # every fix and is reachable from every state, so the recursion needs no per-step
    # "HMM break" check (which cost half of the per-step numpy calls).
    for i in range(1, L):
        cand = score[:, :, None] + M[:, i - 1]
        b = cand.argmax(axis=1)
        back[:, i] = b
        score = cand.max(axis=1)
    if not np.isfinite(score.max(axis=1)).all():
        raise InputError(
            "轨迹无法匹配到路网：找不到路径（有定位点没有可行的匹配状态） "
            "map matching found no path (a fix has no finite state)"
        )
    path = np.empty((B, L), dtype=np.int64)
    path[:, -1] = score.argmax(axis=1)
    rows = np.arange(B)
    for i in range(L - 1, 0, -1):
        path[:, i - 1] = back[rows, i, path[:, i]]
    for j, pc in enumerate(batch):
        pc.path = path[j, : len(pc.E)].copy()


def _intervals(
    net: WalkNetwork,
    path: np.ndarray,
    ce: np.ndarray,
    co: np.ndarray,
    combo: np.ndarray,
    t: np.ndarray,
    rows: dict[int, RouteRows],
    k: int,
) -> list[tuple[np.ndarray, ...]]:
    """Covered intervals (edge, lo, hi, t0, t1, order, fwd) of consecutive on-network steps;
    ``fwd``: walked from lo to hi (only :func:`_split_intervals` needs the direction)."""
    n = len(path)
    if n < 2:
        return []
    a_state, b_state = path[:-1], path[1:]
    both = (a_state < k) & (b_state < k)
    steps = np.flatnonzero(both)
    if len(steps) == 0:
        return []
    ea = ce[steps, a_state[steps]]
    eb = ce[steps + 1, b_state[steps]]
    xa = co[steps, a_state[steps]]
    xb = co[steps + 1, b_state[steps]]
    var = combo[steps, a_state[steps], b_state[steps]]
    t0, t1 = t[steps], t[steps + 1]
    same = var == 4
    out: list[tuple[np.ndarray, ...]] = []
    s = steps[same]
    out.append(
        (
            ea[same],
            np.minimum(xa[same], xb[same]),
            np.maximum(xa[same], xb[same]),
            t0[same],
            t1[same],
            s.astype(float),
            xb[same] >= xa[same],
        )
    )
    # multi-edge transitions: reconstruct the node path (few per track for walkers)
    e_l, lo_l, hi_l, t0_l, t1_l, ord_l, fwd_l = [], [], [], [], [], [], []
    for j in np.flatnonzero(~same):
        a, b, va = int(ea[j]), int(eb[j]), int(var[j])
        exit_v, enter_v = va // 2, va % 2
        sn = int(net.v[a] if exit_v else net.u[a])
        tn = int(net.v[b] if enter_v else net.u[b])
        la, lb = float(net.length[a]), float(net.length[b])
        o = float(steps[j])
        sub = 0
        # leaving a
        e_l.append(a)
        lo_l.append(xa[j] if exit_v else 0.0)
        hi_l.append(la if exit_v else xa[j])
        ord_l.append(o)
        fwd_l.append(bool(exit_v))
        sub += 1
        nodes = net.path_nodes(sn, tn, rows.get(int(steps[j])))
        for q in range(len(nodes) - 1):
            e_mid = net.edge_between(nodes[q], nodes[q + 1])
            e_l.append(e_mid)
            lo_l.append(0.0)
            hi_l.append(float(net.length[e_mid]))
            ord_l.append(o + sub * 1e-3)
            fwd_l.append(int(net.u[e_mid]) == nodes[q])
            sub += 1
        e_l.append(b)
        lo_l.append(xb[j] if enter_v else 0.0)
        hi_l.append(lb if enter_v else xb[j])
        ord_l.append(o + sub * 1e-3)
        fwd_l.append(not enter_v)
        t0_l.extend([t0[j]] * (sub + 1))
        t1_l.extend([t1[j]] * (sub + 1))
    if e_l:
        out.append(
            (
                np.asarray(e_l, np.int64),
                np.asarray(lo_l, float),
                np.asarray(hi_l, float),
                np.asarray(t0_l, np.int64),
                np.asarray(t1_l, np.int64),
                np.asarray(ord_l, float),
                np.asarray(fwd_l, bool),
            )
        )
    return out


def _union(
    net: WalkNetwork, e: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Interval union per edge: the blocks' edges, starts (m, shifted by edge × ``big``: see
    the caller) and lengths, and ``big``."""
    # shift each edge's offsets into its own range so a global running maximum never crosses
    # edges (vectorised instead of a loop per edge)
    o = np.lexsort((lo, e))
    e_s, lo_s, hi_s = e[o], lo[o], hi[o]
    big = float(net.length.max()) + 1.0
    glo, ghi = lo_s + e_s * big, hi_s + e_s * big
    run_hi = np.maximum.accumulate(ghi)
    new = np.ones(len(e_s), dtype=bool)
    new[1:] = glo[1:] > run_hi[:-1]
    starts = np.flatnonzero(new)
    b_len = np.maximum.reduceat(ghi, starts) - glo[starts]
    return e_s[starts], glo[starts], b_len, big


def _end_edges(iv: list[tuple[np.ndarray, ...]]) -> list[int]:
    """The edges (positions) of a piece's first and last covered stretch: where its walking
    begins and ends (see :func:`_credit`)."""
    if not iv or sum(len(x[0]) for x in iv) == 0:
        return []
    e, t0, t1, order = (np.concatenate([x[i] for x in iv]) for i in (0, 3, 4, 5))
    first = np.lexsort((order, t0))[0]
    last = np.lexsort((order, t1))[-1]
    return [int(e[first]), int(e[last])]


def _credit(
    net: WalkNetwork,
    uniq: np.ndarray,
    covered: np.ndarray,
    min_credit_m: float,
    ends: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(covered_m, fraction, credited) of edges ``uniq`` with ``covered`` metres.

    An edge where a piece's walking begins or ends (``ends``, positions) needs half the
    minimum credit and half its length: the minimum guards against fixes at a junction the
    walker passes reaching a metre or two into the edges there, and a walk that starts on an
    edge has no such junction behind it. WHY: a street chief who set out from the end of his
    street had its 12.7 m end stub (walked 11 m, σ 8 m) dropped, and the street fell from
    0.85 to 0.80 (T55 #1); a junction's stray fixes at a walk's start seldom reach a full σ
    and half an edge along the wrong one. bench/match.py's simulated patrols (which start at
    nodes): precision and recall unchanged to 0.001 at 5, 10 and 20 m."""
    length = net.length[uniq]
    covered_m = np.minimum(covered, length)
    fraction = np.clip(covered / np.maximum(length, 1e-9), 0.0, 1.0)
    keep = ~((covered_m < min_credit_m) & (fraction < 0.999))
    if ends is not None and len(ends):
        keep |= np.isin(uniq, ends) & (covered_m >= 0.5 * min_credit_m) & (fraction >= 0.5)
    return covered_m, fraction, keep


def _credited(
    net: WalkNetwork,
    intervals: list[tuple[np.ndarray, ...]],
    min_credit_m: float,
    ends: np.ndarray | None = None,
) -> np.ndarray:
    """Edges (positions) that :func:`_coverage` credits for ``intervals``."""
    if not intervals or sum(len(iv[0]) for iv in intervals) == 0:
        return np.empty(0, dtype=np.int64)
    e, lo, hi = (np.concatenate([iv[i] for iv in intervals]) for i in range(3))
    b_edge, _, b_len, _ = _union(net, e, lo, hi)
    uniq, inv = np.unique(b_edge, return_inverse=True)
    covered = np.bincount(inv, weights=b_len, minlength=len(uniq))
    return uniq[_credit(net, uniq, covered, min_credit_m, ends)[2]]


def _first_walked(
    e: np.ndarray,
    length: np.ndarray,
    rank: np.ndarray,
    least_m: float,
    t0: np.ndarray,
    t1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per edge (ascending ids), the time rank of the interval at which the walk has covered
    ``least_m`` of it (or half its covered metres, if less), and the time (ns) the traversal
    that reached it began: the edge's ``first_time``, and with the rank its place in ``seq``.
    A traversal is the edge's intervals that follow one another without a pause in time.

    WHY not its first interval: fixes at a junction the walker passes first put a metre or two
    on every edge there, long before the walker turns into them; ``seq`` then listed edges
    walked later before the ones walked first (an outside tester found it in 28 of 72 walks).
    WHY the same moment for both: ``first_time`` was the first touch (a walk's first fix on the
    node where an edge ends, 0 m of it) while ``seq`` was the traversal that counts, and the
    two disagreed in 22 of an outside tester's 140 outputs (T54 #5: a loop walked twice, its
    closing edge touched at the start read 01:00:00 and seq 5).
    """
    o = np.lexsort((rank, e))
    e_s, len_s = e[o], length[o]
    t0_s, t1_s = t0[o], t1[o]
    starts = np.flatnonzero(np.concatenate([[True], e_s[1:] != e_s[:-1]]))
    counts = np.diff(np.append(starts, len(e_s)))
    cum = np.cumsum(len_s)
    within = cum - np.repeat(cum[starts] - len_s[starts], counts)
    total = np.add.reduceat(len_s, starts)
    need = np.repeat(np.minimum(max(least_m, 1.0), 0.5 * total), counts)
    at = np.where(within >= need - 1e-9, np.arange(len(e_s)), len(e_s))
    first = np.minimum(np.minimum.reduceat(at, starts), len(e_s) - 1)
    # a traversal begins at an edge's first interval and wherever an interval starts after
    # the previous one of the same edge ended (the walker was elsewhere in between)
    fresh = np.ones(len(e_s), dtype=bool)
    fresh[1:] = (e_s[1:] != e_s[:-1]) | (t0_s[1:] > t1_s[:-1])
    began = np.maximum.accumulate(np.where(fresh, np.arange(len(e_s)), 0))
    return rank[o][first], t0_s[began[first]]


def _coverage(
    net: WalkNetwork,
    intervals: list[tuple[np.ndarray, ...]],
    min_credit_m: float = 0.0,
    exempt: np.ndarray | None = None,
    ends: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Union of covered intervals per edge → covered length, fraction, times, traversal order.

    A partly covered edge with less than ``min_credit_m`` covered is dropped (see
    ``MatchParams.min_credit_sigmas``; half that where a piece's walking begins or ends,
    ``ends``: see :func:`_credit`), unless it is in ``exempt`` (positions; an edge walked
    over a cut, see :func:`match_tracks_split`) and any of it is covered. Built with numpy and
    one DataFrame per output: pandas filtering and sorting cost more than the matching of a
    short track."""
    if not intervals or sum(len(iv[0]) for iv in intervals) == 0:
        empty_blocks = pd.DataFrame(
            {
                "edge_id": pd.Series(dtype=net.edge_ids.dtype),
                "start_fraction": [],
                "end_fraction": [],
            }
        )
        return pd.DataFrame(
            {
                "edge_id": pd.Series(dtype=net.edge_ids.dtype),
                "seq": pd.Series(dtype=np.int64),
                "covered_fraction": pd.Series(dtype=float),
                "covered_m": pd.Series(dtype=float),
                "first_time": pd.Series(dtype="datetime64[ns, UTC]"),
                "last_time": pd.Series(dtype="datetime64[ns, UTC]"),
            }
        ), empty_blocks
    e, lo, hi, t0, t1, order = (np.concatenate([iv[i] for iv in intervals]) for i in range(6))
    # interval union per edge in one pass
    b_edge, b_glo, b_len, big = _union(net, e, lo, hi)
    b_len_e = net.length[b_edge]
    b_lo = np.clip((b_glo - b_edge * big) / b_len_e, 0, 1)
    b_hi = np.clip((b_glo + b_len - b_edge * big) / b_len_e, 0, 1)
    uniq, inv = np.unique(b_edge, return_inverse=True)
    covered = np.bincount(inv, weights=b_len, minlength=len(uniq))
    # traversal order: time, then step within the piece
    rank = np.empty(len(e), dtype=np.int64)
    rank[np.lexsort((order, t0))] = np.arange(len(e))
    # per-edge min/max with numpy (a pandas groupby costs ~20 ms per track here)
    oe = np.argsort(e, kind="stable")
    es = e[oe]
    st = np.flatnonzero(np.concatenate([[True], es[1:] != es[:-1]]))
    assert np.array_equal(es[st], uniq)
    last_t = np.maximum.reduceat(t1[oe], st)
    first_rank, first_t = _first_walked(e, hi - lo, rank, min_credit_m, t0, t1)
    covered_m, fraction, keep = _credit(net, uniq, covered, min_credit_m, ends)
    if exempt is not None and len(exempt):
        keep |= np.isin(uniq, exempt) & (covered_m > 0)
    o = np.flatnonzero(keep)
    o = o[np.lexsort((first_rank[o], first_t[o]))]
    ids = net.edge_ids[uniq[o]]
    out = pd.DataFrame(
        {
            "edge_id": ids,
            "seq": np.arange(len(o), dtype=np.int64),
            "covered_fraction": fraction[o],
            "covered_m": covered_m[o],
            "first_time": pd.DatetimeIndex(first_t[o].view("datetime64[ns]"), tz="UTC"),
            "last_time": pd.DatetimeIndex(last_t[o].view("datetime64[ns]"), tz="UTC"),
        }
    )
    kept_blocks = np.isin(b_edge, uniq[keep])
    blocks = pd.DataFrame(
        {
            "edge_id": net.edge_ids[b_edge[kept_blocks]],
            "start_fraction": b_lo[kept_blocks],
            "end_fraction": b_hi[kept_blocks],
        }
    )
    return out, blocks


def _pace(xy: np.ndarray, t: np.ndarray, window_s: float, at_end: bool) -> np.ndarray | None:
    """The walker's displacement (metric, in walking order) over the ``window_s`` nearest the
    piece's end (``at_end``) or start, per second; None when the piece has under half that."""
    ts = t / 1e9
    if at_end:
        j = int(np.searchsorted(ts, ts[-1] - window_s, side="left"))
        a, b = j, len(ts) - 1
    else:
        j = int(np.searchsorted(ts, ts[0] + window_s, side="right")) - 1
        a, b = 0, j
    span = ts[b] - ts[a]
    if b <= a or span < window_s / 2:
        return None
    return (xy[b] - xy[a]) / span


def _bypass_m(
    net: WalkNetwork,
    avoid: int,
    sources: dict[int, float],
    targets: dict[int, float],
    limit: float,
) -> float:
    """The shortest walk (metres) from any of ``sources`` (node: metres already walked) to any
    of ``targets`` (node: metres still to walk) that does not use edge ``avoid``; inf beyond
    ``limit``. On the subgraph of nodes within ``limit`` (straight line) of them."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    ends = np.asarray([*sources, *targets], dtype=np.int64)
    lo = net.node_xy[ends].min(axis=0) - limit
    hi = net.node_xy[ends].max(axis=0) + limit
    inside = ((net.node_xy >= lo) & (net.node_xy <= hi)).all(axis=1)
    keep = inside[net.u] & inside[net.v] & (net.u != net.v)
    keep[avoid] = False
    e = np.flatnonzero(keep)
    two = e[~net.oneway[e]]
    src = np.concatenate([net.u[e], net.v[two]])
    dst = np.concatenate([net.v[e], net.u[two]])
    w = np.maximum(np.concatenate([net.length[e], net.length[two]]), 1e-6)
    # parallel edges: the shorter (csr_matrix would add their lengths)
    o = np.lexsort((w, dst, src))
    src, dst, w = src[o], dst[o], w[o]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    g = csr_matrix((w[first], (src[first], dst[first])), shape=(net.n_nodes, net.n_nodes))
    s_nodes = np.asarray(list(sources), dtype=np.int64)
    d = dijkstra(g, directed=True, indices=s_nodes, limit=limit)
    best = np.inf
    for r, (sn, sc) in enumerate(sources.items()):
        for tn, tc in targets.items():
            best = min(best, sc + float(d[r, tn]) + tc) if sn != tn else min(best, sc + tc)
    return best


def _bridge(
    net: WalkNetwork, a: _Piece, b: _Piece, noise: float, p: MatchParams
) -> list[tuple[np.ndarray, ...]] | None:
    """Covered intervals of the route between piece ``a``'s last matched step and piece
    ``b``'s first, when that stretch was certainly walked (``MatchParams.bridge_max_s``);
    else None.

    WHY: a dropout of a few minutes (a phone's GPS lost under trees or tall buildings) splits
    the track, and the alley walked on in the meantime was not credited: an outside tester's
    5-minute dropout on a straight 1,216 m alley left 400 m out (0.65, not patrolled) though
    the fixes either side lay on it, 400 m apart in 300 s. The matcher cannot know what
    happened in a gap, so it credits one only when nothing else fits: both sides walking
    towards each other on the network, the gap's route about the straight line and walked
    at the walker's own pace, and no way round any stretch of it (a side way out and another
    back) short enough to walk in the time at half as fast again. A side trip that comes
    back where it left (into a dead end and out) does not matter: the route is walked anyway.
    """
    k = p.k
    assert a.path is not None and b.path is not None and a.xy is not None and b.xy is not None
    assert p.bridge_max_s is not None
    if len(a.path) < 2 or len(b.path) < 2 or (a.path[-2:] >= k).any() or (b.path[:2] >= k).any():
        return None
    ta, tb = int(a.t[-1]), int(b.t[0])
    gap = (tb - ta) / 1e9
    if not 0 < gap <= p.bridge_max_s:
        return None
    ea, xa = int(a.ce[-1, a.path[-1]]), float(a.co[-1, a.path[-1]])
    eb, xb = int(b.ce[0, b.path[0]]), float(b.co[0, b.path[0]])
    ends = shapely.line_interpolate_point(net.geoms_m[[ea, eb]], [xa, xb])
    pa, pb = shapely.get_coordinates(ends)
    chord = pb - pa
    straight = float(np.hypot(*chord))
    va = _pace(a.xy, a.t, p.bridge_pace_window_s, True)
    vb = _pace(b.xy, b.t, p.bridge_pace_window_s, False)
    if va is None or vb is None or straight <= 0:
        return None
    sa, sb = float(np.hypot(*va)), float(np.hypot(*vb))
    if not (0.5 <= sa <= 2.5 and 0.5 <= sb <= 2.5):
        return None  # standing, or not walking
    # both sides move towards each other along the gap (within ~45°): walking on
    if min(va @ chord / (sa * straight), vb @ chord / (sb * straight)) < 0.7:
        return None
    ce = np.full((2, k), -1, dtype=np.int64)
    co = np.zeros((2, k))
    ce[0, 0], ce[1, 0], co[0, 0], co[1, 0] = ea, eb, xa, xb
    route_p = replace(
        p,
        max_route_ratio=p.bridge_route_ratio,
        detour_slack_m=p.bridge_slack_sigmas * noise,
        detour_slack_sigmas=0.0,
    )
    logt, combo, rows = _transitions(net, ce, co, np.asarray([straight]), noise, route_p)
    if not np.isfinite(logt[0, 0, 0]):
        return None  # no route close to the straight line
    t2 = np.asarray([ta, tb], dtype=np.int64)
    iv = _intervals(net, np.zeros(2, dtype=np.int64), ce, co, combo, t2, rows, k)
    iv = [x for x in iv if len(x[0])]
    route = float(sum((x[2] - x[1]).sum() for x in iv))
    pace = (sa + sb) / 2
    v_max = min(p.bridge_max_pace * pace, 2.5)
    if not p.bridge_min_pace * pace <= route / gap <= v_max:
        return None
    limit = v_max * gap
    la, lb = float(net.length[ea]), float(net.length[eb])
    var = int(combo[0, 0, 0])
    edges = np.unique(np.concatenate([x[0] for x in iv]))
    a_ends = {int(net.u[ea]): xa, int(net.v[ea]): la - xa}
    b_ends = {int(net.u[eb]): xb, int(net.v[eb]): lb - xb}
    for e in edges.tolist():
        if e == ea == eb:  # along one edge: round it from A's side to B's
            fwd = xb >= xa
            src = {int(net.u[ea]): xa} if fwd else {int(net.v[ea]): la - xa}
            dst = {int(net.v[eb]): lb - xb} if fwd else {int(net.u[eb]): xb}
        elif e == ea:  # leave A's edge by the end the route does not take
            other = int(net.u[ea]) if var // 2 == 1 else int(net.v[ea])
            src, dst = {other: a_ends[other]}, b_ends
        elif e == eb:  # enter B's edge by the end the route does not take
            other = int(net.u[eb]) if var % 2 == 1 else int(net.v[eb])
            src, dst = a_ends, {other: b_ends[other]}
        else:
            src, dst = a_ends, b_ends
        if _bypass_m(net, e, src, dst, limit) <= limit:
            return None  # the walker could have gone round this stretch
    return iv

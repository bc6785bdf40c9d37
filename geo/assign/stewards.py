"""Alley stewards (小巷管家): every alley a resident steward, fair loads, short walks.

Pure: alleys and people in, assignment out. See :mod:`geo.assign.balanced` for the solver.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.assign.balanced import BalanceProblem, solve_balanced
from geo.assign.inputs import check_lines, check_people, count_room, held_column
from geo.assign.reach import compute_reach, nearest_candidates, pair_frame, reach_notes
from geo.errors import InputError


@dataclass
class StewardParams:
    """Local policy for alley stewards; every default is a starting point, not a rule.

    - ``stewards_per_alley`` (1): how many stewards each alley needs.
    - ``capacity_slack`` (1.4): a steward may carry up to slack × the target load. The target is
      the fair share (total alley length × stewards_per_alley / the people with room) or, when
      larger, the longest alley that is not an outlier / slack, so a steward holding one long
      alley is not far above the others (the spread is max/median); people beyond those needed
      then stay in reserve.
    - ``long_alley_factor`` (2.5): an alley longer than this × the fair share is an outlier: one
      steward's whole load (an idle steward's first alley may exceed the capacity), which does
      not raise everyone's target. 1: the target is the fair share.
    - ``max_length_per_person_m`` (3000): absolute ceiling on a steward's alley length; the soft
      capacity above is exceeded (up to this) only to cover an alley nobody else can take, when
      ``overflow_to_cover`` (True: coverage before fairness).
    - ``max_alleys_per_person`` (5): ceiling on a steward's number of alleys; a person's own
      ``capacity`` column, when given, lowers it for that person.
    - ``max_walk_m`` (2000): longest home → alley walk along the network; farther alleys stay
      uncovered rather than burden someone.
    - ``max_home_offset_m`` (500): a home farther than this from any walkable line is outside
      the area.
    - ``max_data_gap_m`` (100): a piece of network where nobody lives (paths on an island whose
      bridge ends short of the shore in the data) is joined to its nearest piece across a gap
      up to this, priced at twice the gap (:func:`geo.assign.walk.join_unreached`); 0: never.
      The summary's ``across_gaps`` lists alleys staffed that way, ``unreachable`` the ones
      nobody can walk to.
    - ``balance_weight`` (1.0): walking metres traded against fairness; the load cost is
      ``balance_weight × fair × (load / fair − 1)²``.
    - ``compact_weight`` (0.3): weight of the spread of a steward's alleys around their mean.
    - ``uncovered_cost_m`` (100000): walk-equivalent penalty per alley slot left empty; large, so
      coverage comes first.
    - ``candidates_per_alley`` (12), ``candidates_per_person`` (6): nearest pairs kept for solving.
    - ``flow_unit_m`` (None → fair share / 40, at least 1 m): length unit of the flow relaxation.
    - ``time_limit_s`` (3): budget of the local improvement pass.
    - ``idle_spread`` (1.5): after solving, a steward holding ``idle_min_items`` (3) alleys or
      more hands alleys, one at a time, to idle people with room who live near them (a walk no
      longer than the steward's, or at most ``idle_near_m``, 300), while the load spread
      (max/median; lone holders of a long alley, and a steward put above capacity to cover,
      not counted in the max) stays within this. None: no hand-on. WHY: the target fits the
      longest usual alley, so the solver packs short alleys onto few stewards (outside tester,
      F11: 5 alleys for one steward, their neighbour idle); the spread bound is what keeps the
      others' loads comparable to that alley's (raise it to use more people still).
    - ``fill_idle`` (False): a planner's option (``--fill-idle``, the API's ``fill_idle``),
      instead of the hand-on above: (1) nobody with room stays idle while a steward holding 2
      alleys or more has one they could take over within the take-over walk: no farther than
      that steward walks to it, or at most ``take_over_near_m`` (500); an idle person takes one
      such alley (or a lone steward's alley within that walk, that steward then taking one over
      from a steward of 2+ by the same rule), the cheapest in walk and load first, so from the
      most loaded; (2) with ``idle_spread``, a steward of 2 alleys or more whose load is above
      ``idle_spread`` × the median is lightened by chains: they hand an alley to a neighbour,
      who may hand one of theirs on (up to 3 hand-ons), or swap, as long as everyone touched
      ends below the steward's load before (a neighbour may then exceed the soft capacity,
      never the hard one); first by the same walk, then, for whom that levels nothing, by any
      walk within ``max_walk_m`` (:mod:`geo.assign.level`; ``handed_to_idle``: people who took
      one over, ``levelled``: alleys that changed hands levelling, in the summary). WHY the
      chains and the wider walk: the fair-share target's capacity (378 m on bench/assign.py's
      district) is below most ~300 m sections' pairs, so only idle people "had room", and the
      take-over had taken the near ones: 0 levelled, 14 stewards of 2+ above what their
      neighbourhood forces (840 m where 570 m is possible); now 69 alleys levelled, none
      above, mean walk 155.7 → 158.2 m. WHY the option: the solver's load cost leaves idle
      people free, so it
      packs alleys onto few stewards, and the hand-on (from stewards of 3+, while max/median
      stays within 1.5) hands little: a newcomer's one short alley lowers the median; 19 of 100
      stewards idle, 69 at the 5-alley cap (outside tester T64, F7). WHY not the default: more
      volunteers, each nearer the median, but longer walks and a higher max/median over
      everyone holding an alley (bench/assign.py: issue 5's targets are met without it).
    - ``take_over_near_m`` (500): the take-over walk's reach with ``fill_idle``.
    - ``fill_idle_long_alley_factor`` (1.4, the capacity slack): ``long_alley_factor`` with
      ``fill_idle``: the target is the fair share, never raised to fit a longer alley (an alley
      longer than the capacity is one steward's whole load). WHY: with the raised target the
      solver packs stewards up to the 5-alley cap, and the levelling finds nobody with room:
      max/median among stewards of 2+ stayed 2.01 on T64's 清华园 (1.38 with the fair share),
      2.08 on bench/assign.py's Haidian sections (1.37), for a walk 1.68 × the Hungarian's
      there against 1.71 ×.
    """

    stewards_per_alley: int = 1
    capacity_slack: float = 1.4
    long_alley_factor: float = 2.5
    max_length_per_person_m: float = 3000.0
    max_alleys_per_person: int = 5
    max_walk_m: float = 2000.0
    max_home_offset_m: float = 500.0
    max_data_gap_m: float = 100.0
    balance_weight: float = 1.0
    compact_weight: float = 0.3
    uncovered_cost_m: float = 100_000.0
    candidates_per_alley: int = 12
    candidates_per_person: int = 6
    flow_unit_m: float | None = None
    time_limit_s: float = 3.0
    overflow_to_cover: bool = True
    idle_spread: float | None = 1.5
    idle_min_items: int = 3
    idle_near_m: float = 300.0
    fill_idle: bool = False
    take_over_near_m: float = 500.0
    fill_idle_long_alley_factor: float = 1.4

    def long_factor(self) -> float:
        """The long-alley factor in force: ``fill_idle_long_alley_factor`` with ``fill_idle``,
        else ``long_alley_factor``."""
        return self.fill_idle_long_alley_factor if self.fill_idle else self.long_alley_factor

    def validate(self) -> None:
        if self.stewards_per_alley < 1:
            raise InputError(
                "每条巷的小巷管家人数至少为 1，请调大 stewards per alley must be at least 1"
            )
        for name in (
            "capacity_slack",
            "max_length_per_person_m",
            "max_walk_m",
            "max_home_offset_m",
        ):
            if not getattr(self, name) > 0:
                raise InputError(
                    f"参数 {name} 须大于 0，请调大 {name.replace('_', ' ')} must be positive"
                )
        if self.capacity_slack < 1:
            raise InputError("容量余量 capacity_slack 至少为 1 capacity slack must be at least 1")
        for name in ("long_alley_factor", "fill_idle_long_alley_factor"):
            if not getattr(self, name) >= 1:
                raise InputError(
                    f"长巷系数 {name} 至少为 1 {name.replace('_', ' ')} must be at least 1"
                )
        if self.max_alleys_per_person < 1:
            raise InputError(
                "每人最多负责的巷数（--max-alleys-per-person）至少为 1 "
                "max alleys per person must be at least 1"
            )
        if not self.take_over_near_m >= 0:
            raise InputError(
                "接手步行距离 take_over_near_m 不能为负 take-over walk must not be negative"
            )
        if self.idle_spread is not None and not self.idle_spread >= 1:
            raise InputError(
                "空闲分布系数 idle_spread 至少为 1（或不设） "
                "idle spread must be at least 1 (or None)"
            )


@dataclass
class StewardAssignment:
    """The result: pairs, alleys left without enough stewards, and figures for the report."""

    assignments: pd.DataFrame  # alley_id, person_id, walk_m
    uncovered: list  # alley ids with fewer stewards than asked
    summary: dict = field(default_factory=dict)


def _kept_pairs(
    existing: pd.DataFrame | None,
    alley_ix: dict,
    person_ix: dict,
    k: int,
) -> list[tuple[int, int]]:
    """Existing pairs whose alley and person still exist, at most ``k`` per alley."""
    if existing is None or len(existing) == 0:
        return []
    miss = [c for c in ("alley_id", "person_id") if c not in existing.columns]
    if miss:
        shown = ", ".join(miss)
        raise InputError(
            f"现有职责表缺少列（{shown}），须有 alley_id 和 person_id 两列 "
            f"existing assignments lack column(s): {shown}"
        )
    kept: list[tuple[int, int]] = []
    per_alley: dict[int, int] = {}
    seen = set()
    for a, p in zip(existing["alley_id"], existing["person_id"], strict=True):
        i, j = alley_ix.get(a), person_ix.get(p)
        if i is None or j is None or (i, j) in seen or per_alley.get(i, 0) >= k:
            continue
        seen.add((i, j))
        per_alley[i] = per_alley.get(i, 0) + 1
        kept.append((i, j))
    return kept


def balance_target(length: np.ndarray, fair: float, params: StewardParams) -> float:
    """The target load per steward: the fair share, raised so that the longest alley that is
    not an outlier fits the capacity. WHY not the longest alley: one 1216 m alley in the demo
    city (fair share 259 m) raised everyone's target to 869 m, giving 21 stewards 3-5 alleys
    each while 39 of 60 volunteers stayed idle (outside tester); sections of about 300 m, as
    districts cut their ways (geo.assign.sections), have no outliers and keep the old rule.
    With ``fill_idle`` (:meth:`StewardParams.long_factor`, 1.4 = the capacity slack) never
    raised: the fair share."""
    usual = length[length <= params.long_factor() * fair]
    longest = float(usual.max()) if len(usual) else 0.0
    return max(fair, longest / params.capacity_slack)


def assign_stewards(
    alleys: gpd.GeoDataFrame,
    people: pd.DataFrame,
    params: StewardParams | None = None,
    network: gpd.GeoDataFrame | None = None,
    existing: pd.DataFrame | None = None,
    rebalance: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> StewardAssignment:
    """Assign alley stewards: coverage first, then short network walks, fair and compact loads.

    ``alleys``: (Multi)LineStrings with a unique ``alley_id`` (EPSG:4326). ``people``:
    ``person_id``, ``lon``, ``lat`` (+ optional ``capacity`` = max alleys; ``held_count`` and
    ``held_m``, alleys and metres held outside these alleys, lower that person's count and length
    caps, and one long alley alone may no longer exceed them). ``network``: walkable
    segments; None → the alleys alone. ``existing`` (alley_id, person_id): kept for people still
    present unless ``rebalance``; only alleys whose steward left (or new alleys) are assigned.
    ``progress(fraction, step)`` is told how far the work is (for a CLI bar).
    """
    t0 = time.perf_counter()
    tell = progress or (lambda _f, _m: None)
    params = params or StewardParams()
    params.validate()
    alleys = check_lines(alleys, "alley_id", "alleys")
    people = check_people(people)
    k = int(params.stewards_per_alley)
    tell(0.05, "计算步行距离 walking distances")
    reach = compute_reach(
        alleys,
        people,
        network,
        params.max_walk_m,
        params.max_home_offset_m,
        "alleys",
        max_gap_m=params.max_data_gap_m,
    )
    tell(0.4, "优化分配 optimising")
    n_a, n_p = len(alleys), len(people)
    length = reach.item_length_m
    held_n, held_m = held_column(people, "held_count"), held_column(people, "held_m")
    count_cap = count_room(people, params.max_alleys_per_person)
    busy = (held_n > 0) | (held_m > 0)
    no_room = (count_cap == 0) | (held_m >= params.max_length_per_person_m)
    full = busy & no_room
    # WHY only people with room: one whose alleys elsewhere already reach a cap can take none
    # here; counting them would shrink the fair share and the soft capacity of everyone else,
    # pushing alleys into overflow or leaving them uncovered while those people stay idle.
    fair = k * float(length.sum()) / max(n_p - int(no_room.sum()), 1)

    alley_ids = alleys["alley_id"].tolist()
    person_ids = people["person_id"].tolist()
    kept = []
    if not rebalance:
        kept = _kept_pairs(
            existing,
            {a: i for i, a in enumerate(alley_ids)},
            {p: j for j, p in enumerate(person_ids)},
            k,
        )
    need = np.full(n_a, k, dtype=np.int64)
    for i, _ in kept:
        need[i] -= 1

    ci, cp, cd = nearest_candidates(
        reach, n_a, n_p, params.candidates_per_alley, params.candidates_per_person
    )
    # Kept pairs must be priced even when not among the nearest.
    if kept:
        ki = np.array([i for i, _ in kept])
        kp = np.array([p for _, p in kept])
        kd = reach.lookup(ki, kp)
        kd = np.where(np.isfinite(kd), kd, params.max_walk_m)
        ci, cp, cd = np.concatenate([ci, ki]), np.concatenate([cp, kp]), np.concatenate([cd, kd])
        key = ci.astype(np.int64) * n_p + cp
        _, first = np.unique(key, return_index=True)
        ci, cp, cd = ci[first], cp[first], cd[first]

    def problem(prm: StewardParams, tell_to: Callable[[float, str], None]) -> BalanceProblem:
        """The balance problem under ``prm`` (the target and walks their option's)."""
        target = min(balance_target(length, fair, prm), prm.max_length_per_person_m)
        cap_len = min(prm.capacity_slack * target, prm.max_length_per_person_m)
        unit = prm.flow_unit_m or max(1.0, target / 40.0)
        return BalanceProblem(
            size=length,
            need=need,
            cand_item=ci,
            cand_person=cp,
            cand_cost=cd,
            n_people=n_p,
            target=target,
            cap_size=np.maximum(cap_len - held_m, 0.0),
            hard_cap_size=np.maximum(prm.max_length_per_person_m - held_m, 0.0)
            if prm.overflow_to_cover
            else None,
            cap_count=count_cap,
            strict=busy,
            balance_weight=prm.balance_weight,
            uncovered_cost=prm.uncovered_cost_m,
            compact_weight=prm.compact_weight,
            item_xy=reach.item_xy,
            unit=unit,
            fixed=kept,
            time_limit_s=prm.time_limit_s,
            expand=reach.pairs_for,
            idle_spread=prm.idle_spread,
            # the take-over (fill_idle) takes from stewards of 2+, within its own walk
            idle_min_items=2 if prm.fill_idle else prm.idle_min_items,
            idle_near=prm.take_over_near_m if prm.fill_idle else prm.idle_near_m,
            idle_take=prm.fill_idle,
            solo_size=prm.long_factor() * fair,
            progress=tell_to,
        )

    # WHY the default solved too with the option (outside tester T66, N2): the take-over
    # counts only the people it brings in; the fair-share target and the levelling bring in
    # more (10 took over, 18 new stewards on the demo's 110108015), so the people new to the
    # alleys, those a planner must brief, are counted against the default's own solve
    default: list[tuple[int, int]] = []
    if params.fill_idle:
        plain = replace(params, fill_idle=False)
        default = solve_balanced(problem(plain, lambda f, step: tell(0.4 + 0.27 * f, step))).pairs
        pb = problem(params, lambda f, step: tell(0.67 + 0.28 * f, step))
    else:
        pb = problem(params, lambda f, step: tell(0.4 + 0.55 * f, step))
    target = pb.target
    cap_len = min(params.capacity_slack * target, params.max_length_per_person_m)
    res = solve_balanced(pb)
    tell(1.0, "完成 done")
    out, pi, _ = pair_frame(reach, res.pairs, alley_ids, person_ids, "alley_id")
    held = np.bincount(pi, minlength=n_a)
    uncovered = [alley_ids[i] for i in np.flatnonzero(held < k)]
    summary = steward_summary(out, length, alley_ids, n_p, k)
    summary.update(
        objective=round(res.objective, 1),
        fair_share_m=round(fair, 1),
        target_m=round(target, 1),
        # alleys each one steward's whole load, above the others (they set load_max_m)
        long_alleys=int((length > params.long_factor() * fair).sum()),
        capacity_m=round(cap_len, 1),
        kept=len(kept),
        new=len(res.pairs) - len(kept),
        flow=res.flow_status,
        improve_passes=res.improve_passes,
        handed_to_idle=res.handed_to_idle,
        runtime_s=round(time.perf_counter() - t0, 3),
        solver="ortools min-cost flow + local search",
    )
    if params.fill_idle:  # the option's figures; without it the summary stays as it was
        summary.update(fill_idle=True, levelled=res.levelled)
        summary.update(_against_default(res.pairs, default))
    if busy.any():
        summary.update(held_elsewhere=int(busy.sum()), full_elsewhere=int(full.sum()))
    summary.update(spread_causes(res.pairs, length, pb.cap_size, pb.solo_size, params))
    summary.update(reach_notes(reach, held, alley_ids, person_ids))
    return StewardAssignment(assignments=out, uncovered=uncovered, summary=summary)


def _against_default(
    pairs: list[tuple[int, int]], default: list[tuple[int, int]]
) -> dict[str, int]:
    """The option's stewards against the default's, solved on the same alleys and people:
    ``stewards_without_fill_idle`` (how many the default uses), ``new_stewards`` (people who
    hold an alley with the option and none without it: the people a planner must brief) and
    ``no_longer_stewards`` (the other way round). WHY: ``handed_to_idle`` counts only the
    take-over's people; the fair-share target and the levelling bring others in (outside
    tester T66, N2: 10 taken over, 18 new stewards, 35 → 53)."""
    on, off = {p for _, p in pairs}, {p for _, p in default}
    return {
        "stewards_without_fill_idle": len(off),
        "new_stewards": len(on - off),
        "no_longer_stewards": len(off - on),
    }


def spread_causes(
    pairs: list[tuple[int, int]],
    length: np.ndarray,
    cap_size: np.ndarray,
    solo_size: float,
    params: StewardParams,
) -> dict:
    """Why the load spread (max / median) may stand above ``idle_spread``, for the summary:
    ``spread_bound`` (``idle_spread``, the bound the hand-on to idle people keeps; None: no
    hand-on), ``long_alley_m`` (an alley longer than this is a long alley), ``long_alone``
    (stewards whose whole load is one long alley), ``over_capacity`` (other stewards above
    their capacity, put there to cover an alley nobody else could take, or keeping duties
    held before) and ``load_spread_rest``: the spread with those two left out of the max, as
    :func:`geo.assign.balanced._hand_to_idle` counts it. With ``fill_idle`` (the bound is then
    the levelling's), also ``rest_top_alleys``: how many alleys the busiest of the rest holds
    (1: that alley is their whole load, nobody can lighten it) and ``take_over_m``: the walk
    within which idle people take alleys over and loads are levelled first, and
    ``level_reach_m`` (``max_walk_m``) the one within which they are levelled then
    (:mod:`geo.assign.level`). WHY: the CLI showed a
    spread of 5.5 next to a documented bound of 1.5 with nothing to say why (outside tester
    T38, L10)."""
    per: dict[int, list[float]] = {}
    for i, p in pairs:
        per.setdefault(int(p), []).append(float(length[i]))
    loads = np.array([sum(v) for v in per.values()])
    count = np.array([len(v) for v in per.values()])
    alone = np.array([len(v) == 1 and sum(v) > solo_size for v in per.values()], dtype=bool)
    over = np.array([sum(v) > cap_size[p] + 1e-9 for p, v in per.items()], dtype=bool) & ~alone
    med = float(np.median(loads)) if len(loads) else 0.0
    rest = loads[~alone & ~over]
    out = {
        "spread_bound": params.idle_spread,
        "long_alley_m": round(float(solo_size), 1),
        "long_alone": int(alone.sum()),
        "over_capacity": int(over.sum()),
        "load_spread_rest": round(float(rest.max()) / med, 3) if len(rest) and med > 0 else None,
    }
    if params.fill_idle:
        top = int(count[~alone & ~over][np.argmax(rest)]) if len(rest) else None
        out.update(
            rest_top_alleys=top,
            take_over_m=params.take_over_near_m,
            level_reach_m=params.max_walk_m,
        )
    return out


def steward_summary(
    assignments: pd.DataFrame,
    length_m: np.ndarray,
    alley_ids: list,
    n_people: int,
    stewards_per_alley: int = 1,
) -> dict:
    """Coverage, load spread (max/median alley metres per steward) and mean walk of any assignment.

    Shared by the solver and the benchmark baselines so all are measured the same way.
    """
    ix = {a: i for i, a in enumerate(alley_ids)}
    ai = assignments["alley_id"].map(ix).to_numpy()
    held = (
        np.bincount(ai.astype(np.int64), minlength=len(alley_ids))
        if len(ai)
        else np.zeros(len(alley_ids), dtype=np.int64)
    )
    loads = (
        pd.Series(length_m[ai.astype(np.int64)]).groupby(assignments["person_id"].to_numpy()).sum()
        if len(ai)
        else pd.Series(dtype=float)
    )
    med = float(loads.median()) if len(loads) else 0.0
    walk = assignments["walk_m"].to_numpy(float) if "walk_m" in assignments else np.zeros(0)
    walk = walk[np.isfinite(walk)]
    return {
        "alleys": len(alley_ids),
        "people": n_people,
        "stewards": int(len(loads)),
        "covered": int((held >= 1).sum()),
        "coverage": round(float((held >= 1).mean()), 4) if len(held) else 0.0,
        "fully_staffed": round(float((held >= stewards_per_alley).mean()), 4) if len(held) else 0.0,
        "load_max_m": round(float(loads.max()), 1) if len(loads) else 0.0,
        "load_median_m": round(med, 1),
        "load_spread": round(float(loads.max()) / med, 3) if med > 0 else float("nan"),
        "mean_walk_m": round(float(walk.mean()), 1) if len(walk) else float("nan"),
    }

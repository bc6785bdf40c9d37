"""Levelling the loads after the take-over (a planner's ``fill_idle``): chains of hand-ons.

A holder of two items or more above ``idle_spread`` × the median load (over holders) is
lightened by a *chain*: they hand an item to a neighbour, who may hand one of theirs on, up to
three hand-ons, or back to them (a swap). A chain is taken when everyone it touches ends below
the giver's load before it, so the loads fall in lexicographic order and the pass ends; of the
chains found, the one whose heaviest load after it is least (loads under the bound all count
as the bound), then the least extra walk. First within the take-over walk (no farther than
the item's holder walked when levelling began, or ``idle_near``), then, for whom that levels
nothing, anyone who can walk to the item (the solver's own reach).

WHY (bench/assign.py, district, --fill-idle: 14 stewards of 2+ above what their neighbourhood
forces, P03585 840 m where 570 m is possible, 0 alleys levelled): the fair-share target gives
a soft capacity of 378 m while sections run to 600 m, so the overflow fill puts a second
section on someone, and the old levelling moved one item at a time, to people with room
under that capacity and within the take-over walk: the idle ones were taken by the take-over,
everyone else held a ~300 m section, so nobody fitted. A steward's neighbour holding one
section can carry a second when that leaves them below the giver, and a swap or a hand-on
through a neighbour reaches the people the giver's own alleys are too far for.

Works on the solver's :class:`geo.assign.balanced._State` (imported for typing only: the
solver imports this module).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from geo.assign.balanced import _State

_EPS = 1e-9
CHAIN_DEPTH = 3  # hand-ons per chain: the giver's, then up to two onward
MAX_POPS = 20_000  # search states per chain search: bounds a dense neighbourhood's cost

Move = tuple[int, int, int]  # (item, from, to)
MayWalk = Callable[[int, int], bool]


def level(st: _State, bound: float) -> int:
    """Lighten the holders of 2+ items above ``bound`` × the median load, by chains within
    the take-over walk, then within reach. Returns how many items changed hands."""
    pb = st.pb
    walk0 = {j: max(st.cost[j].get(p, 0.0) for p in hs) for j, hs in enumerate(st.holders) if hs}

    def near(j: int, q: int) -> bool:
        return st.cost[j][q] <= max(walk0.get(j, 0.0), pb.idle_near) + _EPS

    moved = _level_pass(st, bound, near)
    if pb.expand is not None:  # every person within reach of an item held in this run
        mine = np.flatnonzero([bool(h) for h in st.holders])
        if len(mine):
            st.add_candidates(*pb.expand(mine))
    return moved + _level_pass(st, bound, lambda _j, _q: True)


def _top(st: _State, bound: float) -> float:
    """``bound`` × the median load over holders (inf when nobody holds anything)."""
    loads = [st.load[r] for r, its in enumerate(st.items) if its]
    return bound * float(np.median(loads)) if loads else float("inf")


def _level_pass(st: _State, bound: float, may: MayWalk) -> int:
    """Sweeps over the holders of 2+ above the bound, heaviest first, each lightened by
    chains until none helps; again while a sweep changed something (a chain may free a
    neighbour for another). Returns how many items changed hands."""
    moved = 0
    for _ in range(len(st.size) + 1):  # each sweep that moves lowers the loads: bounded
        top = _top(st, bound)
        over = [r for r, its in enumerate(st.items) if len(its) >= 2 and st.load[r] > top + _EPS]
        swept = 0
        for p in sorted(over, key=lambda r: (-st.load[r], r)):
            while len(st.items[p]) >= 2 and st.load[p] > (top := _top(st, bound)) + _EPS:
                chain = best_chain(st, p, top, may)
                if chain is None:
                    break
                for j, frm, to in chain:
                    st.unassign(j, frm)
                    st.assign(j, to)
                swept += len(chain)
        moved += swept
        if not swept:
            break
    return moved


def _takes(st: _State, j: int, q: int) -> bool:
    """Can ``q`` be handed item ``j`` at all: holds no duty outside this problem (their loads
    here are not all they carry), does not hold ``j`` already, may hold items."""
    return not st.strict[q] and not st.holds(j, q) and st.cap_count[q] > 0


def _cap(st: _State, q: int) -> float:
    """The load a chain may leave ``q`` with: the hard cap when the solver may exceed the
    soft one to cover (it is exceeded here only below the giver's load), else the soft one."""
    hard = st.pb.hard_cap_size
    return float(hard[q]) if hard is not None else st.cap_size[q]


def _keeps(st: _State, j: int, q: int) -> float | None:
    """``q``'s load after keeping ``j`` (a chain's last hand-on), or None when their count
    or length cap forbids it. An idle person's first item may be any size."""
    if len(st.items[q]) >= st.cap_count[q]:
        return None
    after = st.load[q] + st.size[j]
    return after if not st.items[q] or after <= _cap(st, q) + _EPS else None


def best_chain(st: _State, p: int, top: float, may: MayWalk) -> list[Move] | None:
    """The best chain lightening ``p``: moves ``(item, from, to)``, or None. A best-first
    search over (person, item handed to them), keyed by the heaviest load so far (never
    under ``top``: below the bound every load is as good) then the extra walk; a chain ends
    with someone keeping the item, or ``p`` taking one back (a swap, a rotation). Every
    load it touches must end below ``p``'s before it."""
    lp = st.load[p]
    seq = itertools.count()
    heap: list = []
    for j in st.items[p]:
        if p not in st.holders[j]:  # a duty held before this run stays
            continue
        for q in st.cands[j]:
            if q != p and _takes(st, j, q) and may(j, q):
                walk = st.cost[j][q] - st.cost[j][p]
                heap.append((max(lp - st.size[j], top), walk, next(seq), q, j, ((j, p, q),)))
    heapq.heapify(heap)
    best: tuple[float, float, tuple[Move, ...]] | None = None
    seen: set[tuple[int, int]] = set()
    pops = 0
    while heap and pops < MAX_POPS:
        peak, walk, _, q, j, path = heapq.heappop(heap)
        if best is not None and (peak, walk) >= best[:2]:
            break
        if (q, j) in seen:
            continue
        seen.add((q, j))
        pops += 1
        end = lp - st.size[path[0][0]] + st.size[j] if q == p else _keeps(st, j, q)
        if end is not None:
            done = max(peak, end, top)
            if done < lp - _EPS and (best is None or (done, walk) < best[:2]):
                best = (done, walk, path)
        if q == p or len(path) >= CHAIN_DEPTH:
            continue
        on = {x for _, frm, to in path for x in (frm, to)} - {p}
        for j2 in st.items[q]:
            if j2 == j or q not in st.holders[j2]:
                continue
            after = st.load[q] + st.size[j] - st.size[j2]
            part = max(peak, after)
            if part >= lp - _EPS or (best is not None and part > best[0]):
                continue
            if after > max(st.load[q], _cap(st, q)) + _EPS:
                continue
            for r in st.cands[j2]:
                if r == q or r in on or not _takes(st, j2, r) or not may(j2, r):
                    continue
                more = walk + st.cost[j2][r] - st.cost[j2][q]
                heapq.heappush(heap, (part, more, next(seq), r, j2, (*path, (j2, q, r))))
    return list(best[2]) if best is not None else None

"""Reference assignments the optimiser is measured against (benchmarks and tests).

- :func:`greedy_nearest`: what a clerk would do — each alley, nearest first, to the nearest
  person who still has room. Fast, short walks early, but unfair and leaves gaps.
- :func:`hungarian` : the minimum-total-distance one-to-one matching (scipy
  ``linear_sum_assignment``); ignores fairness and covers at most one alley per person, so its
  mean walk is a lower bound on what a fair full assignment can reach.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from geo.assign.reach import Reach


def greedy_nearest(reach: Reach, cap_m: float, max_items: int = 5) -> list[tuple[int, int]]:
    """Walk all (item, person) pairs by increasing distance; take a pair when the item is still
    free and the person has room (``cap_m`` metres, ``max_items`` items; one item alone may
    exceed ``cap_m``)."""
    length = reach.item_length_m
    n_people = len(reach.home_xy)
    load = np.zeros(n_people)
    count = np.zeros(n_people, dtype=np.int64)
    taken = np.zeros(len(length), dtype=bool)
    pairs: list[tuple[int, int]] = []
    for k in np.argsort(reach.metres, kind="stable"):
        i, p = int(reach.item[k]), int(reach.person[k])
        if taken[i] or count[p] >= max_items:
            continue
        if count[p] > 0 and load[p] + length[i] > cap_m:
            continue
        taken[i] = True
        load[p] += length[i]
        count[p] += 1
        pairs.append((i, p))
    return pairs


def hungarian(reach: Reach) -> tuple[list[tuple[int, int]], float]:
    """Minimum-distance one-to-one matching over reachable pairs; returns pairs and mean metres."""
    n_items, n_people = len(reach.item_length_m), len(reach.home_xy)
    big = 1e7  # unreachable: never preferred to a reachable pair
    cost = np.full((n_people, n_items), big, dtype=np.float64)
    cost[reach.person, reach.item] = reach.metres
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < big
    pairs = [(int(c), int(r)) for r, c in zip(rows[ok], cols[ok], strict=True)]
    mean = float(cost[rows[ok], cols[ok]].mean()) if ok.any() else float("nan")
    return pairs, mean

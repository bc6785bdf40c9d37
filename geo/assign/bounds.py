"""The least heaviest load an assignment can give: a min-max integer program over who may
take which alley. Kept apart from the solver: it proves what no assignment can beat, so a
steward carrying that much is put there by the data (4 sections within reach of 3 people
only: one of them carries two), not by the solver (bench/assign.py's fair spread, the
fill-idle levelling test)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, milp


def min_max_milp(
    item: np.ndarray,
    person: np.ndarray,
    length: np.ndarray,
    n_people: int,
    max_items: int,
    time_limit: float | None = None,
) -> OptimizeResult:
    """Give every item to one person who may take it (the pairs ``item[k]``-``person[k]``),
    at most ``max_items`` each, minimising the heaviest load (``length`` per item):
    scipy.optimize.milp (HiGHS). The answer's ``fun`` is that load when ``status`` is 0;
    ``mip_dual_bound`` a lower bound even when stopped by ``time_limit``."""
    n, cols = len(item), np.arange(len(item))
    each = sparse.csr_array((np.ones(n), (item, cols)), shape=(len(length), n + 1))
    heavy = sparse.hstack([
        sparse.csr_array((length[item], (person, cols)), shape=(n_people, n)),
        sparse.csr_array(-np.ones((n_people, 1))),
    ])  # fmt: skip
    count = sparse.csr_array((np.ones(n), (person, cols)), shape=(n_people, n + 1))
    return milp(
        c=np.r_[np.zeros(n), 1.0],
        constraints=[
            LinearConstraint(each, 1, 1),
            LinearConstraint(heavy, -np.inf, 0),
            LinearConstraint(count, 0, max_items),
        ],
        integrality=np.r_[np.ones(n), 0],
        bounds=Bounds(np.zeros(n + 1), np.r_[np.ones(n), np.inf]),
        options={} if time_limit is None else {"time_limit": time_limit},
    )

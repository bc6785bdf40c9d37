"""Dead ends walked in and out: a walked stretch that turns back within the noise of a dead
end's closed end is taken to have reached it.

WHY: a steward patrols a dead-end alley by walking to its end and back. At the turn the GPS
fixes lie wherever the drifting noise puts them: with 10–15 m phone noise on a 29 m alley the
farthest fix fell 5–15 m short of the end in half of an outside tester's walks, so the alley's
covered share stayed under the patrolled threshold (and under the minimum credit, so it got
nothing) although the walker reached its end. Short of the noise, no fix can tell a walker who
turned a few metres early from one who touched the end wall; the walk's direction can (it went
in as far as the noise lets one see and came back, and there is nowhere else to go), so the
benefit of that doubt goes to the walker. A stretch must first reach one noise radius into the
dead end: a fix at the junction projecting a few metres onto a short stub extends nothing.

Pure numpy over the matcher's covered intervals; the network's dead ends come as flags.
"""

from __future__ import annotations

import numpy as np


def dead_end_nodes(u: np.ndarray, v: np.ndarray, n_nodes: int) -> np.ndarray:
    """Per node: True where exactly one edge end meets it (a loop's two ends count twice)."""
    return np.bincount(np.concatenate([u, v]), minlength=n_nodes) == 1


def reach_dead_ends(
    e: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    length: np.ndarray,
    u_dead: np.ndarray,
    v_dead: np.ndarray,
    reach_m: float,
    depth_m: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals [lo, hi] (metres along edges ``e`` from their u end) extended to a dead end
    (``u_dead``/``v_dead`` per edge) that they come within ``reach_m`` of, when they also run
    at least ``depth_m`` (default: reach_m) in from the edge's other end."""
    le = length[e]
    depth = reach_m if depth_m is None else depth_m
    at_u = u_dead[e] & (lo > 0) & (lo <= reach_m) & (le - lo >= depth)
    at_v = v_dead[e] & (hi < le) & (le - hi <= reach_m) & (hi >= depth)
    return np.where(at_u, 0.0, lo), np.where(at_v, le, hi)

"""The courtyard-crossing rule on its own: which matched steps are taken off the network."""

from __future__ import annotations

import numpy as np

from geo.tracks.crossings import crossing_steps


def _along(n: int, step: float = 5.0) -> np.ndarray:
    """Matched positions of n steps walking east along y = 0."""
    return np.column_stack([np.arange(n) * step, np.zeros(n)])


def test_a_hump_to_one_side_is_a_crossing():
    on = _along(20)
    offset = np.concatenate([np.zeros(5), [10, 20, 30, 40, 30, 20, 10], np.zeros(8)])
    fix = on + np.column_stack([np.zeros(20), offset])  # north: the walker's left
    got = crossing_steps(fix, on, np.ones(19, bool), noise_m=8.0)
    # steps more than 1.5 × 8 m off, all on the left, reaching 3 × 8 m
    assert np.flatnonzero(got).tolist() == [6, 7, 8, 9, 10]


def test_noise_to_both_sides_is_not():
    on = _along(20)
    offset = np.array([30.0, -30.0] * 10)  # as far, but alternating sides
    fix = on + np.column_stack([np.zeros(20), offset])
    assert not crossing_steps(fix, on, np.ones(19, bool), noise_m=8.0).any()


def test_a_steady_offset_below_the_side_threshold_is_not():
    on = _along(40)
    fix = on + [0.0, 11.0]  # a sidewalk 11 m beside its road, noise 8 m: under 1.5 σ
    assert not crossing_steps(fix, on, np.ones(39, bool), noise_m=8.0).any()


def test_too_short_or_not_far_enough_is_not():
    on = _along(10)
    two = on + np.column_stack([np.zeros(10), [0, 0, 0, 40, 40, 0, 0, 0, 0, 0]])
    assert not crossing_steps(two, on, np.ones(9, bool), noise_m=8.0).any()  # 2 steps < 3
    low = on + np.column_stack([np.zeros(10), [0, 0, 15, 18, 20, 18, 15, 0, 0, 0]])
    assert not crossing_steps(low, on, np.ones(9, bool), noise_m=8.0).any()  # peak 20 < 24


def test_a_break_in_the_matched_path_splits_a_stretch():
    on = _along(10)
    fix = on + np.column_stack([np.zeros(10), [0, 0, 30, 30, 30, 30, 0, 0, 0, 0]])
    joined = np.ones(9, bool)
    joined[3] = False  # an off-network step between steps 3 and 4: two stretches of 2
    assert not crossing_steps(fix, on, joined, noise_m=8.0).any()
    assert crossing_steps(fix, on, np.ones(9, bool), noise_m=8.0)[2:6].all()


def test_around_a_corner_the_inside_stays_one_side():
    # east along y = 0 to (50, 0), then north along x = 50; the fixes cut the corner inside it
    on = np.array([[10, 0], [20, 0], [30, 0], [40, 0], [50, 10], [50, 20], [50, 30], [50, 40]])
    fix = np.array([[10, 0], [20, 14], [28, 24], [36, 30], [40, 30], [45, 34], [50, 40], [50, 40]])
    got = crossing_steps(fix.astype(float), on.astype(float), np.ones(7, bool), noise_m=8.0)
    assert got[1:5].all() and not got[[0, 6, 7]].any()

"""Stops found in a walk (geo.tracks.stays) on their own: what is and is not a long stop."""

from __future__ import annotations

import numpy as np

from geo.tracks.simulate import drifting_noise
from geo.tracks.stays import long_stays


def _walk(points: list[tuple[float, float]], speed: float, stand_s: float = 0.0) -> np.ndarray:
    """Positions every 3 s along a polyline, standing ``stand_s`` at its middle vertex."""
    p = np.asarray(points, float)
    c = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    s = np.arange(0.0, c[-1], speed * 3.0)
    if stand_s:
        mid = c[len(c) // 2]
        s = np.sort(np.concatenate([s, np.full(int(stand_s // 3), mid)]))
    return np.column_stack([np.interp(s, c, p[:, 0]), np.interp(s, c, p[:, 1])])


def test_ten_minutes_standing_in_drifting_noise_is_one_stop():
    rng = np.random.default_rng(1)
    truth = _walk([(0, 0), (200, 0), (400, 0)], 1.3, stand_s=600)
    xy = truth + drifting_noise(rng, len(truth), 12.0, 3.0)
    found = long_stays(xy, np.arange(len(xy)) * 3.0, 240.0, 30.0, 25.0)
    assert len(found) == 1
    a, b = found[0]
    assert b - a >= 0.8 * 200  # most of the 200 standing fixes
    assert np.all(truth[a:b, 0] > 150) and np.all(truth[a:b, 0] < 250)  # little of the walk
    assert abs(np.median(xy[a:b, 0]) - 200) < 15


def test_slow_walks_and_dead_ends_are_not_stops():
    rng = np.random.default_rng(2)
    walks = [
        _walk([(0, 0), (300, 0)], 0.5),  # a slow stroll along an alley
        _walk([(0, 0), (150, 0), (150, 60), (150, 0), (300, 0)], 0.8),  # a 60 m dead end
        _walk([(0, 0), (150, 0), (150, 100), (150, 0), (300, 0)], 1.0),
    ]
    for xy in walks:
        for sigma in (5.0, 12.0):
            noisy = xy + drifting_noise(rng, len(xy), sigma, 3.0)
            assert long_stays(noisy, np.arange(len(xy)) * 3.0, 240.0, 30.0, 25.0) == []


def test_walking_in_and_out_of_short_dead_ends_is_not_a_stop():
    """An outside tester's steward worked a cluster of 30-40 m dead ends at 1.3 m/s: the
    window's thirds met and its fixes stayed within 25 m, so 23 % of the walk was taken for
    a stop and a 36 m alley lost all its credit. A steady pace says it is a walk."""
    spurs = [(0, 0)]
    for x in (20, 40, 60, 80):  # four 35 m dead ends off an 80 m alley, each in and out
        spurs += [(x, 0), (x, 35), (x, 0)]
    for speed in (0.6, 1.3):
        xy = _walk(spurs, speed)
        for seed in range(4):
            noisy = xy + drifting_noise(np.random.default_rng(seed), len(xy), 3.0, 3.0)
            assert long_stays(noisy, np.arange(len(xy)) * 3.0, 240.0, 30.0, 25.0) == [], (
                speed,
                seed,
            )

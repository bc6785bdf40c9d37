"""geo.walk_digest.near_copy on made walks: a copy with its fixes nudged is one; two walks
of one alley are not, whether their fixes scatter as a phone's do or lie on one line (an
app that snaps its track to the roads), at any pace."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.walk_digest import near_copy, on_lines

M = 1 / 111_320  # a metre of latitude, in degrees


def _walk(
    rng: np.random.Generator, noise_m: float, speeds: np.ndarray, day: int = 1
) -> pd.DataFrame:
    """A walk along a 600 m bent alley, a fix a second, at ``speeds`` (m/s, one per 30 s),
    with Gaussian scatter of ``noise_m``."""
    speed = np.repeat(speeds, 30)
    s = np.clip(np.concatenate([[0.0], np.cumsum(speed)]), 0, 600) / 600
    lon = 116.3 + 0.004 * s + rng.normal(0, noise_m * M * 1.3, len(s))
    lat = 39.99 + 0.002 * np.sin(3 * s) + rng.normal(0, noise_m * M, len(s))
    time = pd.Timestamp(f"2026-03-{day:02d}T01:00:00Z") + pd.to_timedelta(np.arange(len(s)), "s")
    return pd.DataFrame({"lon": lon, "lat": lat, "time": time})


def _nudged(
    rng: np.random.Generator, walk: pd.DataFrame, metres: float, shift: str
) -> pd.DataFrame:
    d = metres * M
    return walk.assign(
        lon=walk["lon"] + rng.uniform(-d, d, len(walk)),
        lat=walk["lat"] + rng.uniform(-d, d, len(walk)),
        time=walk["time"] + pd.Timedelta(shift),
    )


def test_a_nudged_copy_is_a_copy_and_its_part_too() -> None:
    rng = np.random.default_rng(1)
    snapped = _walk(rng, 0.0, np.full(14, 1.3))
    assert near_copy(_nudged(rng, snapped, 0.4, "1D 7s"), snapped)  # off its line by nudges
    walk = _walk(rng, 8.0, np.full(14, 1.3))
    copy = _nudged(rng, walk, 0.4, "1D 7s")
    assert near_copy(copy, walk)
    assert near_copy(copy.iloc[:200], walk)  # cut short
    assert not near_copy(copy.iloc[:60], walk)  # a minute: too short to tell
    assert not near_copy(_nudged(rng, walk, 3.0, "1D"), walk)  # nudged by metres: a walk


def test_two_walks_of_one_alley_are_not_copies() -> None:
    rng = np.random.default_rng(2)
    for noise in (2.0, 5.0, 10.0):  # phone fixes scattering across the way, one pace
        a = _walk(rng, noise, np.full(14, 1.3))
        b = _walk(rng, noise, np.full(14, 1.3), day=2)
        assert not near_copy(b, a), noise
    # snapped to the alley (no scatter at all), a pace wandering from one half minute to
    # the next, or one steady pace both days (an outside re-tester's month of walks: 13 of
    # 24 were refused as copies): a walk on its lines is judged by its exact digest only
    for _ in range(10):
        a = _walk(rng, 0.0, rng.uniform(1.1, 1.5, 16))
        b = _walk(rng, 0.0, rng.uniform(1.1, 1.5, 16), day=2)
        assert not near_copy(b, a)
    steady = _walk(rng, 0.0, np.full(16, 1.2))
    assert not near_copy(_walk(rng, 0.0, np.full(16, 1.201), day=2), steady)
    assert on_lines(steady[["lon", "lat"]].to_numpy() * 111_320)

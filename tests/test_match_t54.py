"""An outside map-matching researcher's walks (T54), on the demo city: ``seq`` and
``first_time`` tell the same order, a loop walked twice included. Walks as he made them: 1.35 m/s,
a fix every 3 s, drifting AR(1) noise (τ 30 s)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.tracks.clean import clean_track
from geo.tracks.match import MatchParams, _coverage, match_track
from geo.tracks.network import WalkNetwork
from tests.test_datum_hint import demo as demo  # noqa: F401  (the fixture)

T0 = pd.Timestamp("2026-05-12T01:00:00Z")


def _fixes(net: WalkNetwork, line: shapely.LineString, rng: np.random.Generator, sigma: float):
    """A walker along metric ``line`` at 1.35 m/s, a fix every 3 s, drifting noise σ per axis."""
    s = np.arange(0.0, line.length, 1.35 * 3.0)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
    phi = np.exp(-3.0 / 30.0)
    err = np.empty_like(xy)
    err[0] = rng.normal(0.0, sigma, 2)
    for i in range(1, len(xy)):
        err[i] = phi * err[i - 1] + np.sqrt(1 - phi * phi) * rng.normal(0.0, sigma, 2)
    lon, lat = net.to_wgs84(xy + err)
    t = T0 + pd.to_timedelta(s / 1.35, unit="s")
    return pd.DataFrame({"lon": lon, "lat": lat, "time": t, "accuracy": np.nan})


def _block_loop(net: WalkNetwork) -> tuple[shapely.LineString, list[int]]:
    """The ring of a compact 3,000–20,000 m² block of the demo city, metric, and its edges."""
    faces = shapely.get_parts(shapely.polygonize(net.geoms_m))
    area, perim = shapely.area(faces), shapely.length(faces)
    compact = 4 * np.pi * area / perim**2
    ok = np.flatnonzero((area > 3_000) & (area < 20_000) & (compact > 0.6))
    assert len(ok), "the demo city has compact blocks"
    ring = shapely.get_exterior_ring(faces[ok[0]])
    near = shapely.distance(net.geoms_m, ring.buffer(0.5)) == 0
    on_ring = [
        int(e) for e in np.flatnonzero(near) if shapely.covered_by(net.geoms_m[e], ring.buffer(0.5))
    ]
    return shapely.LineString(shapely.get_coordinates(ring)), on_ring


def test_seq_and_first_time_agree_on_a_loop_walked_twice(demo: WalkNetwork) -> None:
    """T54 #5: on a block walked round twice, the edge that closes the loop was touched by the
    walk's first fix (the node it ends on, 0 m of it): its ``first_time`` was the walk's first
    second while its ``seq`` came last of the loop, and seq order disagreed with first_time
    order (22 of the tester's 140 outputs). ``first_time`` is now when the traversal that
    gives ``seq`` began."""
    ring, on_ring = _block_loop(demo)
    c = shapely.get_coordinates(ring)
    twice = shapely.LineString(np.vstack([c, c[1:]]))
    for seed in range(4):
        pts = _fixes(demo, twice, np.random.default_rng(seed), 5.0)
        e = match_track(demo, clean_track(pts), MatchParams()).edges.sort_values("seq")
        times = e["first_time"].tolist()
        assert times == sorted(times), (seed, e[["edge_id", "seq", "first_time"]])
        ring_ids = set(demo.edge_ids[on_ring].tolist())
        loop = e[e["edge_id"].isin(ring_ids)]
        # each ring edge's first traversal lies in the first round (half the walk)
        half = T0 + pd.Timedelta(seconds=twice.length / 2 / 1.35)
        assert (loop["first_time"] < half).all(), (seed, loop)
        assert len(loop) == len(ring_ids), (seed, loop, ring_ids)


def test_a_touch_at_a_walks_first_fix_does_not_date_the_edge(demo: WalkNetwork) -> None:
    """The rule itself, on hand-made intervals: an edge touched (0 m) in the first step and
    walked from the 10th is dated at the 10th and listed after the edge walked in between."""
    a, b = 0, 1
    la, lb = float(demo.length[a]), float(demo.length[b])
    s = 1_000_000_000
    iv = [
        (
            np.array([b, a, a, b]),
            np.array([lb, 0.0, la / 2, 0.0]),
            np.array([lb, la / 2, la, lb]),
            np.array([0, 0, 5 * s, 10 * s], dtype=np.int64),
            np.array([5 * s, 5 * s, 10 * s, 20 * s], dtype=np.int64),
            np.array([0.0, 0.001, 1.0, 2.0]),
            np.array([True, True, True, True]),
        )
    ]
    edges, _ = _coverage(demo, iv, min_credit_m=5.0)
    edges = edges.set_index("edge_id")
    ea, eb = demo.edge_ids[a], demo.edge_ids[b]
    assert edges.loc[ea, "seq"] == 0 and edges.loc[eb, "seq"] == 1
    assert edges.loc[eb, "first_time"] == pd.Timestamp(10 * s, tz="UTC")
    assert edges.loc[ea, "first_time"] == pd.Timestamp(0, tz="UTC")

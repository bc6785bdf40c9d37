"""A phone clock set back mid-walk (outside tester T57 #1): the fixes after the step keep the
file's order instead of being interleaved by time and dropped as jumps; recordings out of
order are still sorted; fixes sharing an instant at two places are named."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.tracks.clean import CleanParams, clean_with_report
from geo.tracks.clock_steps import clock_steps
from geo.tracks.parse import parse_track

T0 = pd.Timestamp("2026-11-23T07:00:00Z")
LON0, LAT0 = 116.3300, 39.9900
M_PER_DEG_LON = 111_320.0 * np.cos(np.radians(LAT0))


def _walk(n: int = 80, every_s: float = 3.0, speed: float = 1.3, seed: int = 5):
    """A walk due east at ``speed`` with 2 m noise: times (ns) and lon/lat, in time order."""
    rng = np.random.default_rng(seed)
    t = (T0.value + np.arange(n) * every_s * 1e9).astype(np.int64)
    x = np.arange(n) * every_s * speed + rng.normal(0, 2, n)
    y = rng.normal(0, 2, n)
    return t, LON0 + x / M_PER_DEG_LON, LAT0 + y / 110_540.0


def _gpx(t_ns: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> bytes:
    pts = "".join(
        f'<trkpt lat="{b:.7f}" lon="{a:.7f}"><time>'
        f"{pd.Timestamp(int(ti), tz='UTC').strftime('%Y-%m-%dT%H:%M:%SZ')}</time></trkpt>"
        for ti, a, b in zip(t_ns, lon, lat, strict=True)
    )
    return (
        '<?xml version="1.0"?><gpx version="1.1" creator="t" '
        f'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{pts}</trkseg></trk></gpx>'
    ).encode()


def test_a_clock_set_back_mid_walk_keeps_the_file_order():
    """A network correction sets the clock right: the fixes after it hold the true time and
    those before it were ahead (T58 F1: moving the later ones on put a walk past midnight)."""
    t, lon, lat = _walk()
    stamped = t.copy()
    stamped[:40] += np.int64(90e9)  # the phone 90 s ahead until corrected at the 41st fix
    fixed, steps = clock_steps(stamped, lon, lat)
    assert len(steps) == 1 and steps[0].index == 40 and steps[0].moved == 40
    assert steps[0].back_s == 87.0  # 90 s back, less the 3 s the walk went on
    assert (fixed == t).all()


def test_a_step_back_of_hours_or_between_recordings_is_sorted():
    """Recordings of one day written out of order (08:00, 23:57, 12:00) are not a clock step,
    however the walk joins up: sorted by time (T58 F2, which put the noon walk past midnight)."""
    t, lon, lat = _walk(90)
    rec = np.repeat([8 * 3600, 23 * 3600 + 57 * 60, 12 * 3600], 30) * np.int64(10**9)
    walked = t - t[0] + T0.normalize().value + rec - np.repeat([0, 30, 60], 30) * np.int64(3e9)
    out, steps = clock_steps(walked, lon, lat)
    assert steps == [] and (out == walked).all()
    # three recordings minutes apart, one in the middle sent last (17:00, 17:10, 17:05)
    rec = np.repeat([0, 600, 300], 30) * np.int64(10**9)
    walked = t - t[0] + T0.value + rec - np.repeat([0, 30, 60], 30) * np.int64(3e9)
    out, steps = clock_steps(walked, lon, lat)
    assert steps == [] and (out == walked).all()


def test_recordings_out_of_order_and_late_fixes_are_left_to_sorting():
    t, lon, lat = _walk()
    # two recordings of a walk sent in the other order: the second first
    swapped = np.concatenate([t[40:], t[:40]])
    lon2, lat2 = np.concatenate([lon[40:], lon[:40]]), np.concatenate([lat[40:], lat[:40]])
    out, steps = clock_steps(swapped, lon2, lat2)
    assert steps == [] and (out == swapped).all()
    # fixes an app cached and sent at the end: where the walk was at their times
    order = np.r_[0:30, 50:80, 30:50]
    out, steps = clock_steps(t[order], lon[order], lat[order])
    assert steps == [] and (out == t[order]).all()
    # a clock jumping about (more steps than a few): a shuffled file, refused elsewhere
    jumpy = t.copy()
    for k in (10, 25, 40, 55):
        jumpy[k:] -= np.int64(60e9)
    out, steps = clock_steps(jumpy, lon, lat)
    assert steps == [] and (out == jumpy).all()


def test_an_uploaded_walk_with_its_clock_set_back_keeps_its_fixes():
    """Before: sorted by time, the two halves interleaved 117 m apart and the cleaner dropped
    about half the fixes as jumps, with nothing said."""
    t, lon, lat = _walk()
    stamped = t.copy()
    stamped[:40] += np.int64(90e9)
    parsed = parse_track(_gpx(stamped, lon, lat), "ntp.gpx")
    assert any("早 87 秒" in w and "90 s earlier" in w for w in parsed.warnings), parsed.warnings
    assert (parsed.points["time"].astype("int64").to_numpy() == t).all()
    pieces, rep = clean_with_report(parsed.points, CleanParams())
    assert rep.jumps == 0 and sum(len(p) for p in pieces) == 80


def test_fixes_sharing_an_instant_at_two_places_are_named():
    t, lon, lat = _walk(40)
    # every instant written twice: once where the walker was, once 40 m north
    t2 = np.repeat(t, 2)
    lon2 = np.repeat(lon, 2)
    lat2 = np.repeat(lat, 2) + np.tile([0.0, 40 / 110_540.0], 40)
    parsed = parse_track(_gpx(t2, lon2, lat2), "two.gpx")
    assert any("有 40 个定位点与前一个定位点时间相同" in w for w in parsed.warnings)
    # written twice at one place: common and harmless, not said
    parsed = parse_track(_gpx(t2, lon2, np.repeat(lat, 2)), "twice.gpx")
    assert not any("时间相同" in w for w in parsed.warnings), parsed.warnings

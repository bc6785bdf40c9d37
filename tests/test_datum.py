"""The datum check (geo.tracks.datum) on the real Haidian network: walks written in one datum
and declared as another are caught; correctly declared walks and 130 real GeoLife tracks
(WGS-84) never raise a false alarm."""

from __future__ import annotations

import numpy as np
import pytest

from geo.crs import gcj02_to_bd09, lonlat_to_wgs84, wgs84_to_gcj02
from geo.tracks.datum import datum_hint
from geo.tracks.parse import read_geolife_plt
from geo.tracks.simulate import SimParams, simulate_patrol
from tests.test_tracks_match import haidian as haidian  # noqa: F401  (the fixture)


def _written(lon, lat, datum: str):
    """What a phone app in ``datum`` writes for the true WGS-84 positions."""
    if datum == "wgs84":
        return lon, lat
    g = wgs84_to_gcj02(lon, lat)
    return g if datum == "gcj02" else gcj02_to_bd09(*g)


@pytest.mark.parametrize("noise", [5.0, 10.0])
def test_a_walk_declared_in_the_wrong_datum_is_named(haidian, noise):  # noqa: F811
    _, net = haidian
    rng = np.random.default_rng(int(noise))
    caught = total = 0
    for _ in range(6):
        pts, _ = simulate_patrol(net, rng, SimParams(noise_m=noise, length_m=1200, outliers=2))
        lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
        for true in ("wgs84", "gcj02", "bd09"):
            written = _written(lon, lat, true)
            for declared in ("wgs84", "gcj02", "bd09"):
                # the server converts what was written from the declared datum
                hint = datum_hint(net, *lonlat_to_wgs84(*written, declared), declared)
                if declared == true:
                    assert hint is None, (true, hint)
                    continue
                total += 1
                if hint is not None:
                    assert hint.name == true, (true, declared, hint)
                    assert f"crs={true}" in hint.message() and "重新上传" in hint.message()
                    caught += 1
    assert caught >= 0.8 * total, (caught, total)


def test_real_wgs84_tracks_raise_no_alarm(haidian, shared_data):  # noqa: F811
    _, net = haidian
    files = sorted((shared_data / "geolife_beijing_sample/Data").glob("*/Trajectory/*.plt"))
    assert len(files) == 130
    checked = 0
    for f in files:
        pts = read_geolife_plt(f)
        lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
        xy = net.to_metric(lon, lat)
        near = np.isfinite(net.candidates(xy, 200.0, 1)[2][:, 0])
        if near.sum() < 30:  # a track elsewhere in Beijing: no streets to compare with
            continue
        checked += 1
        assert datum_hint(net, lon[near], lat[near], "wgs84") is None, f.name
    assert checked >= 100

"""Is this track in the datum its uploader declared? A check against the street network.

Chinese phone apps write WGS-84 (GPS), GCJ-02 (Amap, Tencent and most map apps) or BD-09
(Baidu), and a steward rarely knows which. In Beijing the datums lie about 540 m apart, and a
dense street grid has *some* street near almost any shifted fix, so a track read in the wrong
datum still matches, to alleys the steward never walked. The check: how far the fixes lie from
the streets, on average, when read in the declared datum and in the other two. The fixes of a
walk read in its true datum hug the streets; read in a wrong one they do not.

Thresholds, measured on the Haidian network (tests/test_datum.py keeps them honest):
a simulated walk read in its true datum has a capped mean distance of 2–13 m (5–20 m noise),
20 m at 30 m noise; read in a wrong one, 10–60 m. 130 real GeoLife tracks (WGS-84) read as
GCJ-02 or BD-09 never came closer than 0.52 × their true reading. A hint is given only when
another datum brings the fixes 3× closer and within 15 m: no false alarm on any of those
tracks, at the price of missing some very noisy wrong-datum tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.crs import WGS84, gcj02_to_bd09, lonlat_to_wgs84, normalize_crs, wgs84_to_gcj02
from geo.tracks.network import WalkNetwork

DATUMS = {
    WGS84: "WGS-84 (GPS)",
    "gcj02": "GCJ-02 (高德/腾讯 Amap/Tencent)",
    "bd09": "BD-09 (百度 Baidu)",
}
CAP_M = 60.0  # a fix farther than this from every street counts as this far (off-network walks)
RATIO = 3.0  # the other datum must bring the fixes this many times closer ...
CLOSE_M = 15.0  # ... and this close to the streets on average
SAMPLE = 150  # fixes looked at, evenly spread over the track
# No walk read in its true datum averages closer than this to the street centre lines (phone
# noise and street widths; simulated 5 m noise: 2.4 m at least): a track this close as
# declared cannot have another datum RATIO times closer, so the other two are not tried
# (the check then costs one lookup, ~1 ms, on the match queue's hot path).
FLOOR_M = 2.5


@dataclass(frozen=True)
class DatumHint:
    """The datum the fixes look like and the one declared (normalised names: EPSG:4326,
    gcj02, bd09), with the fixes' mean distance from the streets read in each."""

    crs: str
    declared: str
    declared_m: float
    other_m: float

    @property
    def name(self) -> str:
        """The ``crs`` value to upload with."""
        return "wgs84" if self.crs == WGS84 else self.crs

    def message(self) -> str:
        mine, other = DATUMS[self.declared], DATUMS[self.crs]
        return (
            f"坐标像是 {other}，不是 {mine}：按所选坐标系，定位点离街巷平均 "
            f"{self.declared_m:.0f} 米，按 {self.name} 为 {self.other_m:.0f} 米，请选 {self.name} "
            f"重新上传 · the fixes look like {other}, not {mine}: {self.declared_m:.0f} m from "
            f"the streets on average as declared, {self.other_m:.0f} m as {self.name}; "
            f"upload the file again with crs={self.name}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "crs": self.name,
            "declared_m": round(self.declared_m, 1),
            "other_m": round(self.other_m, 1),
            "message": self.message(),
        }


def datum_hint(
    net: WalkNetwork, lon: np.ndarray, lat: np.ndarray, declared: str
) -> DatumHint | None:
    """A :class:`DatumHint` when the WGS-84 fixes ``lon``/``lat`` (converted from ``declared``)
    look like another datum's, else None (also for EPSG datums, which phones do not write)."""
    declared = normalize_crs(declared)
    if declared not in DATUMS or len(lon) == 0:
        return None
    lon, lat = _sample(lon, lat)  # convert only the fixes looked at
    # the numbers as the phone wrote them, then read in each datum
    written = (lon, lat)
    if declared != WGS84:
        written = wgs84_to_gcj02(lon, lat)
        if declared == "bd09":
            written = gcj02_to_bd09(*written)
    mine = _distance(net, lon, lat)
    if mine < RATIO * FLOOR_M:
        return None
    best: DatumHint | None = None
    for other in DATUMS:
        if other == declared:
            continue
        d = _distance(net, *lonlat_to_wgs84(*written, other))
        if d * RATIO < mine and d < CLOSE_M and (best is None or d < best.other_m):
            best = DatumHint(other, declared, mine, d)
    return best


def street_distance(net: WalkNetwork, lon: np.ndarray, lat: np.ndarray) -> float:
    """Mean distance (m) of WGS-84 fixes from the nearest street, each capped at ``CAP_M``
    (a sample of at most ``SAMPLE`` fixes)."""
    return _distance(net, *_sample(lon, lat))


def _sample(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    step = max(1, len(lon) // SAMPLE)
    return np.asarray(lon, float)[::step], np.asarray(lat, float)[::step]


def _distance(net: WalkNetwork, lon: np.ndarray, lat: np.ndarray) -> float:
    d = net.nearest_distance(net.to_metric(lon, lat), CAP_M)
    return float(np.minimum(d, CAP_M).mean()) if len(d) else CAP_M

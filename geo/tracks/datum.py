"""Is this track in the datum its uploader declared? A check against the street network.

Chinese phone apps write WGS-84 (GPS), GCJ-02 (Amap, Tencent and most map apps) or BD-09
(Baidu), and a steward rarely knows which. In Beijing the datums lie about 540 m apart, and a
dense street grid has *some* street near almost any shifted fix, so a track read in the wrong
datum still matches, to alleys the steward never walked. The check: how far the fixes lie from
the streets when read in the declared datum and in the other two (the readings differ by a
known, near-constant shift, so one set of headings serves all three).

The along-street rule (a track with ``MIN_MOVING`` moving fixes, nearly every walk): only
fixes where the walker moves count, each by its distance to the nearest street running its
way (within ``ALIGN_DEG`` of its heading). WHY: the plain mean distance of all fixes (the rule
before) separated the readings by only 2× at 8–15 m drifting phone noise on the dense Haidian
network (an outside tester's GCJ-02 walk: 16 m as WGS-84, 8 m as GCJ-02), because the
shifted track is close to the streets it crosses; and real WGS-84 tracks that stand still off
the streets came within 0.52× in the wrong datum. Measured on the demo city and the Haidian
network (bench/match.py --datum, tests/test_datum_hint.py): GCJ-02 walks uploaded as WGS-84
are named 100 % at 5–15 m noise (old rule: 64–100 %), 90–96 % at 20 m (50–62 %); no false
hint on WGS-84 walks at 5–20 m nor on 130 real GeoLife tracks (their wrong readings: at most
1.47× closer, never within 16 m, hence ``RATIO_ALIGNED`` 1.4 *and* ``CLOSE_ALIGNED_M`` 20 m).

A track with fewer moving fixes (standing, a few fixes) keeps the plain rule: another datum
``RATIO`` (3×) closer and within ``CLOSE_M`` (15 m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geo.crs import WGS84, gcj02_to_bd09, lonlat_to_wgs84, normalize_crs, wgs84_to_gcj02
from geo.tracks.network import WalkNetwork

DATUMS = {
    WGS84: "WGS-84 (GPS)",
    "gcj02": "GCJ-02 (高德/腾讯 Amap/Tencent)",
    "bd09": "BD-09 (百度 Baidu)",
}
# the patrol map's upload form (maps.patrol_map.UPLOAD_FORM): its 坐标 select and each
# datum's option as the page shows them, for the hint's remedy there (tests hold them equal)
FORM_SELECT = "坐标 coordinates"
FORM_OPTIONS = {
    WGS84: "GPS (WGS-84)",
    "gcj02": "高德/腾讯 Amap/Tencent (GCJ-02)",
    "bd09": "百度 Baidu (BD-09)",
}
CAP_M = 60.0  # a fix farther than this from every street counts as this far (off-network walks)
RATIO = 3.0  # the other datum must bring the fixes this many times closer ...
CLOSE_M = 15.0  # ... and this close to the streets on average
SAMPLE = 150  # fixes looked at, evenly spread over the track
# No walk read in its true datum averages closer than this to the street centre lines (phone
# noise and street widths; simulated 5 m noise: 2.4 m at least): a track this close as
# declared cannot have another datum RATIO times closer, so the other two are not tried
# (plain rule only; the along-street rule costs ~1.5 ms a track, three lookups).
FLOOR_M = 2.5
# The along-street test (``aligned_distance``), used when a track has MIN_MOVING sampled fixes
# with a heading:
SMOOTH = 2  # fixes averaged each side before headings are measured
CHORD_M = 40.0  # ... over about this much of walk
MOVE_M = 15.0  # a chord shorter than this: standing or dawdling, no heading
MIN_MOVING = 30
ALIGN_DEG = 45.0  # a street within this angle of the heading runs the walker's way
ALIGN_CAP_M = 40.0  # a fix farther than this from every such street counts as this far
RATIO_ALIGNED = 1.4  # the other datum must bring the moving fixes this many times closer ...
CLOSE_ALIGNED_M = 20.0  # ... and this close to streets running their way, on average


@dataclass(frozen=True)
class DatumHint:
    """The datum the fixes look like and the one declared (normalised names: EPSG:4326,
    gcj02, bd09), with the fixes' mean distance from the streets read in each (the moving
    fixes' from streets running their way, under the along-street rule)."""

    crs: str
    declared: str
    declared_m: float
    other_m: float

    @property
    def name(self) -> str:
        """The ``crs`` value to upload with."""
        return "wgs84" if self.crs == WGS84 else self.crs

    def message(
        self,
        remedy: tuple[str, str] | None = None,
        outcome: tuple[str, str] | None = None,
        credited: int | None = None,
        nothing: tuple[str, str] | None = None,
    ) -> str:
        """The hint, Chinese first, ending in what to do: ``remedy`` (Chinese, English), as
        the interface that shows it says it; by default the API's ``crs=…`` (see
        :meth:`cli_remedy`, :meth:`form_remedy`). WHY one remedy per interface: a CLI user
        was told ``crs=gcj02``, which the command line does not take, and ``gridward match``
        said two remedies in one line (T37 F14).

        WHY it names the wrong credit: a track in the wrong datum still "matches", so a
        steward who sees alleys credited would not otherwise think anything is amiss.
        ``outcome`` (Chinese, English) names what is wrong where nothing is credited: the
        alleys ``gridward match`` matched, or those ``tracks check`` would credit.
        ``credited``: the segments the upload credited, when known; with none (0) it says
        nothing was credited (T39 L10: it said the alleys credited were not the ones walked
        when no alley was credited). ``nothing`` (Chinese, English) says so where the
        interface names its own ``outcome``: ``gridward match`` matching no segment says
        本次未匹配到任何路段 (T41 #4: it said the alleys matched were not the ones walked);
        without it, 本次未计入任何路段."""
        mine, other = DATUMS[self.declared], DATUMS[self.crs]
        todo_zh, todo = remedy or (
            f"请用 crs={self.name} 重新上传",
            f"upload the file again with crs={self.name}",
        )
        # the distances as as_dict keeps them (0.1 m): a message made again from the stored
        # dict (from_dict) says the same metres
        near, far = round(self.declared_m, 1), round(self.other_m, 1)
        what_zh, what = outcome or ("本次记入的街巷", "the alleys credited")
        wrong_zh, wrong = (
            f"{what_zh}多半不是您走过的",
            f"{what} are most likely not the ones walked",
        )
        if credited == 0:
            wrong_zh, wrong = nothing or ("本次未计入任何路段", "nothing was credited")
        return (
            f"坐标像是 {other}，不是 {mine}：按所选坐标系，定位点离街巷平均 "
            f"{near:.0f} 米，按 {self.name} 为 {far:.0f} 米；{wrong_zh}：{todo_zh} "
            f"the fixes look like {other}, not {mine}: {near:.0f} m from the streets on "
            f"average as declared, {far:.0f} m as {self.name}; {wrong}: {todo}"
        )

    def form_remedy(self) -> tuple[str, str]:
        """A :meth:`message` remedy for the patrol map's upload form, naming its 坐标 select
        and the option to choose as the page shows them. WHY: the form showed the API's
        ``crs=gcj02``, a parameter a steward on the page never sees (T39 M7); the same file
        sent again with the other choice puts the track's datum right."""
        label = FORM_OPTIONS[self.crs]
        return (
            f"请在“{FORM_SELECT}”中选“{label}”后重新上传",
            f'choose "{label}" under "{FORM_SELECT}" and upload it again',
        )

    def cli_remedy(self, verb: str, command: str = "") -> tuple[str, str]:
        """A :meth:`message` remedy for a command line, naming ``--crs``: ``verb`` upload or
        match (do it again; ``command`` before the option, e.g. ``gridward tracks upload
        amap.csv``), or check (check and upload with it)."""
        opt = f"--crs {self.name}"
        if verb == "check":
            return f"检查和上传时请加 {opt}", f"check and upload it with {opt}"
        run = f"{command} {opt}" if command else opt
        again_zh, again = {
            "upload": ("重新上传", "upload it again"),
            "match": ("重新匹配", "match it again"),
        }[verb]
        return f"请用 {run} {again_zh}", f"{again} with {run}"

    def as_dict(self) -> dict[str, object]:
        """What the API returns and a track's match keeps: ``message`` for the API and the
        web form; ``declared`` so a command line can say the hint its own way
        (:meth:`from_dict`)."""
        return {
            "crs": self.name,
            "declared": "wgs84" if self.declared == WGS84 else self.declared,
            "declared_m": round(self.declared_m, 1),
            "other_m": round(self.other_m, 1),
            "message": self.message(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> DatumHint | None:
        """The hint an :meth:`as_dict` holds; None for one stored before ``declared`` was."""
        names = {"wgs84": WGS84, "gcj02": "gcj02", "bd09": "bd09"}
        try:
            crs, declared = names[str(d["crs"])], names[str(d["declared"])]
            return cls(crs, declared, float(d["declared_m"]), float(d["other_m"]))
        except (KeyError, TypeError, ValueError):
            return None


def worded(hint: dict, form: bool = False, credited: int | None = None) -> dict:
    """A kept hint (:meth:`DatumHint.as_dict`) with its ``message`` said for where it is
    shown: ``form``, the patrol map's upload form (:meth:`DatumHint.form_remedy`), and
    ``credited``, the segments credited (none: said so). The kept dict itself when nothing
    changes, or for a hint kept before it held ``declared`` (said as it was kept). WHY at
    the answer, not where the match keeps it: a match keeps one hint, read by every
    interface, and a re-match may change what the track credits."""
    found = DatumHint.from_dict(hint)
    if found is None or not (form or credited == 0):
        return hint
    remedy = found.form_remedy() if form else None
    return {**hint, "message": found.message(remedy, credited=credited)}


def datum_hint(
    net: WalkNetwork, lon: np.ndarray, lat: np.ndarray, declared: str
) -> DatumHint | None:
    """A :class:`DatumHint` when the WGS-84 fixes ``lon``/``lat`` (converted from ``declared``)
    look like another datum's, else None (also for EPSG datums, which phones do not write)."""
    declared = normalize_crs(declared)
    if declared not in DATUMS or len(lon) == 0:
        return None
    lon, lat = _sample(lon, lat)  # convert only the fixes looked at
    written = _as_written(lon, lat, declared)
    readings = {d: (lon, lat) if d == declared else lonlat_to_wgs84(*written, d) for d in DATUMS}
    return _judge(net, readings, declared, lon, lat)


def _judge(
    net: WalkNetwork,
    readings: dict[str, tuple[np.ndarray, np.ndarray]],
    declared: str,
    lon: np.ndarray,
    lat: np.ndarray,
) -> DatumHint | None:
    """The hint of the fixes' ``readings`` (datum → WGS-84 lon/lat), by their headings along
    the ways when the walk moves enough, else by distance alone. The readings differ by a
    near-constant shift: one set of headings (of ``lon``/``lat``) serves all three."""
    heading = _headings(net.to_metric(lon, lat))
    moving = np.isfinite(heading)
    if moving.sum() >= MIN_MOVING:
        return _aligned_hint(net, readings, declared, heading[moving], moving)
    return _plain_hint(net, readings, declared)


def network_datum_hint(
    net: WalkNetwork, lon: np.ndarray, lat: np.ndarray, declared: str = WGS84
) -> DatumHint | None:
    """The other way round from :func:`datum_hint`: the track taken as right, is the network
    file drawn in another datum than ``declared`` (wgs84, gcj02, bd09: how it was read)? A
    :class:`DatumHint` whose ``crs`` is the datum the network looks drawn in, else None.

    ``lon``/``lat``: the fixes in WGS-84 (the track's own datum already put right). A network
    drawn in datum D but read as ``declared`` lies where the fixes would, written in D and
    read as ``declared``; the same rules as :func:`datum_hint` compare those readings. WHY:
    district network files from 高德-based tools are GCJ-02, and an honest GPS track on one
    matched, to wrong streets only, with nothing said (T54 #3). The shifts are the track
    hint's reversed, so a track in the wrong datum is never taken for a network in one."""
    declared = normalize_crs(declared)
    if declared not in DATUMS or len(lon) == 0:
        return None
    lon, lat = _sample(lon, lat)
    readings = {
        d: (lon, lat) if d == declared else lonlat_to_wgs84(*_as_written(lon, lat, d), declared)
        for d in DATUMS
    }
    return _judge(net, readings, declared, lon, lat)


def old_datum_hint(
    net: WalkNetwork, lon: np.ndarray, lat: np.ndarray, declared: str
) -> DatumHint | None:
    """The rule before the along-street test (all fixes, plain distance, 3× and 15 m), kept
    for bench/match.py's before/after comparison only."""
    declared = normalize_crs(declared)
    if declared not in DATUMS or len(lon) == 0:
        return None
    lon, lat = _sample(lon, lat)
    written = _as_written(lon, lat, declared)
    readings = {d: (lon, lat) if d == declared else lonlat_to_wgs84(*written, d) for d in DATUMS}
    return _plain_hint(net, readings, declared)


def _as_written(lon: np.ndarray, lat: np.ndarray, declared: str) -> tuple[np.ndarray, np.ndarray]:
    """The numbers as the phone wrote them (the fixes are WGS-84 read from ``declared``)."""
    if declared == WGS84:
        return lon, lat
    g = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(*g) if declared == "bd09" else g


Readings = dict[str, tuple[np.ndarray, np.ndarray]]


def _aligned_hint(
    net: WalkNetwork, readings: Readings, declared: str, heading: np.ndarray, moving: np.ndarray
) -> DatumHint | None:
    """The hint by :func:`aligned_distance` of the moving fixes: another datum ``RATIO_ALIGNED``
    times closer to streets running their way, and within ``CLOSE_ALIGNED_M``."""
    dist = {
        d: aligned_distance(net, net.to_metric(x[moving], y[moving]), heading)
        for d, (x, y) in readings.items()
    }
    mine = dist[declared]
    best: DatumHint | None = None
    for other, d in dist.items():
        if other == declared or d * RATIO_ALIGNED > mine or d > CLOSE_ALIGNED_M:
            continue
        if best is None or d < best.other_m:
            best = DatumHint(other, declared, mine, d)
    return best


def _plain_hint(net: WalkNetwork, readings: Readings, declared: str) -> DatumHint | None:
    """The hint by plain mean distance (a track with too few moving fixes for headings):
    another datum ``RATIO`` times closer and within ``CLOSE_M``."""
    mine = _distance(net, *readings[declared])
    if mine < RATIO * FLOOR_M:
        return None
    best: DatumHint | None = None
    for other, (x, y) in readings.items():
        if other == declared:
            continue
        d = _distance(net, x, y)
        if d * RATIO < mine and d < CLOSE_M and (best is None or d < best.other_m):
            best = DatumHint(other, declared, mine, d)
    return best


def _headings(xy: np.ndarray) -> np.ndarray:
    """Direction of travel (radians) at each fix, NaN where the walker stands or dawdles.

    WHY: a walk follows the streets it is on, so only moving fixes are evidence, and a street
    across the walker's way is no evidence at all. Measured as the chord between fixes
    averaged ``SMOOTH`` each side, ``h`` fixes before and after; ``h`` is the least that
    makes the track's median chord ``CHORD_M`` long, so 1 s and 5 s sampling (and long tracks,
    sampled sparsely) are measured over a like stretch of walk."""
    n = len(xy)
    if n < 3:
        return np.full(n, np.nan)
    c = np.vstack([[0.0, 0.0], np.cumsum(xy, axis=0)])
    i = np.arange(n)
    lo, hi = np.clip(i - SMOOTH, 0, n), np.clip(i + SMOOTH + 1, 0, n)
    smooth = (c[hi] - c[lo]) / (hi - lo)[:, None]
    for h in (1, 2, 4, 8, 16, 32):
        v = smooth[np.minimum(i + h, n - 1)] - smooth[np.maximum(i - h, 0)]
        length = np.hypot(v[:, 0], v[:, 1])
        if np.median(length) >= CHORD_M:
            break
    out = np.arctan2(v[:, 1], v[:, 0])
    out[length < MOVE_M] = np.nan
    return out


def aligned_distance(net: WalkNetwork, xy: np.ndarray, heading: np.ndarray) -> float:
    """Mean distance (m) of metric fixes from the nearest street running within ``ALIGN_DEG``
    of their ``heading``, each capped at ``ALIGN_CAP_M``.

    WHY: a track read in the wrong datum, shifted 540 m over a dense grid, still passes close
    to streets, mostly where it crosses them; a street it merely crosses does not run its way,
    so it no longer counts, while a walk in its true datum runs along its streets."""
    if len(xy) == 0:
        return ALIGN_CAP_M
    r = ALIGN_CAP_M
    pi, si = net.tree.query(shapely.box(*(xy - r).T, *(xy + r).T))
    dx, dy = net.seg_dx[si], net.seg_dy[si]
    px, py = xy[pi, 0] - net.seg_x0[si], xy[pi, 1] - net.seg_y0[si]
    t = np.clip((px * dx + py * dy) / net.seg_len2[si], 0.0, 1.0)
    d = np.hypot(px - t * dx, py - t * dy)
    # angle between the segment (either way) and the heading, folded into [0, 90°]
    off = np.abs((np.arctan2(dy, dx) - heading[pi] + np.pi / 2) % np.pi - np.pi / 2)
    ok = off <= np.radians(ALIGN_DEG)
    best = np.full(len(xy), r)
    np.minimum.at(best, pi[ok], np.minimum(d[ok], r))
    return float(best.mean())


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

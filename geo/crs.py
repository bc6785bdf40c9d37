"""Coordinate reference systems: declared at import, converted to WGS 84 on the way in.

pyproj covers every EPSG/PROJ CRS (WGS 84, CGCS2000 geographic EPSG:4490 and its 3° Gauss–Krüger
zones EPSG:4513–4554, UTM). It does not cover GCJ-02 (the obfuscated datum of Chinese phone
map apps) or BD-09 (Baidu), which are not published as CRS definitions, so those two are
implemented here as vectorised numpy functions. GCJ-02 → WGS 84 has no closed form: we invert
the forward transform by fixed-point iteration, which converges to < 1e-9° in a few steps.

Lengths, areas and distances are never computed in degrees: :func:`metric_crs` picks the UTM
zone of the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.errors import InputError

WGS84 = "EPSG:4326"

# Names users type for the non-EPSG datums and common aliases.
_ALIASES: dict[str, str] = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "epsg:4326": WGS84,
    "4326": WGS84,
    "cgcs2000": "EPSG:4490",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "mars": "gcj02",
    # the apps' names (an outside tester: amap, gaode were refused while baidu was taken)
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "火星": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
}

_A = 6378245.0  # Krasovsky 1940 semi-major axis, used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0


def normalize_crs(name: str | None) -> str:
    """Return a canonical CRS name: ``gcj02``, ``bd09`` or a pyproj-understood string.

    Raises InputError naming the CRS when neither gridward nor pyproj knows it.
    """
    if name is None or str(name).strip() == "":
        return WGS84
    key = str(name).strip().lower()
    compact = key.replace(" ", "").replace("_", "")  # "gcj 02", "GCJ_02", "wgs 84"
    for k in (key, compact):
        if k in _ALIASES:
            return _ALIASES[k]
    try:
        crs = CRS.from_user_input(str(name).strip())
        # pyproj knows other planets ("mars" is IAU's Mars): a misspelt datum must not be
        # taken as one, so a CRS whose ellipsoid is not the Earth's is unknown here (T46)
        earth = crs.ellipsoid is None or abs(crs.ellipsoid.semi_major_metre - 6_378_137) < 1e5
        if not earth:
            raise CRSError(name)
    except CRSError:
        raise InputError(
            f"坐标系 '{name}' 无法识别：请用 wgs84、gcj02、bd09、cgcs2000 或 EPSG 代码"
            "（如北京 CGCS2000 3度带 EPSG:4548） "
            f"unknown CRS '{name}': use wgs84, gcj02, bd09, cgcs2000 or an EPSG code "
            "such as EPSG:4548 (Beijing, CGCS2000 3-degree zone)"
        ) from None
    epsg = crs.to_epsg()
    if epsg is None and crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return WGS84  # OGC:CRS84 (GeoJSON's own longitude-first WGS 84) has no EPSG code
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS 84 positions."""
    x = lon - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → GCJ-02 (the forward obfuscation), vectorised."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: Any, lat: Any, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS 84 by fixed-point iteration of the forward transform (< 1 mm)."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return wlon, wlat


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (Baidu) → GCJ-02, vectorised."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (Baidu), vectorised."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS 84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def lonlat_to_wgs84(lon: Any, lat: Any, crs: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinate arrays in ``crs`` (any name :func:`normalize_crs` takes) to WGS 84."""
    name = normalize_crs(crs)
    if name == WGS84:
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    from pyproj import Transformer

    tr = Transformer.from_crs(name, WGS84, always_xy=True)
    x, y = tr.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x), np.asarray(y)


def geometries_to_wgs84(geoms: Any, crs: str | None) -> np.ndarray:
    """Convert an array of shapely geometries from ``crs`` to WGS 84 (vectorised)."""
    name = normalize_crs(crs)
    arr = np.asarray(geoms, dtype=object)
    if name == WGS84:
        return arr

    def _tx(coords: np.ndarray) -> np.ndarray:
        x, y = lonlat_to_wgs84(coords[:, 0], coords[:, 1], name)
        return np.column_stack([x, y])

    return shapely.transform(arr, _tx)


#: the datums a Chinese file labelled WGS 84 may really be in: GPS, 高德/腾讯, 百度
PHONE_DATUMS = (WGS84, "gcj02", "bd09")
#: (Chinese, English) names of each of :data:`PHONE_DATUMS`, as the imports' datum checks
#: name them
DATUM_NAMES = {
    WGS84: ("WGS-84（GPS）", "WGS-84 (GPS)"),
    "gcj02": ("GCJ-02（高德/腾讯）", "GCJ-02 (Amap/Tencent)"),
    "bd09": ("BD-09（百度）", "BD-09 (Baidu)"),
}


def crs_said(option: str, value: str | None = None) -> str:
    """The CRS option as the interface in use takes it: ``--crs gcj02`` on the command line,
    ``crs=gcj02`` for the API (``option`` ``crs``); without ``value`` the option's name.

    WHY (stop 41 note): the API's refusal told a web client to leave out ``--crs``, an option
    it never sent (its form field is ``crs``)."""
    if value is None:
        return option
    return f"{option} {value}" if option.startswith("-") else f"{option}={value}"


def datum_remedy(
    option: str, source: str, best: str, given: bool
) -> tuple[str, str, str, str, str, str]:
    """The words of a refusal or warning that the data fit datum ``best`` better than
    ``source`` (read as given; ``given``: named by the CRS option): how it was read (as_zh,
    as_en), what to do (do_zh, do: leave the option out, or add it, or use another value,
    never the one given, T48 #4) and how it would be read (how_zh, how). Shared by the people
    import's homes, the plans import's polygons (:mod:`geo.grid_file_import`) and the areas
    import's outlines (:mod:`geo.areas_import`)."""
    if source == WGS84:
        as_zh, as_en = "不换算（按 WGS-84 读）时", "read as WGS-84 (not converted)"
    else:
        said = crs_said(option, source)
        as_zh, as_en = f"按 {said} 换算后", f"converted from {said}"
    if best == WGS84:
        said = crs_said(option, source)
        do_zh, do = f"请去掉 {said}", f"leave out {said}"
        how_zh, how = "不换算时", "not converted"
    else:
        said = crs_said(option, best)
        how_zh, how = f"按 {best} 换算后", f"converted from {best}"
        do_zh, do = (
            (f"请改用 {said}", f"use {said} instead") if given else (f"请加 {said}", f"add {said}")
        )
    return as_zh, as_en, do_zh, do, how_zh, how


def wgs84_to_datum(lon: Any, lat: Any, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → ``datum`` (one of :data:`PHONE_DATUMS`): the coordinates a file drawn in
    that datum gives for these points."""
    if datum == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if datum == "bd09":
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def reread_geometries(geoms: Any, source: str, datum: str) -> np.ndarray:
    """Geometries read into WGS 84 from phone datum ``source``, read from ``datum`` instead:
    their coordinates as the file gave them, converted from ``datum``.

    WHY (T70 #1, #2): a file's datum is told by which reading fits the stored buildings (an
    areas file drawn on a 高德 base map is labelled WGS 84), and a stored outline put right
    by a datum is told by the new outline being the stored one read from another datum."""
    arr = np.asarray(geoms, dtype=object)
    if datum == source:
        return arr

    def _tx(coords: np.ndarray) -> np.ndarray:
        x, y = wgs84_to_datum(coords[:, 0], coords[:, 1], source)
        return np.column_stack(lonlat_to_wgs84(x, y, datum))

    return shapely.transform(arr, _tx)


def reproject(geoms: Any, src: str, dst: str) -> Any:
    """Shapely geometries (one or an array) from ``src`` to ``dst``, lon/lat axis order,
    vectorised over every coordinate at once: the one way the modules that measure in metres
    project WGS 84 outlines (and back) without a GeoSeries round trip."""
    from pyproj import Transformer

    tr = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def metric_crs(lon: float, lat: float) -> str:
    """The UTM zone (EPSG code) for a point: where gridward measures metres and m²."""
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def metric_crs_for_bounds(bounds: tuple[float, float, float, float] | np.ndarray) -> str:
    """The UTM zone for the centre of WGS 84 ``(minx, miny, maxx, maxy)`` bounds."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        raise InputError(
            "数据没有有效坐标，无法选择米制坐标系 "
            "cannot choose a metric CRS: the data has no finite coordinates"
        )
    return metric_crs((minx + maxx) / 2.0, (miny + maxy) / 2.0)


def metric_crs_for_points(lonlat: np.ndarray) -> str:
    """The UTM zone for the median of WGS 84 ``(n, 2)`` coordinates.

    WHY the median, not the bounds' centre: one stray feature (a test edge at 0,0, a mis-typed
    coordinate) moved the centre, and with it the zone, thousands of km from the data, and
    every metre measured in the wrong zone was off (an outside tester: +33 %)."""
    ok = np.isfinite(lonlat).all(axis=1)
    if not ok.any():
        raise InputError(
            "数据没有有效坐标，无法选择米制坐标系 "
            "cannot choose a metric CRS: the data has no finite coordinates"
        )
    lon, lat = np.median(lonlat[ok], axis=0)
    return metric_crs(float(lon), float(lat))

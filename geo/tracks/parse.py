"""Parse uploaded GPS tracks (GPX, KML/KMZ, GeoJSON, CSV) into one clean table of timed WGS 84
points.

Uploads come from phones, watches and spreadsheets; any of them may be broken, hostile (XML entity
bombs) or in a Chinese datum. Every problem becomes an :class:`InputError` that says what is wrong,
so the API can answer 4xx and the CLI one line; nothing here touches storage.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from pyproj.exceptions import ProjError

from geo.crs import WGS84, lonlat_to_wgs84, normalize_crs
from geo.errors import InputError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TZ = "Asia/Shanghai"
# A track whose points mostly lack times cannot be placed in a day; below this share of timed
# points we refuse the file instead of silently keeping a handful of fixes.
MIN_TIMED_SHARE = 0.5

_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "gps经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度", "gps纬度")
_TIME_NAMES = (
    "time",
    "timestamp",
    "datetime",
    "gps_time",
    "loc_time",
    "location_time",
    "fix_time",
    "ts",
    "utc_time",
    "gmt_time",
    "utc时间",
    "gmt时间",
    "时间",
    "定位时间",
    "采集时间",
    "日期时间",
    "时间戳",
    "gps时间",
    "上报时间",
    "记录时间",
    "回传时间",
    "轨迹时间",
)
# a day column that goes with a time-of-day column (日期 + 时间)
_DATE_NAMES = ("date", "日期", "gps_date", "utc_date", "定位日期", "记录日期")
_ACC_NAMES = ("accuracy", "acc", "horizontal_accuracy", "精度", "定位精度", "水平精度")
_GEOJSON_TIME_KEYS = ("times", "coordTimes", "coordinateTimes", "timestamps", "time")
_POINT_TIME_KEYS = ("time", "timestamp", "datetime", "时间", "定位时间")
_KML_ROOT = re.compile(rb"<(?:\w+:)?kml[\s>]")
_ZONE_RE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)
# a time of day alone (no date): "09:00:00", "9:00", "08:00:05.5 PM"
_TOD_RE = re.compile(r"\d{1,2}:\d\d(?::\d\d(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?")
# "…08:00:00+08": an hour-only UTC offset after a time
_HOUR_ZONE_RE = re.compile(r"(:\d\d(?:\.\d+)?)\s*([+-]\d\d)$")
_CN_DATE_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*")
_CN_AMPM_RE = re.compile(r"(上午|下午)\s*(\d{1,2}:\d\d(?::\d\d(?:\.\d+)?)?)")
# 05/11/2026, 05.11.2026, 05-11-2026: day/month order decided once per file
_DMY_RE = r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})((?:[ T].*)?)$"
_COMPACT_RE = re.compile(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?")
# a trailing unit in brackets; no leading \s* (a run of spaces made it retry at every space:
# quadratic time on a crafted header), the caller strips the spaces instead
_UNIT_RE = re.compile(r"[(（\[【][^()（）\[\]【】]{0,40}[)）\]】]$")
# a header naming UTC (time(UTC), utc_time, GMT时间): its zone-less values are UTC
_UTC_HEADER_RE = re.compile(r"utc|gmt|世界时")
# the XML declaration, matched only within the first _XML_DECL_MAX bytes and with bounded runs
# (an unbounded lazy run retried at every "encoding=" made a crafted file take hours)
_XML_DECL = re.compile(
    rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"'][^>]{0,200}\?>"
)
_XML_DECL_MAX = 512
# what pandas, numpy, json and ElementTree raise on data they cannot read: never a 500
_DATA_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    LookupError,
    RecursionError,
)


@dataclass
class ParsedTrack:
    """Timed points of one upload.

    ``points`` has columns ``lon``, ``lat`` (WGS 84), ``time`` (tz-aware UTC), ``accuracy`` (metres,
    NaN if unknown) and ``source_index`` (position in the file), sorted by time.
    """

    points: pd.DataFrame
    format: str
    name: str | None = None
    warnings: list[str] = field(default_factory=list)


def read_geolife_plt(path: Any) -> pd.DataFrame:
    """A Microsoft GeoLife ``.plt`` trajectory (6 header lines; lat, lon, 0, altitude, days,
    date, time in UTC) as lon, lat, time, accuracy: the real tracks benchmarks and tests read
    in place from ../shared/data (never uploaded, so not a format :func:`parse_track` takes)."""
    df = pd.read_csv(path, skiprows=6, header=None, usecols=[0, 1, 5, 6])
    t = pd.to_datetime(df[5] + " " + df[6], utc=True)
    return pd.DataFrame({"lon": df[1], "lat": df[0], "time": t, "accuracy": np.nan})


def read_limited(
    stream: BinaryIO,
    max_bytes: int = DEFAULT_MAX_BYTES,
    chunk: int = 1 << 20,
    too_large: str = "file too large: more than",
) -> bytes:
    """Read a binary stream in chunks; raise InputError as soon as more than ``max_bytes`` arrive.

    Lets the API refuse an oversized upload without holding all of it in memory, and stops an
    unpacked archive (a zip bomb) early. ``too_large`` starts the error message.
    """
    parts: list[bytes] = []
    total = 0
    while True:
        block = stream.read(chunk)
        if not block:
            break
        total += len(block)
        if total > max_bytes:
            raise InputError(f"{too_large} {max_bytes:,} bytes (limit)")
        parts.append(block)
    return b"".join(parts)


def parse_track(
    data: bytes,
    filename: str | None = None,
    crs: str = "wgs84",
    max_bytes: int = DEFAULT_MAX_BYTES,
    default_tz: str = DEFAULT_TZ,
) -> ParsedTrack:
    """Parse one uploaded track file; the format comes from the extension, checked by sniffing.

    Times without a zone are taken as ``default_tz`` (local time of the city), except in
    GPX, whose standard says its times are UTC. ``crs`` is the
    datum of the coordinates (wgs84, gcj02, bd09 or EPSG); output is always WGS 84.
    """
    if len(data) > max_bytes:
        raise InputError(f"file too large: {len(data):,} bytes, limit {max_bytes:,}")
    crs_name = normalize_crs(crs)
    if not data.strip():
        raise InputError("empty file: no points")
    kmz = data[:4] == b"PK\x03\x04"  # a zip: the KML inside it
    if kmz:
        data = _kml_from_kmz(data, max_bytes)
    fmt = "xml" if kmz else _detect_format(data, filename)
    try:
        if fmt == "xml":
            raw, fmt = _parse_xml(data, kmz)
        elif fmt == "geojson":
            raw = _parse_geojson(_decode(data))
        else:
            raw = _parse_csv(_decode(data))
        # GPX times are UTC by the standard (GPX 1.0/1.1: "in Universal Coordinated Time,
        # not local time"), so a GPX time written without a zone is UTC; other formats are
        # phone exports in the city's local time
        zone = raw.zone or ("UTC" if fmt == "gpx" else default_tz)
        return _finish(raw, fmt, crs_name, zone)
    except _DATA_ERRORS as exc:
        # a library choking on odd data is still a bad file (4xx), not a server error
        what = "GPX/KML" if fmt == "xml" else fmt.upper()
        raise InputError(f"{what} file could not be read: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters, for the user."""
    text = (str(exc) or type(exc).__name__).strip().splitlines()[0]
    return text[:200]


@dataclass
class _Raw:
    lon: list[Any]
    lat: list[Any]
    time: list[Any]
    accuracy: list[Any]
    name: str | None = None
    warnings: list[str] = field(default_factory=list)
    # the zone of times written without one, when the file says it (a "time(UTC)" header)
    zone: str | None = None


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return True
    ctrl = sum(1 for b in head if b < 9 or 13 < b < 32)
    return ctrl > len(head) * 0.05


def _detect_format(data: bytes, filename: str | None) -> str:
    if _looks_binary(data):
        raise InputError("file looks binary (not GPX, KML, KMZ, GeoJSON or CSV)")
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    sniffed = "xml" if head == b"<" else "geojson" if head in (b"{", b"[") else "csv"
    ext = (filename or "").rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    # XML is GPX or KML: its root element tells (see _parse_xml)
    by_ext = {"gpx": "xml", "kml": "xml", "xml": "xml", "geojson": "geojson", "json": "geojson"}
    by_ext = by_ext.get(ext)
    if ext in ("csv", "txt", "tsv"):
        by_ext = "csv"
    if by_ext and by_ext != sniffed and not (by_ext == "csv" and sniffed == "csv"):
        raise InputError(
            f"file '{filename}' has a .{ext} name but its content looks like "
            f"{'GPX' if sniffed == 'xml' else sniffed.upper()}"
        )
    return sniffed


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError("text encoding not recognised (use UTF-8)")


# ----------------------------------------------------------------------------------- GPX
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if "}" in tag else tag


def _parse_xml(data: bytes, kmz: bool = False) -> tuple[_Raw, str]:
    """GPX or KML (``kmz``: unzipped from a KMZ), parsed without DTDs, entities or external
    references (entity bombs, file disclosure); returns the points and the format's name."""
    import defusedxml
    from defusedxml import ElementTree as DET

    # named in errors; the root element decides the format once the XML is parsed
    what = "KMZ" if kmz else "KML" if _KML_ROOT.search(data[:4096]) else "GPX"
    source = _xml_source(data, what)
    try:
        root = DET.fromstring(source, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise InputError(f"{what} rejected: it declares a DTD (not allowed for safety)") from None
    except defusedxml.EntitiesForbidden:
        raise InputError(
            f"{what} rejected: it declares XML entities (not allowed for safety)"
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise InputError(f"{what} rejected: it references external entities") from None
    except DET.ParseError as exc:
        raise InputError(f"malformed or truncated XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # e.g. an encoding expat cannot read
        raise InputError(f"{what} not readable as XML: {_short(exc)}") from None
    tag = _local(root.tag)
    if tag == "kml":
        return _parse_kml(root), "kmz" if kmz else "kml"
    if tag != "gpx" or kmz:
        raise InputError(f"XML root is <{tag}>, not <gpx> or <kml>")
    return _parse_gpx(root), "gpx"


def _xml_source(data: bytes, what: str) -> bytes | str:
    """The XML to parse: ``data`` itself when expat reads its encoding (UTF-8), else the text
    decoded here without its declaration: expat cannot read multi-byte encodings such as the
    GBK that Chinese track apps (两步路, 六只脚) declare."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    m = _XML_DECL.match(body[:_XML_DECL_MAX])
    if m is None:
        return data
    declared = m.group(1).decode("ascii")
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        raise InputError(f"{what} declares an unknown text encoding {declared!r}") from None
    if codec in ("utf-8", "ascii"):
        return data
    if codec in ("gbk", "gb2312", "cp936"):
        codec = "gb18030"  # a superset: files labelled GBK often hold GB18030 characters
    try:
        return body[m.end() :].decode(codec)
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not valid {declared} text: {_short(exc)}") from None


def _parse_gpx(root: Any) -> _Raw:
    """Points of every <trk> and <rte>; a route without times next to timed points is the
    planned route that apps export with the recorded track, so it is left out."""
    parts: list[tuple[str, str | None, list[tuple[Any, Any, str | None]]]] = []
    n_wpt = 0
    for el in root:
        kind = _local(el.tag)
        if kind == "wpt":
            n_wpt += 1
        elif kind in ("trk", "rte"):
            pt_tag = "trkpt" if kind == "trk" else "rtept"
            pts = [
                (pt.get("lon"), pt.get("lat"), _child_text(pt, "time"))
                for pt in el.iter()
                if _local(pt.tag) == pt_tag
            ]
            parts.append((kind, _child_text(el, "name"), pts))
    if not any(pts for _, _, pts in parts):
        if n_wpt:
            raise InputError(f"GPX has only waypoints ({n_wpt}), no track or route points")
        raise InputError("GPX has no track or route points")
    timed = [any(t for _, _, t in pts) for _, _, pts in parts]
    raw = _Raw([], [], [], [])
    if any(timed):
        planned = [p for p, k in zip(parts, timed, strict=True) if p[0] == "rte" and not k]
        if planned:
            n = sum(len(p[2]) for p in planned)
            raw.warnings.append(f"{n} route points without times (a planned route) ignored")
        parts = [p for p in parts if not any(p is q for q in planned)]
    for _, name, pts in parts:
        if raw.name is None:
            raw.name = name
        for lon, lat, t in pts:
            raw.lon.append(lon)
            raw.lat.append(lat)
            raw.time.append(t)
            raw.accuracy.append(np.nan)
    return raw


def _child_text(el: Any, name: str) -> str | None:
    for ch in el:
        if _local(ch.tag) == name:
            return (ch.text or "").strip() or None
    return None


# ------------------------------------------------------------------------------- KML, KMZ
def _kml_from_kmz(data: bytes, max_bytes: int) -> bytes:
    """The KML inside a KMZ (a zip: doc.kml, else its first .kml), unpacked at most
    ``max_bytes`` (the upload limit) whatever the archive claims, so a zip bomb stops early."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".kml")]
            if not names:
                raise InputError("zip archive without a .kml file: not a KMZ track")
            name = "doc.kml" if "doc.kml" in names else names[0]
            with zf.open(name) as fh:
                return read_limited(fh, max_bytes, too_large="KMZ unpacks to more than")
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InputError(f"broken or unsupported KMZ (zip) file: {exc}") from None


def _parse_kml(root: Any) -> _Raw:
    """Recorded tracks in KML: ``gx:Track`` (a <when> per <gx:coord>, as Google Earth and most
    track apps write them) and timed Placemark points (<TimeStamp><when>). A LineString has no
    times: it is a drawn route, not a recorded walk."""
    raw = _Raw([], [], [], [])
    lines = 0
    for el in root.iter():
        kind = _local(el.tag)
        if kind == "Track":
            whens = [(c.text or "").strip() for c in el if _local(c.tag) == "when"]
            coords = [(c.text or "").split() for c in el if _local(c.tag) == "coord"]
            if len(whens) != len(coords):
                raise InputError(f"KML track has {len(coords)} coordinates but {len(whens)} times")
            for c, t in zip(coords, whens, strict=True):
                if len(c) < 2:
                    raise InputError(f"KML coordinate {' '.join(c)!r} is not 'lon lat [alt]'")
                raw.lon.append(c[0])
                raw.lat.append(c[1])
                raw.time.append(t or None)
                raw.accuracy.append(np.nan)
        elif kind == "Placemark":
            if raw.name is None:
                raw.name = _child_text(el, "name")
            point = next((c for c in el.iter() if _local(c.tag) == "Point"), None)
            stamp = next((c for c in el.iter() if _local(c.tag) == "TimeStamp"), None)
            if point is not None and stamp is not None:
                xy = (_child_text(point, "coordinates") or "").split(",")
                if len(xy) < 2:
                    raise InputError("KML point has no 'lon,lat' coordinates")
                raw.lon.append(xy[0])
                raw.lat.append(xy[1])
                raw.time.append(_child_text(stamp, "when"))
                raw.accuracy.append(np.nan)
        elif kind == "LineString":
            lines += 1
    if not raw.lon:
        if lines:
            raise InputError(
                f"KML has {lines} line(s) without times (a drawn route, not a recorded track): "
                "export the track with times (gx:Track) or as GPX"
            )
        raise InputError("KML has no track (gx:Track) or timed points")
    return raw


# -------------------------------------------------------------------------------- GeoJSON
def _parse_geojson(text: str) -> _Raw:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply to be a GeoJSON track") from None
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        feats = obj.get("features") or []
    elif isinstance(obj, dict) and obj.get("type") == "Feature":
        feats = [obj]
    elif isinstance(obj, dict) and ("coordinates" in obj or obj.get("type") == _GC):
        feats = [{"type": "Feature", "geometry": obj, "properties": {}}]
    elif isinstance(obj, list) and obj and all(isinstance(f, dict) for f in obj):
        feats = obj  # a bare list of Features, as some exporters write them
    else:
        raise InputError("JSON is not a GeoJSON Feature, FeatureCollection or geometry")
    raw = _Raw([], [], [], [])
    for f in feats:
        if not isinstance(f, dict):
            continue
        geom = f.get("geometry")
        props = f.get("properties")
        props = props if isinstance(props, dict) else {}
        if raw.name is None and isinstance(props.get("name"), str):
            raw.name = props["name"]
        if isinstance(geom, dict):
            _add_geometry(raw, geom, props)
    if not raw.lon:
        raise InputError("GeoJSON has no Point or LineString features: no points")
    return raw


_GC = "GeometryCollection"


def _add_geometry(raw: _Raw, geom: dict[str, Any], props: dict[str, Any]) -> None:
    """Points of one geometry with their times: a Point's from its properties, a line's or a
    MultiPoint's from a list in the properties or a 4th coordinate; a GeometryCollection's
    members in turn (they share the feature's properties)."""
    gtype = geom.get("type")
    coords = geom.get("coordinates")
    if gtype == "Point":
        t = next((props[k] for k in _POINT_TIME_KEYS if k in props), None)
        _add_coords(raw, [coords], [t], props)
    elif gtype in ("LineString", "MultiLineString", "MultiPoint"):
        lines = list(coords or []) if gtype == "MultiLineString" else [coords]
        times = next((props[k] for k in _GEOJSON_TIME_KEYS if k in props), None)
        flat = [c for line in lines for c in (line or [])]
        if isinstance(times, list) and times and isinstance(times[0], list):
            times = [t for part in times for t in part]
        if not isinstance(times, list):
            # Coordinates may carry the time as a 4th value (x, y, z, t).
            times = [c[3] if isinstance(c, list) and len(c) > 3 else None for c in flat]
        if len(times) != len(flat):
            raise InputError(f"GeoJSON line has {len(flat)} coordinates but {len(times)} times")
        _add_coords(raw, flat, times, props)
    elif gtype == _GC:
        for member in geom.get("geometries") or []:
            if isinstance(member, dict):
                _add_geometry(raw, member, props)


def _add_coords(raw: _Raw, coords: list[Any], times: list[Any], props: dict[str, Any]) -> None:
    acc = next((props[k] for k in _ACC_NAMES if k in props), np.nan)
    for c, t in zip(coords, times, strict=True):
        if not isinstance(c, list | tuple) or len(c) < 2:
            raise InputError(f"GeoJSON coordinate {c!r} is not [lon, lat]")
        raw.lon.append(c[0])
        raw.lat.append(c[1])
        raw.time.append(t)
        raw.accuracy.append(acc if np.isscalar(acc) else np.nan)


# ------------------------------------------------------------------------------------ CSV
def _parse_csv(text: str) -> _Raw:
    try:
        header = text.split("\n", 1)[0]
        sep = next((c for c in ("\t", ";", ",", "|") if c in header), ",")
        # the C parser with a known separator is ~10× faster than sniffing
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv_error()) as exc:
        raise InputError(f"malformed CSV: {exc}") from None
    cols: dict[str, Any] = {}
    for c in df.columns:
        cols.setdefault(_header_key(c), c)

    def pick(names: tuple[str, ...]) -> Any:
        return next((cols[k] for k in map(_header_key, names) if k in cols), None)

    lon_c, lat_c, time_c, date_c, acc_c = (
        pick(n) for n in (_LON_NAMES, _LAT_NAMES, _TIME_NAMES, _DATE_NAMES, _ACC_NAMES)
    )
    found = ", ".join(map(str, df.columns))
    if lon_c is None or lat_c is None:
        raise InputError(f"CSV needs lon/lat (经度/纬度) columns; found: {found}")
    if time_c is None and date_c is None:
        raise InputError(f"CSV has no time column (time/timestamp/时间); found: {found}: no times")
    if df.empty:
        raise InputError("CSV has a header but no points")
    acc = df[acc_c].tolist() if acc_c is not None else [np.nan] * len(df)
    times = _csv_times(df, time_c, date_c)
    named = " ".join(str(c).lower() for c in (time_c, date_c) if c is not None)
    zone = "UTC" if _UTC_HEADER_RE.search(named) else None
    return _Raw(df[lon_c].tolist(), df[lat_c].tolist(), times, acc, zone=zone)


def _header_key(name: Any) -> str:
    """A header cell as a lookup key: case, spaces, ``_``/``-`` and a trailing unit such as
    (米), (°) or (m) ignored, so ``经度(度)``, ``Date Time`` and ``loc_time`` match their names."""
    key = str(name)[:200].lstrip("\ufeff").strip().lower()
    key = _UNIT_RE.sub("", key).rstrip() or key
    return re.sub(r"[\s_\-]+", "", key)


def _csv_times(df: pd.DataFrame, time_c: Any, date_c: Any) -> list[Any]:
    """The time of each row: a time-of-day column (时间 09:00:00) is joined to the date column
    (日期) so the fixes land on their own day, not on today's."""
    if time_c is None:  # only a date column: usable when it holds date-times
        dates = df[date_c].dropna().astype(str)
        if not dates.str.contains(r":|^\s*\d{9,}(?:\.\d*)?\s*$", regex=True).all():
            raise InputError(
                f"CSV has dates ({date_c}) but no time column (time/时间): no times of day"
            )
        return df[date_c].tolist()
    times = df[time_c]
    if date_c is None or date_c == time_c:
        return times.tolist()
    tod = times.str.strip().str.fullmatch(_TOD_RE).fillna(False).to_numpy(bool)
    if not tod.any():
        return times.tolist()
    joined = df[date_c].str.strip() + " " + times.str.strip()
    return times.where(~tod, joined).tolist()


def csv_error() -> type[Exception]:
    import csv

    return csv.Error


# ---------------------------------------------------------------------------- finishing
def _to_float(values: list[Any]) -> np.ndarray:
    """Numbers of ``values``; NaN where a value is missing or not a number."""
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)


def parse_times(values: list[Any], default_tz: str = DEFAULT_TZ) -> pd.Series:
    """Times as tz-aware UTC; NaT where missing. ISO 8601 and the usual local forms, compact
    ``yyyymmddHHMMSS``, or epoch seconds / ms / µs / ns (told apart by magnitude).

    A time without a zone is local time in ``default_tz``. A time of day without a date is
    refused: it would silently land on today. Values whose epoch would overflow come out as
    a time after 2100, which :func:`_finish` drops as an impossible clock.

    Plain Python over the values where pandas' string accessors would run (strip, the zone
    test) and one assignment per kind into a numpy array: pandas spent ~11 ms on a
    1,300-fix phone track here, most of the parse time of an upload (now ~3 ms).
    """
    n = len(values)
    texts = ["" if _missing(v) else str(v).strip() for v in values]
    present = np.fromiter((t != "" for t in texts), dtype=bool, count=n)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if not present.any():
        return _utc_series(out)
    where = np.flatnonzero(present)
    text = [texts[i] for i in where]
    if _is_number(text[0]):
        if all(_COMPACT_RE.fullmatch(t) for t in text):
            text = [_COMPACT_RE.sub(r"\1-\2-\3 \4:\5:\6\7", t) for t in text]
        else:
            epoch = _epoch_ns(text)
            if epoch is not None:
                out[where] = epoch
                return _utc_series(out)
    text = _normalise_dates(text)
    zoned = np.fromiter((_ZONE_RE.search(t) is not None for t in text), dtype=bool, count=len(text))
    try:
        if zoned.any():
            z = pd.to_datetime(
                [t for t, k in zip(text, zoned, strict=True) if k], utc=True, format="ISO8601"
            )
            out[where[zoned]] = _naive_utc(z)
        if not zoned.all():
            local = pd.to_datetime(
                [t for t, k in zip(text, zoned, strict=True) if not k], format="mixed"
            )
            if local.tz is None:  # a zone pandas found itself ("… UTC") is kept
                local = local.tz_localize(default_tz, ambiguous="NaT", nonexistent="shift_forward")
            out[where[~zoned]] = _naive_utc(local)
    except (ValueError, TypeError, OverflowError) as exc:
        msg = _short(exc)
        if "tz" in msg or "zone" in msg:  # pandas' words on zones mean nothing to a user
            msg = f"mixed or unknown time zones, e.g. {text[0]!r}"
        raise InputError(
            f"time values not understood (use ISO 8601 or epoch seconds): {msg}"
        ) from None
    return _utc_series(out)


def _epoch_ns(text: list[str]) -> np.ndarray | None:
    """Epoch numbers as datetime64[ns] UTC, or None when some value is not a number. The unit
    follows the typical magnitude (the median, so one stray value does not decide it):
    seconds below 1e11, ms below 1e14, µs below 1e17, else ns."""
    num = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce")
    if not num.notna().all():
        return None
    vals = num.to_numpy(float)
    finite = np.isfinite(vals)
    if not finite.any():
        return None
    mag = float(np.median(np.abs(vals[finite])))  # inf is clipped below: out of range
    unit, per_s = next((u, f) for u, f, top in _EPOCH_UNITS if mag < top)
    limit = _MAX_EPOCH_S * per_s  # beyond year 2255: kept out of range, not an overflow
    if pd.api.types.is_integer_dtype(num):
        ints = np.clip(num.to_numpy(np.int64), -limit, limit)
        return (ints * (10**9 // per_s)).astype("datetime64[ns]")
    vals = np.clip(np.nan_to_num(vals, nan=limit), -limit, limit)
    return pd.to_datetime(vals, unit=unit).as_unit("ns").to_numpy()


_MAX_EPOCH_S = 9_000_000_000
_EPOCH_UNITS = (("s", 1, 1e11), ("ms", 10**3, 1e14), ("us", 10**6, 1e17), ("ns", 10**9, np.inf))


def _normalise_dates(text: list[str]) -> list[str]:
    """Rewrite the local forms pandas misreads or guesses per value: 2026年11月23日,
    上午/下午, an hour-only offset (+08), and dd/mm/yyyy vs mm/dd/yyyy (one order for the whole
    file); a time of day without a date is refused. Year-first dates (2026/11/05) need
    nothing: pandas reads them year/month/day. Each rewrite runs only when some value needs it,
    so ISO and Excel-style tracks pay a few cheap scans."""
    if any("年" in t for t in text):
        text = [_CN_DATE_RE.sub(r"\1-\2-\3 ", t).strip() for t in text]
    if any("午" in t for t in text):
        text = [_CN_AMPM_RE.sub(_ampm, t) for t in text]
    if any(t[-3:-2] in ("+", "-") for t in text):
        text = [_HOUR_ZONE_RE.sub(r"\1\2:00", t) for t in text]
    sample = next((t for t in text if len(t) < 19 and _TOD_RE.fullmatch(t)), None)
    if sample is not None:
        raise InputError(
            f"time {sample!r} has no date: add a date column (日期/date) "
            "or write full date-times such as 2026-11-23 08:00:00"
        )
    if any(t[1:2] in _DATE_SEPS or t[2:3] in _DATE_SEPS for t in text):
        text = _day_month_order(text)
    return text


_DATE_SEPS = ("/", ".", "-")


def _ampm(m: re.Match[str]) -> str:
    return f"{m.group(2)} {'AM' if m.group(1) == '上午' else 'PM'}"


def _day_month_order(text: list[str]) -> list[str]:
    """dd/mm/yyyy or mm/dd/yyyy as yyyy-mm-dd, one order for the whole file: a first field
    over 12 means day first, a second one over 12 month first; if no value decides it, the
    file is refused rather than read half one way and half the other."""
    s = pd.Series(text, dtype=object)
    parts = s.str.extract(_DMY_RE)
    has = parts[0].notna().to_numpy()
    if not has.any():
        return text
    a = parts.loc[has, 0].astype(int)
    b = parts.loc[has, 2].astype(int)
    day_first, month_first = bool((a > 12).any()), bool((b > 12).any())
    if day_first and month_first:
        x, y = s[has][(a > 12).to_numpy()].iloc[0], s[has][(b > 12).to_numpy()].iloc[0]
        raise InputError(f"dates mix day/month orders: {x!r} is day first, {y!r} month first")
    if not (day_first or month_first) and (a != b).any():
        ex = s[has][(a != b).to_numpy()].iloc[0]
        i, j = int(a[a != b].iloc[0]), int(b[a != b].iloc[0])
        year = parts.loc[has, 3][(a != b).to_numpy()].iloc[0]
        raise InputError(
            f"ambiguous dates such as {ex!r}: {year}-{j:02d}-{i:02d} (day/month) or "
            f"{year}-{i:02d}-{j:02d} (month/day), and no date in the file tells which: "
            "write dates as yyyy-mm-dd"
        )
    day, month = (a, b) if day_first else (b, a)
    iso = parts.loc[has, 3] + "-" + month.map("{:02d}".format) + "-" + day.map("{:02d}".format)
    s[has] = iso + parts.loc[has, 4].fillna("")
    return s.tolist()


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NaT or v is pd.NA


def _is_number(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


def _naive_utc(times: Any) -> np.ndarray:
    """datetime64[ns] UTC values of tz-aware ``times`` (an index or a series)."""
    idx = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)
    return idx.as_unit("ns").to_numpy()


def _utc_series(ns: np.ndarray) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(ns).tz_localize("UTC"))


def _finish(raw: _Raw, fmt: str, crs_name: str, default_tz: str) -> ParsedTrack:
    n = len(raw.lon)
    times = parse_times(raw.time, default_tz)
    timed = times.notna().to_numpy()
    warnings = list(raw.warnings)
    if not timed.any():
        raise InputError(
            f"{fmt.upper()} points have no times ({n} points): cannot place the track in time"
        )
    if timed.sum() < MIN_TIMED_SHARE * n:
        raise InputError(
            f"only {int(timed.sum())} of {n} points have times: no times for most points"
        )
    keep, lon, lat = _usable_rows(raw, times, timed, warnings)
    idx = np.flatnonzero(keep)
    lon, lat = lon[idx], lat[idx]
    acc = pd.to_numeric(pd.Series([raw.accuracy[i] for i in idx], dtype=object), errors="coerce")
    projected = _is_projected(crs_name)
    if not projected:  # metres of a projected CRS are checked once converted
        _check_range(lon, lat)
    elif (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all():
        raise InputError(
            f"coordinates look like longitude/latitude, not metres of the projected CRS "
            f"{crs_name} (e.g. {lon[0]:.10g}, {lat[0]:.10g}): use wgs84, gcj02 or bd09"
        )
    try:
        lon, lat = lonlat_to_wgs84(lon, lat, crs_name)
    except ProjError as exc:
        raise InputError(f"cannot convert from CRS {crs_name} to WGS 84: {exc}") from None
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise InputError(f"coordinates are not valid in CRS {crs_name}")
    if projected and ((np.abs(lon) > 180).any() or (np.abs(lat) > 90).any()):
        raise InputError(f"coordinates are not valid in CRS {crs_name}")
    pts = pd.DataFrame(
        {
            "lon": np.asarray(lon, float),
            "lat": np.asarray(lat, float),
            "time": times.iloc[idx].reset_index(drop=True),
            "accuracy": acc.to_numpy(float),
            "source_index": idx.astype(np.int64),
        }
    )
    if not pts["time"].is_monotonic_increasing:  # tracks or fixes out of order: by time
        pts = pts.sort_values(["time", "source_index"], kind="stable").reset_index(drop=True)
    return ParsedTrack(points=pts, format=fmt, name=raw.name, warnings=warnings)


def _usable_rows(
    raw: _Raw, times: pd.Series, timed: np.ndarray, warnings: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows to keep: timed, with numeric coordinates, not at 0,0 (a phone's "no fix") and not
    before 1990 or after 2100 (a clock not yet set). A few such rows in a walk are dropped
    with a warning, as untimed ones are; a file made mostly of them is refused. Returns the
    mask and every row's coordinates as numbers (NaN where not a number)."""
    n = len(timed)
    lon, lat = _to_float(raw.lon), _to_float(raw.lat)
    no_xy = timed & ~(np.isfinite(lon) & np.isfinite(lat))
    no_fix = timed & ~no_xy & (lon == 0) & (lat == 0)
    years = times.dt.year.to_numpy(float, na_value=np.nan)
    bad_t = timed & ~no_xy & ~no_fix & ((years < 1990) | (years > 2100))
    keep = timed & ~no_xy & ~no_fix & ~bad_t
    if keep.sum() < MIN_TIMED_SHARE * n or not keep.any():
        worst = max((no_xy, no_fix, bad_t), key=lambda m: int(m.sum()))
        i = int(np.argmax(worst))
        if worst is no_xy:
            what, v = (
                ("longitude", raw.lon[i]) if not np.isfinite(lon[i]) else ("latitude", raw.lat[i])
            )
            raise InputError(
                f"{what} of point {i + 1} is not a finite number: {v!r} "
                f"({int(no_xy.sum())} of {n} points without coordinates)"
            )
        if worst is no_fix:
            raise InputError(f"{int(no_fix.sum())} of {n} points are at 0,0 (no GPS fix)")
        raise InputError(
            f"time {times.iloc[i]:%Y-%m-%d %H:%M} out of range (before 1990 or after 2100): "
            "invalid device clock or wrong time unit"
        )
    for mask, what in (
        (~timed, "without time"),
        (no_xy, "without coordinates (empty or not a number)"),
        (no_fix, "at 0,0 (no GPS fix)"),
        (bad_t, "with a time before 1990 or after 2100 (device clock not set)"),
    ):
        if mask.any():
            warnings.append(f"{int(mask.sum())} of {n} points {what} dropped")
    return keep, lon, lat


def _is_projected(crs_name: str) -> bool:
    """True for a projected CRS (UTM, Gauss–Krüger): its coordinates are metres, not degrees."""
    if crs_name in (WGS84, "gcj02", "bd09"):
        return False
    from pyproj import CRS

    return not CRS.from_user_input(crs_name).is_geographic


def _check_range(lon: np.ndarray, lat: np.ndarray) -> None:
    out = (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if out.any():
        if (np.abs(lon) <= 90).all() and (np.abs(lat) <= 180).all():
            raise InputError("latitude out of range: lon/lat look swapped (expected lon, lat)")
        i = int(np.argmax(out))
        if max(abs(lon[i]), abs(lat[i])) > 360:  # metres of a projected CRS, not degrees
            raise InputError(
                f"coordinates are not longitude/latitude (e.g. x={lon[i]:.0f}, "
                f"y={lat[i]:.0f}): give their CRS (an EPSG code such as EPSG:32650) "
                "or convert them to WGS 84"
            )
        raise InputError(
            "coordinates out of range (longitude ±180, latitude ±90), "
            f"e.g. lon={lon[i]:.10g}, lat={lat[i]:.10g}"
        )
    # Chinese data with swapped columns: "latitudes" that look like Chinese longitudes.
    if (lat > 73).all() and (lat < 136).all() and (lon > 3).all() and (lon < 54).all():
        raise InputError("lon/lat look swapped: latitudes 73–136 look like longitudes in China")

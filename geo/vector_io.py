"""Read and write vector files: GeoJSON, GeoPackage, Shapefile, KML/KMZ, CSV with lon/lat
columns.

Everything comes out in WGS 84. The CRS of the coordinates is the one given on the command line
(``--crs``), else the one the file declares, else WGS 84. GCJ-02 and BD-09 (Chinese map apps)
are converted with :mod:`geo.crs`; every other CRS with pyproj.
"""

from __future__ import annotations

import contextlib
import io
import json
import numbers
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, geometries_to_wgs84, normalize_crs
from geo.errors import InputError

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".kml", ".kmz"}
#: KML/KMZ (Google Earth, 奥维, GIS exports): every folder (layer) is read, the code of a
#: placemark from its ExtendedData (T46 #17)
KML_SUFFIXES = {".kml", ".kmz"}
CSV_SUFFIXES = {".csv", ".txt"}

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WKT_NAMES = ("wkt", "geometry", "geom", "几何")
#: a buildings file's household count, as importers and the file-mode partition read it
HOUSEHOLD_NAMES = ("households", "household", "hh", "户数")


def pick_column(columns: Iterable[Any], names: Iterable[str]) -> Any:
    """The first of ``names`` among ``columns`` (case and surrounding spaces ignored), as the
    file spells it; None when none is there."""
    lowered = {str(c).strip().lower(): c for c in columns}
    for n in names:
        if n in lowered:
            return lowered[n]
    return None


def csv_text(path: Path, raw: bytes) -> str:
    """A CSV file's text: UTF-8 with or without BOM, or GB18030 as Chinese Excel writes."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(
        f"文件 {path.name} 不是文本 CSV（编码既不是 UTF-8 也不是 GB18030） "
        f"{path.name}: not a text CSV (neither UTF-8 nor GB18030)"
    )


def read_csv_points(path: Path) -> pd.DataFrame:
    """A CSV as a DataFrame (UTF-8 with or without BOM, or GB18030 as Chinese Excel writes)."""
    text = csv_text(path, path.read_bytes())
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        why = str(exc).strip().splitlines()[0]
        raise InputError(
            f"文件 {path.name} 无法作为 CSV 读取（{why}） {path.name}: unreadable CSV ({why})"
        ) from None


def _csv_to_frame(path: Path) -> tuple[gpd.GeoDataFrame, str | None]:
    df = read_csv_points(path)
    if df.empty:
        raise InputError(f"文件 {path.name} 没有数据行 {path.name}: the CSV has no rows")
    cols = list(df.columns)
    lon_col, lat_col = pick_column(cols, LON_NAMES), pick_column(cols, LAT_NAMES)
    wkt_col = pick_column(cols, WKT_NAMES)
    if lon_col is not None and lat_col is not None:
        lon = pd.to_numeric(df[lon_col].str.strip(), errors="coerce")
        lat = pd.to_numeric(df[lat_col].str.strip(), errors="coerce")
        bad = lon.isna() | lat.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # 1-based, after the header
            raise InputError(
                f"文件 {path.name} 第 {row} 行的 {lon_col}/{lat_col} 不是数字 "
                f"{path.name}: row {row} has no numeric {lon_col}/{lat_col}"
            )
        geom = shapely.points(lon.to_numpy(), lat.to_numpy())
        props = df.drop(columns=[lon_col, lat_col])
    elif wkt_col is not None:
        try:
            geom = shapely.from_wkt(df[wkt_col].to_numpy(), on_invalid="raise")
        except shapely.errors.GEOSException as exc:
            raise InputError(
                f"文件 {path.name} 的 {wkt_col} 列 WKT 有误（{exc}） "
                f"{path.name}: bad WKT in column '{wkt_col}' ({exc})"
            ) from None
        props = df.drop(columns=[wkt_col])
    else:
        raise InputError(
            f"文件 {path.name} 没有坐标列：须有 lon/lat（或 经度/纬度）列，或一列 WKT"
            f"（现有的列：{', '.join(map(str, cols))}） "
            f"{path.name}: no coordinate columns: expected lon/lat (or 经度/纬度) or a WKT "
            f"column; found {', '.join(map(str, cols))}"
        )
    frame = gpd.GeoDataFrame(props, geometry=geom, crs=None)
    frame.attrs["columns"] = [str(c) for c in cols]  # the file's own, named in refusals
    if lon_col is not None and lat_col is not None:
        frame.attrs["lonlat"] = (str(lon_col), str(lat_col))  # named if they look swapped
    return frame, None


def read_vector(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file into a WGS 84 GeoDataFrame, validating coordinates.

    ``crs`` (any name :func:`geo.crs.normalize_crs` takes) overrides the file's declaration:
    GCJ-02 data is usually labelled WGS 84 by the apps that write it.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"文件 {path} 不存在 {path}: no such file")
    target_crs = normalize_crs(crs) if crs else None
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        gdf, declared = _csv_to_frame(path)
    elif suffix in VECTOR_SUFFIXES:
        try:
            if suffix in KML_SUFFIXES:
                gdf = _read_kml(path)
            else:
                gdf = gpd.read_file(path, engine="pyogrio")
                gdf = _redecoded_dbf(path, gdf)
        except InputError:
            raise
        except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"文件 {path.name} 无法作为矢量文件读取（{msg}） "
                f"{path.name}: cannot read as a vector file ({msg})"
            ) from None
        declared = gdf.crs.to_string() if gdf.crs is not None else None
    else:
        raise InputError(
            f"文件 {path.name} 的类型 '{suffix}' 不支持，"
            "请用 GeoJSON、GeoPackage、Shapefile 或 CSV "
            f"{path.name}: unsupported file type '{suffix}': use GeoJSON, GeoPackage, "
            "Shapefile or CSV"
        )
    if gdf.empty:
        raise InputError(f"文件 {path.name} 没有要素 {path.name}: the file has no features")
    source = target_crs or (normalize_crs(declared) if declared else WGS84)
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        first = int(np.flatnonzero(missing)[0]) + 1
        raise InputError(
            f"文件 {path.name} 的第 {first} 个要素没有几何图形 "
            f"{path.name}: feature {first} has no geometry"
        )
    swapped = swapped_axes(path.name, geoms, source, gdf.attrs.get("lonlat"))
    if swapped is not None:
        raise swapped
    out = geometries_to_wgs84(geoms, source)
    coords = shapely.get_coordinates(out)
    if not np.isfinite(coords).all():
        raise InputError(
            f"文件 {path.name} 的坐标含 NaN 或无穷大 "
            f"{path.name}: coordinates contain NaN or infinity"
        )
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        if target_crs is None and (declared is None or source == WGS84):
            # WHY (T46 #13): a shapefile without its .prj, no --crs given, was told "--crs 是否
            # 写对了？" as if one had been given: say what is missing and what to give. (T70
            # #19) a GeoJSON without a crs member is read as WGS 84 (RFC 7946), so it
            # "declares" it: it was told of "converting from EPSG:4326" and no CRS to try
            raise _undeclared_metres(path, coords, declared is not None)
        raise InputError(
            f"文件 {path.name} 从 {source} 换算后坐标超出经纬度范围：--crs 是否写对了？ "
            f"{path.name}: coordinates outside longitude/latitude range after converting from "
            f"{source}: is --crs right?"
        )
    result = gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name), geometry=out, crs=WGS84)
    if "columns" in gdf.attrs:
        result.attrs["columns"] = gdf.attrs["columns"]
    # how the file was read, for a caller's checks and warnings: the CRS converted from and
    # whether --crs named it, what the reader guessed (e.g. a .dbf's encoding)
    result.attrs["source_crs"] = source
    result.attrs["crs_given"] = target_crs is not None
    result.attrs["warnings"] = list(gdf.attrs.get("warnings", []))
    return result


def _undeclared_metres(path: Path, coords: np.ndarray, wgs84: bool = False) -> InputError:
    """The refusal of a file that declares no CRS (a shapefile without its .prj, a CSV), or
    only WGS 84 (``wgs84``: a GeoJSON, read so by RFC 7946), and whose coordinates are not
    degrees, no --crs given (T46 #13, T70 #19). Eastings with a 3-degree zone number in
    front (39 500 000 m: zone 39, CM 117°E) name their CRS; else the usual CGCS2000 3-degree
    zones are named by city."""
    x0, y0 = float(coords[0, 0]), float(coords[0, 1])
    x, y = f"{x0:.10g}", f"{y0:.10g}"
    if wgs84 and path.suffix.lower() in {".geojson", ".json"}:
        what_zh, what = (
            "未声明其他坐标系（GeoJSON 按 WGS-84 经纬度读）",
            "declares no other CRS (a GeoJSON is read as WGS-84 longitude/latitude)",
        )
    elif wgs84:
        what_zh, what = "声明的坐标系是 WGS-84（经纬度）", "declares WGS-84 (longitude/latitude)"
    elif path.suffix.lower() in {".shp", ".zip"}:
        what_zh, what = "没有 .prj 文件（未声明坐标系）", "has no .prj (declares no CRS)"
    else:
        what_zh, what = "未声明坐标系", "declares no CRS"
    zones = np.floor(coords[:, 0] / 1e6)
    zone = int(zones[0])
    if 25 <= zone <= 45 and (zones == zone).all():  # CGCS2000 3-degree GK with zone number
        epsg = 4513 + zone - 25
        hint_zh = (
            f"东坐标前两位 {zone} 像是 3度带带号（中央经线 {zone * 3}°E），"
            f"多半是 CGCS2000 EPSG:{epsg}，即 --crs EPSG:{epsg}"
        )
        hint = (
            f"eastings starting with {zone} look like 3-degree zone {zone} (CM {zone * 3}E): "
            f"most likely CGCS2000 EPSG:{epsg}, i.e. --crs EPSG:{epsg}"
        )
    else:
        hint_zh = (
            "如北京 EPSG:4548（CGCS2000 3度带，中央经线 117°E）；其他城市按所在中央经线选："
            "114°E 为 EPSG:4547，120°E 为 EPSG:4549"
        )
        hint = (
            "e.g. EPSG:4548 (CGCS2000 3-degree Gauss-Kruger CM 117E) for Beijing; elsewhere "
            "the zone of the city's central meridian: EPSG:4547 for 114E, EPSG:4549 for 120E"
        )
    return InputError(
        f"文件 {path.name} {what_zh}，坐标（如 {x}, {y}）不是经纬度，像是平面坐标（米）："
        f"请用 --crs 指定其坐标系，{hint_zh}；未导入任何数据 "
        f"{path.name} {what} and its coordinates (e.g. {x}, {y}) are not degrees but look "
        f"projected (metres): give its CRS with --crs, {hint}; nothing was imported"
    )


def _read_kml(path: Path) -> gpd.GeoDataFrame:
    """A KML or KMZ, every folder (layer) in one frame, names in ``Name``, ExtendedData as
    columns. WHY the KML inside a KMZ is read through /vsizip/: GDAL's LIBKML reading the
    KMZ itself dropped the ExtendedData (the 代码 column) of a GIS tool's export (T46 #17)."""
    import warnings
    import zipfile

    import pyogrio

    source = str(path)
    if path.suffix.lower() == ".kmz":
        try:
            with zipfile.ZipFile(path) as zf:
                inner = [n for n in zf.namelist() if n.lower().endswith(".kml")]
        except zipfile.BadZipFile:
            raise InputError(
                f"文件 {path.name} 不是有效的 KMZ（不是 zip 压缩包） "
                f"{path.name}: not a valid KMZ (not a zip archive)"
            ) from None
        if not inner:
            raise InputError(
                f"文件 {path.name} 中没有 .kml 文件 {path.name}: the KMZ holds no .kml file"
            )
        # doc.kml by convention, else the first at the top level
        main = min(inner, key=lambda n: (n.lower() != "doc.kml", n.count("/"), n))
        source = f"/vsizip/{path}/{main}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = [str(row[0]) for row in pyogrio.list_layers(source)]
        frames = [gpd.read_file(source, engine="pyogrio", layer=layer) for layer in layers]
    frames = [f for f in frames if not f.empty] or frames[:1]
    if len(frames) == 1:
        gdf = frames[0]
    else:
        gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    # KML coordinates carry an altitude (often 0): stored outlines are flat
    gdf = gdf.set_geometry(shapely.force_2d(np.asarray(gdf.geometry.to_numpy(), dtype=object)))
    return gdf


# GDAL's reading of a .dbf that names no encoding (no .cpg, language driver 0)
_DEFAULT_DBF_ENCODINGS = {"iso-8859-1", "latin1", "latin-1", "cp1252", "cp437"}


def _has_cpg(path: Path) -> bool:
    """Whether the shapefile ``path`` (a .shp, or a zip holding one) has a .cpg beside it."""
    import zipfile

    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                return any(n.lower().endswith(".cpg") for n in zf.namelist())
        except zipfile.BadZipFile:
            return False
    return any(p.suffix.lower() == ".cpg" and p.stem == path.stem for p in path.parent.iterdir())


def _redecoded_dbf(path: Path, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` read again in the encoding its .dbf is really written in, with a warning, when
    GDAL read it as Latin-1 (the .dbf names no encoding) and its text is UTF-8 or GBK: Chinese
    GIS offices write GBK .dbf files, often without a .cpg. Else ``gdf`` as it is, with a
    warning when GBK cannot be ruled out.

    WHY (T46 #3, #11): such a file was read as Latin-1 and its names stored as mojibake
    (``¾²ÊçÔ·ÉçÇø`` for 静淑苑社区), its Chinese field names (``´úÂë`` for 代码) refused as
    missing with no cause given. The bytes are told by decoding them: UTF-8 first (strict
    UTF-8 is rarely valid by chance), then GBK, judged by :func:`_gbk_evidence` and
    :func:`_latin_evidence`. WHY not any GBK reading holding Chinese (T48 #3): a Latin-1
    ``Crème Brûlée`` is valid GBK too (``Cr鑝e Br鹟閑``: each accented letter and the ASCII
    letter after it make one GBK character) and was stored so."""
    import warnings

    import pyogrio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = pyogrio.read_info(path)
    except Exception:  # noqa: BLE001 (read already; this only refines it)
        return gdf
    if info.get("driver") != "ESRI Shapefile":
        return gdf
    read_as = str(info.get("encoding") or "").lower()
    if read_as not in _DEFAULT_DBF_ENCODINGS:
        return gdf
    texts = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    for col in gdf.columns:
        kind = gdf[col].dtype
        if col != gdf.geometry.name and (
            pd.api.types.is_object_dtype(kind) or pd.api.types.is_string_dtype(kind)
        ):
            texts += [v for v in gdf[col].tolist() if isinstance(v, str)]
    odd = [t for t in texts if not t.isascii()]
    if not odd or any(_has_cjk(t) for t in odd):
        return gdf
    try:
        raw = [t.encode(read_as) for t in odd]
    except (UnicodeEncodeError, LookupError):
        return gdf
    cpg = f"{info.get('layer_name') or Path(path).stem}.cpg"
    has_cpg = _has_cpg(path)
    for enc, gdal_enc in (("utf-8", "UTF-8"), ("gb18030", "GB18030")):
        try:
            decoded = [b.decode(enc) for b in raw]
        except UnicodeDecodeError:
            continue
        if not any(_has_cjk(t) for t in decoded):
            continue
        if enc == "gb18030" and not (_gbk_evidence(raw) and not _latin_evidence(odd)):
            if _latin_evidence(odd) and not _gbk_evidence(raw):
                return gdf  # Latin text with accents (Crème Brûlée): as GDAL read it
            gdf.attrs["warnings"] = [_unsure_gbk(path.name, cpg, has_cpg, odd, decoded)]
            return gdf
        again = gpd.read_file(path, engine="pyogrio", encoding=gdal_enc)
        name_zh = "GBK" if enc == "gb18030" else "UTF-8"
        said = "、".join(decoded[:2])
        if has_cpg:
            why_zh, why = f"其 {cpg} 所注的编码读出来是乱码", f"its {cpg} names the wrong encoding"
        else:
            why_zh, why = f"没有 {cpg}，未声明编码", f"it has no {cpg} (declares no encoding)"
        again.attrs["warnings"] = [
            f"文件 {path.name} 的属性表（.dbf）{why_zh}：按 Latin-1 读是乱码，"
            f"按 {name_zh} 读才是中文（如 {said}），已按 {name_zh} 读入；请核对名称，"
            f"并在 .shp 旁（zip 则放进 zip 里）放一个内容为 {name_zh} 的 {cpg} 文件 "
            f"{path.name}: the text of its .dbf reads as mojibake in Latin-1 and as Chinese in "
            f"{name_zh}: {why}; it was read as {name_zh}: check the names, and put a {cpg} "
            f"file containing {name_zh} beside the .shp (inside the zip for a zip)"
        ]
        return again
    return gdf


# GDAL's Latin-1 reading of GBK (¾²ÊçÔ·ÉçÇø) is runs of high characters, many of them
# symbols; Latin text has single accented letters beside ASCII ones (Crème, Müller, Señor)
_ACCENTED = frozenset(chr(c) for c in range(0xC0, 0x100)) - {"\u00d7", "\u00f7"}  # not × ÷
GBK_SHARE = 0.8  # of the high bytes in GB2312 pairs, for the text to be taken as GBK
LATIN_SHARE = 0.5  # of the high characters accented letters beside an ASCII letter: Latin


def _gbk_evidence(raw: list[bytes]) -> bool:
    """Whether the bytes read as GBK Chinese: at least :data:`GBK_SHARE` of the bytes over
    0x7F make GB2312 pairs (both bytes 0xA1–0xFE, the lead at most 0xF7), most of those in
    the hanzi rows (lead 0xB0 on). GBK's own extension pairs (a trail byte under 0xA1, e.g.
    an ASCII letter) hold rare characters; mojibake of Latin-1 makes them all the time."""
    high = pairs = hanzi = 0
    for b in raw:
        i = 0
        while i < len(b):
            if b[i] < 0x80:
                i += 1
                continue
            if 0xA1 <= b[i] <= 0xF7 and i + 1 < len(b) and 0xA1 <= b[i + 1] <= 0xFE:
                high, pairs, hanzi = high + 2, pairs + 1, hanzi + (b[i] >= 0xB0)
                i += 2
                continue
            high += 1
            i += 1
    return high > 0 and 2 * pairs >= GBK_SHARE * high and 2 * hanzi >= pairs


def _latin_evidence(texts: list[str]) -> bool:
    """Whether the texts (as Latin-1 read them) are plausible Latin-script words: more than
    :data:`LATIN_SHARE` of their non-ASCII characters are accented letters (À–ÿ but × ÷) with
    an ASCII letter right before or after them (Crème, Brûlée, Müller, Café)."""
    high = fits = 0
    for t in texts:
        for i, ch in enumerate(t):
            if ch.isascii():
                continue
            high += 1
            beside = (i > 0 and t[i - 1].isascii() and t[i - 1].isalpha()) or (
                i + 1 < len(t) and t[i + 1].isascii() and t[i + 1].isalpha()
            )
            fits += ch in _ACCENTED and beside
    return fits > LATIN_SHARE * high  # more than half: A区 (AÇø) is not Latin


def _unsure_gbk(name: str, cpg: str, has_cpg: bool, latin: list[str], gbk: list[str]) -> str:
    """The warning for a .dbf read as Latin-1 whose text might be GBK: it is kept as read,
    and the remedy (a .cpg containing GBK) named in case the names are Chinese (T48 #3)."""
    said, said_gbk = "、".join(latin[:2]), "、".join(gbk[:2])
    said_en, said_gbk_en = ", ".join(latin[:2]), ", ".join(gbk[:2])
    if has_cpg:
        how_zh = f"已按其 {cpg} 所注的编码（Latin-1）读入"
        how = f"its text was read in the encoding its {cpg} names (Latin-1)"
        do_zh, do = f"请把 {cpg} 的内容改为 GBK", f"change the content of {cpg} to GBK"
    else:
        how_zh = f"没有 {cpg}，未声明编码，已按 Latin-1 读入"
        how = f"it has no {cpg} (declares no encoding) and its text was read as Latin-1"
        do_zh = f"请在 .shp 旁（zip 则放进 zip 里）放一个内容为 GBK 的 {cpg} 文件"
        do = f"put a {cpg} file containing GBK beside the .shp (inside the zip for a zip)"
    return (
        f"文件 {name} 的属性表（.dbf）{how_zh}（如 {said}）；若名称应为中文"
        f"（按 GBK 读是 {said_gbk}），{do_zh}，再重新导入 "
        f"{name}: {how} (e.g. {said_en}); if the names are Chinese (in GBK: {said_gbk_en}), "
        f"{do} and import again"
    )


def _has_cjk(text: str) -> bool:
    """Whether ``text`` holds a CJK ideograph (the basic block or extension A)."""
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def fields_found(path: str | Path, table: pd.DataFrame) -> tuple[str, str, str]:
    """How a refusal names the fields of ``table`` (read from ``path``) and which it has:
    (列, column, the CSV's own header) for a CSV; (属性, property, the features'
    properties, the geometry left out) for GeoJSON, GeoPackage, Shapefile, FlatGeobuf.
    The list is joined with ", "; "" when there is none.

    WHY: "文件 area_nocode.geojson 缺少 code 列（现有的列：name, geometry）": a GeoJSON
    has no columns but properties, and its geometry is none of them (T41 #6). A shapefile's
    attribute fields are its features' properties too (GIS tools show them in the 属性表)."""
    geometry = table.geometry.name if isinstance(table, gpd.GeoDataFrame) else None
    if Path(path).suffix.lower() in CSV_SUFFIXES:
        names = table.attrs.get("columns") or [c for c in table.columns if c != geometry]
        return "列", "column", ", ".join(map(str, names))
    return "属性", "property", ", ".join(str(c) for c in table.columns if c != geometry)


def swapped_axes(
    name: str, geoms: np.ndarray, source: str, columns: tuple[str, str] | None = None
) -> InputError | None:
    """The refusal of a file in degrees whose coordinates are (lat, lon), not (lon, lat):
    every point lies in China once swapped (as the track reader tells swapped columns), or
    latitudes beyond ±90 are longitudes (every point valid once swapped); else None. WHY: an
    areas file with its axes swapped was refused as "coordinates outside longitude/latitude
    range after converting from EPSG:4326: is --crs right?", which sent the clerk to --crs
    (outside tester T37, F15). ``columns``: a CSV's lon and lat columns, named in the remedy."""
    if normalize_crs(source) not in (WGS84, "gcj02", "bd09"):
        from pyproj import CRS

        if not CRS.from_user_input(source).is_geographic:
            return None  # metres: a swap is no longer told by the range
    xy = shapely.get_coordinates(geoms)
    if not len(xy) or not np.isfinite(xy).all():
        return None  # said below, after converting
    x, y = xy[:, 0], xy[:, 1]
    if ((y > 73) & (y < 136) & (x > 3) & (x < 54)).all():
        why_zh = "读作纬度的值都在 73–136 之间，像是中国的经度；对调后所有坐标都在中国境内"
        why = "latitudes 73–136 look like longitudes in China: swapped, every point is in China"
    elif ((np.abs(x) > 180) | (np.abs(y) > 90)).any() and (
        (np.abs(y) <= 180) & (np.abs(x) <= 90)
    ).all():
        why_zh = "有纬度超出 ±90，对调后所有坐标都是有效的经纬度"
        why = "latitudes beyond ±90: swapped, every point is a valid longitude/latitude"
    else:
        return None
    lon, lat = f"{x[0]:.10g}", f"{y[0]:.10g}"
    if columns is not None:  # a CSV's lon/lat columns
        do_zh = f"请对调 {columns[0]} 与 {columns[1]} 两列的列名（若列名无误，则对调两列的值）"
        do = f"swap the headers of columns {columns[0]} and {columns[1]} (or their values)"
    else:
        do_zh = "请对调每个坐标的经度与纬度（坐标应为经度在前、纬度在后）"
        do = "swap them in every coordinate (longitude first, then latitude)"
    return InputError(
        f"文件 {name} 的经纬度疑似写反（如第 1 个坐标读作经度 {lon}、纬度 {lat}）：{why_zh}。"
        f"{do_zh}后重新导入；未导入任何数据 "
        f"{name}: longitude and latitude look swapped (e.g. the first point reads as lon {lon}, "
        f"lat {lat}): {why}; {do} and import again; nothing was imported"
    )


DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".csv": "CSV"}

# RFC 7946 GeoJSON: WGS 84 lon/lat without a "crs" member (the RFC dropped it), 7 decimals
# (about 1 cm), outer rings counterclockwise
GEOJSON_OPTIONS = {"RFC7946": "YES"}


def _json_value(value: Any) -> Any:
    """A cell as JSON: numpy scalars as Python ones, NaN as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def mixed_type_columns(gdf: pd.DataFrame) -> list[str]:
    """Columns holding both strings and numbers (e.g. ids "s0" and 7). A GDAL field has one
    type, so these come out as text: ``7`` as ``"7"``, which no longer joins back on ``7``."""
    mixed = []
    for col in gdf.columns:
        if col == getattr(gdf, "_geometry_column_name", None) or gdf[col].dtype != object:
            continue
        if not pd.api.types.infer_dtype(gdf[col], skipna=True).startswith("mixed"):
            continue  # one type throughout (the usual case), told without a Python loop
        kinds = set()
        for v in gdf[col].tolist():
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            kinds.add("str" if isinstance(v, str) else "num" if _is_number(v) else "other")
        if kinds == {"str", "num"}:
            mixed.append(col)
    return mixed


def _is_number(value: Any) -> bool:
    """A JSON number: ints and floats, numpy's too, but not true/false."""
    return isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_)


def json_property_values(path: str | Path, values: pd.Series) -> pd.Series:
    """``values`` (the column ``values.name`` as GDAL read it from ``path``) as the GeoJSON
    wrote them, where GDAL's text differs: a property mixing numbers and strings is read as
    text (its JSON subtype), so ``7`` came back as ``"7"`` and a script joining its output on
    its own ids missed it; an object or list is read as its JSON text. Unchanged otherwise:
    the file is parsed a second time only then. The writing side is
    :func:`_restore_json_types`."""
    import warnings

    import pyogrio

    name = str(values.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = pyogrio.read_info(path)
        fields = [str(f) for f in info["fields"]]
        if info.get("driver") != "GeoJSON" or name not in fields:
            return values
        mixed = info["ogr_subtypes"][fields.index(name)] == "OFSTJSON"
        flattened = any(isinstance(v, str) and v.lstrip()[:1] in "{[" for v in values.tolist())
        if not (mixed or flattened):
            return values
        doc = json.loads(Path(path).read_bytes())
    except Exception:  # noqa: BLE001 (GDAL's reading stands; this only refines it)
        return values
    if not isinstance(doc, dict):
        return values
    feats = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    if not isinstance(feats, list) or len(feats) != len(values):
        return values
    found = [(f.get("properties") or {}).get(name) if isinstance(f, dict) else None for f in feats]
    return pd.Series(found, index=values.index, dtype=object, name=values.name)


def _restore_json_types(path: Path, gdf: gpd.GeoDataFrame, columns: list[str]) -> None:
    """Put the values of ``columns`` (:func:`mixed_type_columns`) back into the GeoJSON GDAL
    wrote at ``path`` with their own types: GeoJSON properties, unlike GDAL fields, may mix
    them. GDAL writes every row as one feature, in order."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    features = doc["features"]
    if len(features) != len(gdf):  # not GDAL's usual output: leave it as written
        return
    for col in columns:
        for feature, value in zip(features, gdf[col].tolist(), strict=True):
            feature["properties"][col] = _json_value(value)
    head = json.dumps({k: v for k, v in doc.items() if k != "features"}, ensure_ascii=False)
    rows = ",\n".join(json.dumps(f, ensure_ascii=False) for f in features)
    # one feature per line, as GDAL lays it out
    path.write_text(f'{head[:-1]}, "features": [\n{rows}\n]}}\n', encoding="utf-8")


# what an existing path is when it is not a regular file (English, Chinese), by stat's test
_NOT_REGULAR = (
    (stat.S_ISLNK, "a symbolic link", "符号链接"),
    (stat.S_ISDIR, "a folder", "文件夹"),
    (stat.S_ISCHR, "a character device", "字符设备"),
    (stat.S_ISBLK, "a block device", "块设备"),
    (stat.S_ISFIFO, "a named pipe (FIFO)", "命名管道（FIFO）"),
    (stat.S_ISSOCK, "a socket", "套接字"),
)


def not_regular(path: Path) -> tuple[str, str] | None:
    """What stands at ``path`` when it is neither nothing nor a regular file (a link, a FIFO,
    a device …), in English and Chinese; else None."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # nothing there (or unreachable: the write itself says why)
        return None
    if stat.S_ISREG(mode):
        return None
    found = ((en, zh) for test, en, zh in _NOT_REGULAR if test(mode))
    return next(found, ("not a regular file", "特殊文件"))


def check_replaceable(path: Path) -> None:
    """Refuse (InputError) an existing ``path`` that is not a regular file: the rename of
    :func:`atomic_file` would put a regular file in its place. WHY: an outside tester's
    ``--out /dev/full``, run as root, replaced the device node with a file (T54 #4), and a
    FIFO or a socket a script reads would go the same way.

    A symbolic link is refused too, whatever it points at: the rename replaces the link, not
    its target, so a link's owner would find a file where the link was and the target
    unchanged; following it instead would write wherever the link points (another user's
    file, a device). Refusing is the simple rule that cannot surprise either way."""
    found = not_regular(path)
    if found is None:
        return
    kind, kind_zh = found
    raise InputError(
        f"输出路径 {path} 是{kind_zh}，不是普通文件，不能被覆盖；"
        "请换一个输出路径（新文件或普通文件） "
        f"{path} is {kind}, not a regular file: it cannot be replaced; "
        "choose another output path (a new or a regular file)"
    )


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block ends, it is renamed over
    ``path``. A failed or interrupted write leaves an older file as it was (or none), never a
    half-written one; errors propagate. The one place every written output goes through.

    Only a regular file (or nothing) at ``path`` is replaced: anything else (a device, a
    FIFO, a socket, a folder, a symbolic link) is refused before anything is written
    (:func:`check_replaceable`)."""
    path = Path(path)
    check_replaceable(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        tmp.unlink(missing_ok=True)
        yield tmp
        check_replaceable(path)  # again: something may have been put there while writing
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def write_vector(
    gdf: gpd.GeoDataFrame,
    path: str | Path,
    layer: str | None = None,
    driver: str | None = None,
    allowed: tuple[str, ...] = ("GeoJSON", "GPKG"),
) -> Path:
    """Write GeoJSON (.geojson/.json, RFC 7946: no "crs" member, 7 decimals), GeoPackage
    (.gpkg) or CSV (.csv, geometry as WKT, UTF-8 with a BOM so Excel opens it;
    :func:`read_vector` reads it back), chosen by the suffix unless ``driver`` is given;
    ``allowed``: the drivers this caller offers. ``layer`` names the GeoPackage layer and the
    GeoJSON collection ("name"); default: the file's stem. A GeoJSON column mixing strings
    and numbers keeps each value's type (:func:`mixed_type_columns`).

    Written to a temporary file beside ``path`` and renamed: a failed write leaves an older
    file as it was. Errors (OSError, pyogrio's) propagate with the final path's name."""
    path = Path(path)
    driver = driver or DRIVERS.get(path.suffix.lower())
    if driver not in allowed:
        kinds = " or ".join(s for s, d in DRIVERS.items() if d in allowed and s != ".json")
        kinds_zh = " 或 ".join(s for s, d in DRIVERS.items() if d in allowed and s != ".json")
        raise InputError(
            f"导出文件 {path.name} 的类型 '{path.suffix}' 不支持，只能写 {kinds_zh} 文件 "
            f"{path.name}: export writes {kinds}, not '{path.suffix}'"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        if driver == "CSV":
            gdf.to_wkt(rounding_precision=8).to_csv(tmp, index=False, encoding="utf-8-sig")
        elif driver == "GeoJSON":
            # the layer name is the collection's "name": not the temporary file's
            gdf.to_file(
                tmp,
                driver=driver,
                engine="pyogrio",
                layer=layer or path.stem,
                layer_options=GEOJSON_OPTIONS,
            )
            mixed = mixed_type_columns(gdf)
            if mixed:
                _restore_json_types(tmp, gdf, mixed)
        else:
            kwargs = {"layer": layer or path.stem} if driver == "GPKG" else {}
            gdf.to_file(tmp, driver=driver, engine="pyogrio", **kwargs)
    return path

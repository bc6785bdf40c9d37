"""Export stored layers (grids, buildings, street segments, streets, areas) to files.

Formats, by the suffix of ``--out``: GeoJSON (.geojson, or .json), GeoPackage (.gpkg),
Shapefile (.shp with .shx/.dbf/.prj/.cpg) and KML (.kml). Coordinates in WGS 84 unless a CRS
is asked for (``--crs``, read by :func:`geo.crs.normalize_crs`): CGCS2000 (EPSG:4490), a
projected EPSG code in metres (EPSG:4548, a CGCS2000 3-degree zone), or GCJ-02 / BD-09 (the
phone map apps' datums, the inverse of what the imports' ``--crs gcj02`` undoes). KML is
always WGS 84. The buildings layer is also written as a table, .csv (UTF-8 with a BOM, as
Excel reads it) or .xlsx: a census sheet keyed by 楼栋编号 (:func:`buildings_table`), with
a point inside each building as 经度/纬度 (in ``--crs`` when it is one of lon/lat).

Shapefile field names (at most 10 characters) are gridward's, :data:`SHP_FIELDS`: never
GDAL's silent cuts (``community_`` / ``building_c``), which made two fields alike.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text

from geo.crs import WGS84, gcj02_to_bd09, normalize_crs, wgs84_to_gcj02
from geo.errors import InputError
from geo.features import (
    GRID_FIELDS,
    GRID_JOINS,
    GRID_STAFF,
    building_grid_sql,
    grid_label_sql,  # noqa: F401 (geo.roster_export reads it from here)
    grid_staff_columns,
    grid_staff_sql,
    judge_staff,
)
from geo.sql_frames import read_frame, read_geoframe

# the current level-1 grid of each building, by the rule GET /buildings gives it by.
# WHY (T49 #7): a clerk matching buildings to grids had to do the spatial join himself
_BUILDING_GRID = f"WITH m AS ({building_grid_sql()}) "

# layer name → SQL selecting the exported columns (phone numbers never leave through here)
LAYER_SQL: dict[str, str] = {
    # the fields of GET /grids (geo.features), today's staff joined by read_layer (T67 #2)
    "grids": (
        "SELECT g.code, g.level, g.name, g.households, g.building_count, g.version, "
        f"g.flags::text AS flags, {GRID_FIELDS}, g.geom {GRID_JOINS} "
        "WHERE g.retired_at IS NULL ORDER BY g.code"
    ),
    "buildings": (
        _BUILDING_GRID + "SELECT b.id, b.source_key, b.name, b.building_type, b.levels, "
        "b.households, b.household_source, b.units, b.area_m2, a.code AS community_code, "
        "m.code AS grid_code, b.geom "
        "FROM buildings b LEFT JOIN areas a ON a.id = b.community_id "
        "LEFT JOIN m ON m.bid = b.id ORDER BY b.id"
    ),
    "segments": (
        # edge_id (= id): the file is a network for `gridward match --network` as it is
        "SELECT s.id, s.id AS edge_id, s.uid, s.name, s.highway, s.kind, s.length_m, "
        "st.key AS street_key, s.street_id, s.geom FROM street_segments s "
        "JOIN streets st ON st.id = s.street_id WHERE s.retired_at IS NULL "
        "ORDER BY s.id"
    ),
    "streets": (
        "SELECT id, key, name, kind, length_m, geom FROM streets WHERE retired_at IS NULL "
        "ORDER BY id"
    ),
    "areas": (
        "SELECT a.code, a.level, a.name, a.name_en, p.code AS parent_code, a.area_m2, a.geom "
        "FROM areas a LEFT JOIN areas p ON p.id = a.parent_id ORDER BY a.code"
    ),
}

# Shapefile (.dbf) field names are at most 10 characters: gridward's short name of every
# column longer than that (the others keep their names). A fixed list, so a clerk's GIS
# project keeps working from one export to the next (T49 #4).
SHP_FIELDS: dict[str, str] = {
    "community_code": "comm_code",
    "building_count": "bldg_count",
    "building_type": "bldg_type",
    "household_source": "hh_source",
    "parent_code": "parent_cd",
    "street_share": "st_share",
    "polsby_popper": "polsby_pp",
    "part_time_workers": "pt_workers",
    "workers_needed": "wrk_needed",
    "short_staffed": "short_staf",
}

# the text columns of a .dbf are 80 characters wide (GDAL's default): a 20-digit grid code fits
SUFFIXES = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "SHP",
    ".kml": "KML",
}
ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "GBK", "cp936": "GBK", "gb2312": "GBK"}
_DBF_LDID_GBK = 0x4D  # the .dbf header's language driver for code page 936 (GBK)


def read_layer(engine: Engine, layer: str) -> gpd.GeoDataFrame:
    """A stored layer as a WGS 84 GeoDataFrame."""
    if layer not in LAYER_SQL:
        raise InputError(
            f"图层 {layer} 不存在，请选 {', '.join(LAYER_SQL)} 之一 "
            f"unknown layer '{layer}': choose one of {', '.join(LAYER_SQL)}"
        )
    with engine.connect() as conn:
        gdf = read_geoframe(LAYER_SQL[layer], conn, geom_col="geom", crs="EPSG:4326")
        return with_staff(conn, gdf) if layer == "grids" else gdf


# today's staff of every current level-1 grid, by the SQL GET /grids joins onto its page
_GRID_STAFF_SQL = (
    f"SELECT g.code, {grid_staff_columns('g')} FROM grids g "
    + grid_staff_sql("SELECT id FROM grids WHERE level = 1 AND retired_at IS NULL", "g")
    + " WHERE g.retired_at IS NULL"
)


def with_staff(conn: Connection, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``grids`` (the grids layer) with today's staff, ``workers_needed`` and
    ``short_staffed``, as GET /grids gives them (:func:`geo.features.judge_staff`), null on
    level-2/3 grids. WHY (T67 #2): an integrator compared the API and the export field by
    field; the export had no staff at all. Whole numbers stay whole where null (Int64)."""
    from geo.settings import city_today, get_settings

    staff = read_frame(text(_GRID_STAFF_SQL), conn, params={"today": city_today()})
    out = grids.merge(staff, on="code", how="left")
    for col in GRID_STAFF:
        out[col] = out[col].astype("Int64")
    ratio = get_settings().households_per_worker
    judged = [
        judge_staff(h, None if pd.isna(lead) else lead, None if pd.isna(w) else w, ratio)
        for h, lead, w in zip(out["households"], out["leaders"], out["workers"], strict=True)
    ]
    out["workers_needed"] = pd.array([j[0] for j in judged], dtype="Int64")
    out["short_staffed"] = pd.array([j[1] for j in judged], dtype="boolean")
    cols = [c for c in out.columns if c != "geom"] + ["geom"]
    return gpd.GeoDataFrame(out[cols], geometry="geom", crs=grids.crs)


#: a table of the buildings layer (the census office's sheet), by its suffix
TABLE_SUFFIXES = {".csv": "CSV", ".xlsx": "XLSX"}
TABLE_LAYERS = ("buildings",)


def out_format(path: Path, layer: str | None = None) -> str:
    """The format of ``path`` by its suffix, or an InputError naming the ones written for
    ``layer`` (a table, .csv or .xlsx, for the buildings layer only)."""
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES and layer in TABLE_LAYERS:
        return TABLE_SUFFIXES[suffix]
    kind = SUFFIXES.get(suffix)
    if kind is None:
        tables_zh = "；楼栋（buildings）还可写 .csv 或 .xlsx 表格"
        tables = "; buildings also as a .csv or .xlsx table"
        if suffix in TABLE_SUFFIXES:
            what = layer or "此图层 this layer"
            tables_zh = f"；.csv/.xlsx 表格只用于 buildings（及 roster、people），不用于 {what}"
            tables = f"; a .csv/.xlsx table is for buildings (and roster, people), not {what}"
        raise InputError(
            f"导出文件 {path.name} 的类型 '{path.suffix}' 不支持，只能写 .geojson（或 .json）、"
            f".gpkg、.shp 或 .kml 文件{tables_zh} "
            f"{path.name}: export writes .geojson (or .json), .gpkg, .shp or .kml, "
            f"not '{path.suffix}'{tables}"
        )
    return kind


def check_out_folder(path: Path) -> None:
    """Refuse an output file whose folder does not exist. WHY (T49 #11): ``--out
    /nonexist/x.gpkg`` made /nonexist/, so a mistyped path scattered files."""
    folder = path.parent
    if not folder.is_dir():
        raise InputError(
            f"输出目录不存在：{folder}，未写入任何文件；请先建好该文件夹，或改正 --out 的路径 "
            f"output folder does not exist: {folder}: nothing written; create it first or "
            "correct the --out path"
        )


def check_options(
    path: Path, crs: str | None, encoding: str | None, layer: str | None = None
) -> tuple[str, str, str]:
    """(format, CRS, .dbf encoding) of an export, each checked before the database is read."""
    kind = out_format(path, layer)
    target = normalize_crs(crs)
    if kind in TABLE_SUFFIXES.values() and not _lonlat(target):
        raise InputError(
            f"表格只写经度、纬度，不能用投影坐标系 --crs {crs}：请用 wgs84（默认）、cgcs2000、"
            f"gcj02 或 bd09，或改写 .gpkg、.shp、.geojson 文件 "
            f"a table gives longitude and latitude, not projected --crs {crs}: use wgs84 "
            "(the default), cgcs2000, gcj02 or bd09, or write a .gpkg, .shp or .geojson"
        )
    if kind == "KML" and target != WGS84:
        raise InputError(
            f"KML 文件只能是 WGS-84 经纬度，不能用 --crs {crs}：请去掉 --crs，或改写 .gpkg、"
            f".shp 或 .geojson 文件 "
            f"KML is always WGS 84: leave out --crs {crs}, or write a .gpkg, .shp or .geojson"
        )
    enc = ENCODINGS.get(str(encoding or "utf-8").strip().lower())
    if enc is None:
        raise InputError(
            f"编码 '{encoding}' 不支持，--encoding 只能是 utf-8（默认）或 gbk "
            f"unknown encoding '{encoding}': --encoding is utf-8 (the default) or gbk"
        )
    if enc != "UTF-8" and kind != "SHP":
        raise InputError(
            f"--encoding {encoding} 只用于 Shapefile（.shp），{path.suffix} 文件总是 UTF-8 "
            f"--encoding {encoding} is for a Shapefile (.shp): a {path.suffix} file is "
            "always UTF-8"
        )
    return kind, target, enc


def to_crs(gdf: gpd.GeoDataFrame, target: str) -> gpd.GeoDataFrame:
    """``gdf`` (WGS 84) in ``target``: GCJ-02 and BD-09 by gridward's own formulas (the
    forward direction of what imports undo), labelled WGS 84 as the apps label them; any
    other CRS by pyproj."""
    if target == WGS84:
        return gdf
    if target in ("gcj02", "bd09"):

        def shift(coords: np.ndarray) -> np.ndarray:
            lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
            if target == "bd09":
                lon, lat = gcj02_to_bd09(lon, lat)
            return np.column_stack([lon, lat])

        geoms = shapely.transform(np.asarray(gdf.geometry.to_numpy(), dtype=object), shift)
        return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=WGS84))
    return gdf.to_crs(target)


def oriented(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with its polygons' exteriors counter-clockwise and holes clockwise. WHY (T67
    #17): only the WGS 84 GeoJSON was written so (GDAL's RFC 7946 mode); a GeoJSON in
    another CRS, a GeoPackage and a KML (whose reference asks counter-clockwise) kept the
    stored order, mixed. shapely.orient_polygons orients 10,000 grids in ~10 ms; a Shapefile
    is still written clockwise, as its format requires (GDAL rewinds it)."""
    geoms = shapely.orient_polygons(np.asarray(gdf.geometry.to_numpy(), dtype=object))
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))


def export_layer(
    engine: Engine,
    layer: str,
    path: str | Path,
    crs: str | None = None,
    encoding: str | None = None,
) -> int:
    """Write one layer (see the module for formats and CRSs); returns the number of features.
    Checked before anything is read: the suffix, the CRS, the encoding, the folder."""
    path = Path(path)
    kind, target, enc = check_options(path, crs, encoding, layer)
    check_out_folder(path)
    if kind in TABLE_SUFFIXES.values():
        return write_buildings_table(engine, path, target)
    gdf = oriented(to_crs(read_layer(engine, layer), target))
    if kind == "SHP":
        write_shapefile(gdf, path, enc)
    elif kind == "KML":
        write_kml(gdf, path, layer)
    elif target in (WGS84, "gcj02", "bd09"):
        from geo.vector_io import write_vector

        write_vector(gdf, path, layer=layer)  # as before: RFC 7946 GeoJSON, GeoPackage
    else:
        _write_other_crs(gdf, path, kind, layer)
    return len(gdf)


def _lonlat(target: str) -> bool:
    """Whether ``target`` (a :func:`geo.crs.normalize_crs` value) gives lon/lat, not metres."""
    import pyproj

    return target in (WGS84, "gcj02", "bd09") or pyproj.CRS(target).is_geographic


# the census sheet: column → header. The headers are those `gridward import households`
# reads (楼栋编号 keys the rows, 户数来源 says which counts are estimates, 地址 is shown in
# its messages), so the sheet filled in by the census office imports back as it is
TABLE_HEADERS = {
    "building_id": "楼栋编号",
    "name": "楼栋名称",
    "building_type": "楼栋类型",
    "address": "地址",
    "community_code": "社区编码",
    "grid_code": "网格编码",
    "households": "户数",
    "household_source": "户数来源",
    "lon": "经度",
    "lat": "纬度",
}
TABLE_CODES = ("community_code", "grid_code")  # text cells: Excel keeps their 12/15 digits
SOURCE_WORDS = {"estimated": "估算", "given": "给定"}  # import households reads 估算
NEAR_STREET_M = 150  # a street named in 地址 lies this close to the building

# a building's community and grid, the nearest named street and a point inside it
_TABLE_SQL = (
    _BUILDING_GRID + "SELECT b.id AS building_id, b.name, b.building_type, b.households, "
    "b.household_source, a.code AS community_code, a.name AS community, "
    "s.name AS subdistrict, m.code AS grid_code, near.name AS street, "
    "ST_X(pt.p) AS lon, ST_Y(pt.p) AS lat "
    "FROM buildings b CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS p) pt "
    "LEFT JOIN areas a ON a.id = b.community_id LEFT JOIN areas s ON s.id = a.parent_id "
    "LEFT JOIN m ON m.bid = b.id "
    "LEFT JOIN LATERAL (SELECT st.name FROM streets st WHERE st.retired_at IS NULL "
    "  AND st.name IS NOT NULL AND ST_DWithin(st.geom::geography, pt.p::geography, :near) "
    "  ORDER BY st.geom <-> pt.p LIMIT 1) near ON true ORDER BY b.id"
)


def buildings_table(engine: Engine, target: str = WGS84) -> pd.DataFrame:
    """The buildings as a census sheet, one row each by id (:data:`TABLE_HEADERS`' keys):
    name, type, 地址, community and grid codes, households and their source (估算/给定), and
    a point inside the building (lon/lat to 1e-7°, in ``target``: WGS 84, CGCS2000, GCJ-02
    or BD-09). 地址 is where to find it, as gridward knows it: subdistrict and community
    names and the nearest named street within :data:`NEAR_STREET_M` (学清路附近); gridward
    stores no door number. WHY (T70 #16): a census keyed by 楼栋编号 had to be prepared from
    the GeoJSON in QGIS or a script."""
    with engine.connect() as conn:
        df = read_frame(text(_TABLE_SQL), conn, params={"near": NEAR_STREET_M})
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=WGS84)
    pts = to_crs(pts, target)
    df["lon"], df["lat"] = pts.geometry.x.round(7), pts.geometry.y.round(7)
    place = (df["subdistrict"].fillna("") + df["community"].fillna("")).str.strip()
    near = df["street"].map(lambda v: f"{v}附近" if isinstance(v, str) and v else "")
    df["address"] = [
        "，".join(x for x in (p, n) if x) or None for p, n in zip(place, near, strict=True)
    ]
    df["household_source"] = df["household_source"].map(lambda v: SOURCE_WORDS.get(v, v))
    df["households"] = df["households"].astype("Int64")
    return df[list(TABLE_HEADERS)]


def write_buildings_table(engine: Engine, path: Path, target: str = WGS84) -> int:
    """Write :func:`buildings_table` to ``path`` (.csv or .xlsx); returns its rows."""
    from geo.roster_export import write_table

    df = buildings_table(engine, target)
    write_table(df, path, TABLE_HEADERS, TABLE_CODES, "楼栋户数")
    return len(df)


def _write_other_crs(gdf: gpd.GeoDataFrame, path: Path, kind: str, layer: str) -> None:
    """GeoJSON or GeoPackage in a CRS other than WGS 84. WHY not RFC 7946 GeoJSON: GDAL
    reprojects that to WGS 84 and drops the CRS; this GeoJSON names its CRS ("crs" member)."""
    from geo.vector_io import atomic_file

    with atomic_file(path) as tmp:
        gdf.to_file(tmp, driver=kind, engine="pyogrio", layer=layer)


def write_shapefile(gdf: gpd.GeoDataFrame, path: Path, encoding: str = "UTF-8") -> None:
    """A Shapefile: .shp, .shx, .dbf, .prj and a .cpg naming ``encoding`` (UTF-8 or GBK),
    fields renamed by :data:`SHP_FIELDS`, text fields as text (codes keep their digits).

    Written in a temporary folder beside ``path`` and each file renamed into place: a failed
    write leaves the older files as they were. A GBK .dbf also says code page 936 in its
    header (language driver 0x4D), for the ArcGIS versions that read no .cpg."""
    out = gdf.rename(columns=SHP_FIELDS)
    too_long = [c for c in out.columns if c != out.geometry.name and len(c.encode()) > 10]
    assert not too_long, too_long  # a new column needs its short name in SHP_FIELDS
    from geo.vector_io import check_replaceable

    stem = path.stem
    # every sidecar the write replaces or removes is checked as the .shp is (T56 #7: a
    # linked .dbf or a FIFO .shx beside it was replaced by a regular file)
    for side in (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx"):
        check_replaceable(path.with_suffix(side))
    work = Path(tempfile.mkdtemp(prefix=f".{stem}.partial-", dir=path.parent))
    try:
        out.to_file(
            work / f"{stem}.shp", driver="ESRI Shapefile", engine="pyogrio", encoding=encoding
        )
        if encoding == "GBK":
            with open(work / f"{stem}.dbf", "r+b") as dbf:
                dbf.seek(29)
                dbf.write(bytes([_DBF_LDID_GBK]))
        written = sorted(work.iterdir())
        for old in (".cpg", ".prj", ".qix", ".sbn", ".sbx"):  # no stale sidecar of an older file
            with contextlib.suppress(FileNotFoundError):
                path.with_suffix(old).unlink()
        for f in written:
            os.replace(f, path.parent / f"{stem}{f.suffix}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fits_int32(values: pd.Series) -> bool:
    """Whether a column is whole numbers (not flags) that all fit KML's 32-bit ``int``."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_integer_dtype(values):
        return False
    known = values.dropna()
    return known.empty or (known.min() >= -(2**31) and known.max() < 2**31)


def write_kml(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """A KML (WGS 84): each feature's name (else its label or code) in ``<name>``, empty for
    a feature with none; the other fields in ExtendedData, whole numbers declared ``int`` and
    fractions ``float``; written beside ``path`` and renamed.

    WHY (T51 #12): an unnamed segment's or building's ``<name>`` was its id, which Google
    Earth and 奥维 show as its name ("1"); and every SimpleField was ``string`` (GDAL's KML
    writer declares 64-bit integers so), so ArcGIS and QGIS read households, version and
    counts as text. Whole numbers that fit 32 bits are written as such (KML's ``int``)."""
    from geo.vector_io import atomic_file

    out = gdf.copy()
    shown = None
    for col in ("name", "label", "code"):
        if col in out.columns:
            vals = out[col].astype(object).where(out[col].notna(), None)
            shown = vals if shown is None else shown.where(shown.notna(), vals)
    if shown is None:
        shown = pd.Series([None] * len(out), index=out.index, dtype=object)
    out.insert(0, "Name", shown.astype(object).map(lambda v: "" if v is None else str(v)))
    out = out.drop(columns=["name"], errors="ignore")
    for col in out.columns:
        if col != out.geometry.name and _fits_int32(out[col]):
            out[col] = out[col].astype("Int32")
    with atomic_file(path) as tmp:
        out.to_file(tmp, driver="KML", engine="pyogrio", layer=layer)

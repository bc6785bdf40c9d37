"""`gridward import areas` from a district's own files, as its GIS office writes them (outside
tester T46): GBK shapefiles without a .cpg, no .prj, a numeric code field, Chinese level
names, KML/KMZ, a wrong --crs, and communities that overlap."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.errors import InputError
from geo.importer import import_buildings
from tests.test_import import run_cli

# three communities side by side near 116.32°E, 39.995°N (the demo's corner of Haidian)
NAMES = {
    "110108017001": "静淑苑社区",
    "110108017002": "农大东区社区",
    "110108017003": "清华东路社区",
}
X0, Y0, W = 116.320, 39.990, 0.004


def _communities(codes=tuple(NAMES), overlap_deg: float = 0.0) -> gpd.GeoDataFrame:
    """The communities side by side, in WGS 84; ``overlap_deg``: how far each reaches into
    the next one."""
    geoms = [
        box(X0 + i * W, Y0, X0 + (i + 1) * W + (overlap_deg if i < len(codes) - 1 else 0), Y0 + W)
        for i in range(len(codes))
    ]
    return gpd.GeoDataFrame(
        {"代码": list(codes), "名称": [NAMES[c] for c in codes]}, geometry=geoms, crs=4326
    )


def _shapefile(gdf: gpd.GeoDataFrame, path: Path, encoding: str, cpg: bool, prj: bool = True):
    """``gdf`` written as a shapefile with its .dbf in ``encoding``, with or without its
    .cpg and .prj (GDAL writes language driver 0 in the .dbf, as the tester's tools did)."""
    gdf.to_file(path, engine="pyogrio", encoding=encoding)
    if not cpg:
        path.with_suffix(".cpg").unlink()
    if not prj:
        path.with_suffix(".prj").unlink()
    return path


def _areas(db) -> dict[str, tuple[str, str]]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT code, name, level FROM areas ORDER BY code")).all()
    return {r.code: (r.name, r.level) for r in rows}


def _buildings_near(db, tmp_path: Path) -> None:
    """A few buildings inside the communities, stored first (as `import osm` does)."""
    feats = [
        {
            "type": "Feature",
            "properties": {"id": f"b{i}", "households": 10},
            "geometry": shapely.geometry.mapping(
                box(X0 + i * W + 0.001, Y0 + 0.001, X0 + i * W + 0.0012, Y0 + 0.0012)
            ),
        }
        for i in range(3)
    ]
    path = tmp_path / "buildings.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    import_buildings(db, path)


def test_a_gbk_dbf_without_cpg_is_read_as_gbk_with_a_warning(db, pg_url, tmp_path):
    """T46 #3: a GBK .dbf with ASCII field names and no .cpg was read as Latin-1 and its
    names stored as mojibake (¾²ÊçÔ·ÉçÇø). Its text now reads as Chinese in GBK: it is read
    so, and a warning says so and how to make the file say it (a .cpg containing GBK)."""
    gdf = _communities().rename(columns={"代码": "CODE", "名称": "NAME"})
    path = _shapefile(gdf, tmp_path / "shequ.shp", "GBK", cpg=False)
    proc = run_cli(["import", "areas", str(path), "--level", "community"], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(
        "areas_read=3, areas_written=3, parents=0, parents_linked=0"
    )
    assert {c: n for c, (n, _) in _areas(db).items()} == NAMES
    warning = next(ln for ln in proc.stderr.splitlines() if ln.startswith("warning: "))
    assert warning == (
        "warning: 文件 shequ.shp 的属性表（.dbf）没有 shequ.cpg，未声明编码：按 Latin-1 读是乱码，"
        "按 GBK 读才是中文（如 静淑苑社区、农大东区社区），已按 GBK 读入；请核对名称，"
        "并在 .shp 旁（zip 则放进 zip 里）放一个内容为 GBK 的 shequ.cpg 文件 "
        "shequ.shp: the text of its .dbf reads as mojibake in Latin-1 and as Chinese in GBK: "
        "it has no shequ.cpg (declares no encoding); it was read as GBK: check the names, and "
        "put a shequ.cpg file containing GBK beside the .shp (inside the zip for a zip)"
    )


def test_chinese_field_names_of_a_gbk_dbf_without_cpg_are_read(db, tmp_path):
    """T46 #11: with Chinese field names (代码, 名称) the same file was refused as
    "缺少 code 属性（现有的属性：´úÂë, Ãû³Æ）"; they are read as GBK now. A zipped one too."""
    path = _shapefile(_communities(), tmp_path / "社区.shp", "GBK", cpg=False)
    counts = import_areas(db, path, level="community")
    assert counts["areas_written"] == 3
    assert "社区.cpg" in counts["warnings"][0]
    assert {c: n for c, (n, _) in _areas(db).items()} == NAMES
    zipped = tmp_path / "社区.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for part in tmp_path.glob("社区.*"):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    assert import_areas(db, zipped, level="community")["areas_written"] == 0  # the same
    assert {c: n for c, (n, _) in _areas(db).items()} == NAMES


def test_garbled_field_names_are_explained(db, tmp_path):
    """T46 #11: when the text does not read as Chinese in any encoding (a Latin-1 value
    beside GBK field names), the refusal names the garbled fields' likely cause and remedy."""
    gdf = _communities(("110108017001",)).rename(columns={"代码": "AAAA", "名称": "BBBB"})
    gdf["BBBB"] = ["Café"]
    path = _shapefile(gdf, tmp_path / "社区.shp", "ISO-8859-1", cpg=False)
    dbf = path.with_suffix(".dbf")  # the field names as a GBK tool writes them
    raw = dbf.read_bytes()
    head = (
        raw[: 32 * 3].replace(b"AAAA", "代码".encode("gbk")).replace(b"BBBB", "名称".encode("gbk"))
    )
    dbf.write_bytes(head + raw[32 * 3 :])
    with pytest.raises(InputError) as err:
        import_areas(db, path, level="community")
    assert err.value.message == (
        "文件 社区.shp 缺少 code 属性（现有的属性：´úÂë, Ãû³Æ）。属性名是乱码，多半是 GBK 编码的 "
        ".dbf 缺少 .cpg：请在 .shp 旁放一个内容为 GBK 的 社区.cpg 文件后重新导入 "
        "社区.shp: missing property 'code'; found ´úÂë, Ãû³Æ; the property names are garbled: "
        "most likely a GBK .dbf without its .cpg: put a 社区.cpg file containing GBK beside "
        "the .shp and import again"
    )
    assert _areas(db) == {}


def test_a_utf8_dbf_with_its_cpg_is_left_as_it_is(db, tmp_path):
    """The usual file (UTF-8, its .cpg beside it) is read as before, with no warning."""
    path = _shapefile(_communities(), tmp_path / "社区.shp", "UTF-8", cpg=True)
    counts = import_areas(db, path, level="community")
    assert "warnings" not in counts
    assert {c: n for c, (n, _) in _areas(db).items()} == NAMES


def test_a_shapefile_without_prj_and_crs_names_the_missing_prj(db, tmp_path):
    """T46 #13: a shapefile in EPSG:4548 without its .prj, no --crs given, was refused as
    "--crs 是否写对了？" as if one had been given. It now says the .prj is missing and which
    --crs to give; nothing is stored."""
    path = _shapefile(_communities().to_crs(4548), tmp_path / "社区.shp", "UTF-8", True, False)
    with pytest.raises(InputError) as err:
        import_areas(db, path, level="community")
    msg = err.value.message
    assert msg.startswith("文件 社区.shp 没有 .prj 文件（未声明坐标系），坐标（如 ")
    assert "不是经纬度，像是平面坐标（米）：请用 --crs 指定其坐标系，如北京 EPSG:4548" in msg
    assert "--crs 是否写对了" not in msg and "is --crs right" not in msg
    assert msg.endswith(
        "for Beijing; elsewhere the zone of the city's central meridian: "
        "EPSG:4547 for 114E, EPSG:4549 for 120E; nothing was imported"
    )
    assert _areas(db) == {}
    # given, it imports
    assert import_areas(db, path, crs="EPSG:4548", level="community")["areas_written"] == 3
    # eastings with the zone number in front name their CRS (zone 39: EPSG:4527)
    zoned = _shapefile(_communities().to_crs(4527), tmp_path / "zoned.shp", "UTF-8", True, False)
    with pytest.raises(InputError) as err:
        import_areas(db, zoned, level="community")
    assert "多半是 CGCS2000 EPSG:4527，即 --crs EPSG:4527" in err.value.message


def test_areas_far_from_every_stored_building_are_refused_naming_the_crs(db, pg_url, tmp_path):
    """T46 #4: the README's --crs EPSG:4547 (CM 114°E) on a Beijing file in EPSG:4548 stored
    every community 255 km west of every street and building, silently. An areas file none
    of whose areas lies within 5 km of the stored buildings and streets is refused, naming
    the --crs given and the likely right one; nothing is stored."""
    _buildings_near(db, tmp_path)
    path = _shapefile(_communities().to_crs(4548), tmp_path / "社区.shp", "UTF-8", True, False)
    proc = run_cli(["import", "areas", str(path), "--crs", "EPSG:4547", "--level", "社区"], pg_url)
    assert proc.returncode != 0
    assert (
        "文件 社区.shp 的 3 个区划离已有的楼栋和街巷都超过 5 公里（如社区 110108017001 静淑苑社区"
        in (proc.stderr)
    )
    assert (
        "）：多半是 --crs EPSG:4547 不对；已有数据在东经 116.33° 附近，那里的 CGCS2000 3度带"
        "（中央经线 117°E）是 EPSG:4548。若坐标无误（那里的路网还没导入），请先用 gridward "
        "import osm 导入覆盖它们的 OSM 文件；未导入任何数据 社区.shp: all 3 areas lie over 5 km "
        "from every stored building and street (e.g. community 110108017001 静淑苑社区 at "
    ) in proc.stderr
    assert (
        "most likely --crs EPSG:4547 is wrong; the stored data lie near 116.33E, where the "
        "CGCS2000 3-degree Gauss-Kruger zone (CM 117E) is EPSG:4548. If their coordinates are "
        "right (the network there is not imported yet), import an OSM file covering them first "
        "(gridward import osm); nothing was imported"
    ) in proc.stderr
    assert _areas(db) == {}
    proc = run_cli(["import", "areas", str(path), "--crs", "EPSG:4548", "--level", "社区"], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    assert set(_areas(db)) == set(NAMES)


def _one_far(tmp_path: Path) -> Path:
    """The three communities as c.geojson, the third moved 58 km east."""
    gdf = _communities()
    gdf.loc[2, "geometry"] = box(117.0, 39.99, 117.004, 39.994)
    path = tmp_path / "c.geojson"
    gdf.to_file(path, engine="pyogrio")
    return path


def test_an_area_far_from_the_others_is_warned_of(db, tmp_path):
    """A file some of whose areas lie beyond the stored network (a district larger than the
    OSM extract) is imported, naming those areas."""
    _buildings_near(db, tmp_path)
    path = _one_far(tmp_path)
    counts = import_areas(db, path, level="community")
    assert counts["areas_written"] == 3
    assert counts["warnings"] == [
        "文件 c.geojson 中有 1 个区划离已有的楼栋和街巷都超过 5 公里（110108017003；如社区 "
        "110108017003 清华东路社区 在东经 117.0020°、北纬 39.9920°）："
        "若其坐标无误，是路网还没导入到那里 "
        "c.geojson: 1 area lies over 5 km from every stored building and street (110108017003; "
        "e.g. community 110108017003 清华东路社区 at 117.0020E, 39.9920N): if their coordinates "
        "are right, the network does not reach them yet"
    ]


def test_chinese_level_names_in_level_and_in_a_column(db, tmp_path):
    """T46 #10: `--level 区` and a 级别 column with 区/街道/社区 were refused ("区划级别 '区'
    有误"); the Chinese names are levels now, in one GeoPackage layer of every level."""
    comms = _communities()
    sub = gpd.GeoDataFrame(
        {"代码": ["110108017"], "名称": ["学院路街道"]},
        geometry=[shapely.union_all(comms.geometry.to_numpy())],
        crs=4326,
    )
    dist = sub.assign(代码=["110108"], 名称=["海淀区"])
    everything = gpd.GeoDataFrame(
        [
            *dist.assign(级别="区").to_dict("records"),
            *sub.assign(级别="街道").to_dict("records"),
            *comms.assign(级别="社区").to_dict("records"),
        ],
        geometry="geometry",
        crs=4326,
    )
    gpkg = tmp_path / "区划.gpkg"
    everything.to_file(gpkg, layer="区划", engine="pyogrio")
    counts = import_areas(db, gpkg)
    assert counts["parents_linked"] == 4
    got = _areas(db)
    assert got["110108"] == ("海淀区", "district")
    assert got["110108017"] == ("学院路街道", "subdistrict")
    assert {got[c][1] for c in NAMES} == {"community"}
    # --level in Chinese; 镇 is a township
    town = tmp_path / "town.geojson"
    sub.assign(代码=["110108100"], 名称=["某镇"]).to_file(town, engine="pyogrio")
    import_areas(db, town, level="镇")
    assert _areas(db)["110108100"] == ("某镇", "township")
    # an unknown one names the Chinese too
    with pytest.raises(InputError) as err:
        import_areas(db, town, level="小区")
    assert err.value.message == (
        "文件 town.geojson 的区划级别 '小区' 有误，请用 district, subdistrict, township, "
        "community, village 之一（或 区/县、街道、乡/镇、社区、村） "
        "town.geojson: unknown level '小区': use one of district, subdistrict, township, "
        "community, village"
    )


def test_a_numeric_code_field_is_read_as_the_code(db, tmp_path):
    """T46 #16: ArcGIS writes a DBF code field as a Double: 110108017001.0 was refused as
    not 12 digits. A whole number is exact in a double, so it is the code."""
    gdf = _communities()
    gdf["代码"] = gdf["代码"].astype("float64")
    path = _shapefile(gdf, tmp_path / "社区.shp", "UTF-8", cpg=True)
    import pyogrio

    assert list(pyogrio.read_info(path)["dtypes"]) == ["float64", "object"]
    import_areas(db, path, level="community")
    assert {c: n for c, (n, _) in _areas(db).items()} == NAMES


def test_kml_and_kmz_areas_are_read(db, tmp_path):
    """T46 #17: KML/KMZ were refused as an unsupported type, though tracks take them. A
    placemark's <name> is the area's name, its ExtendedData code (代码) the code; a KMZ's
    ExtendedData too (GDAL reading the KMZ itself dropped it). No code: the refusal says
    where a KML puts it."""
    gdf = _communities().rename(columns={"名称": "Name"})
    kml = tmp_path / "社区.kml"
    gdf.to_file(kml, driver="KML", engine="pyogrio")
    assert import_areas(db, kml, level="社区")["areas_written"] == 3
    assert {c: n for c, (n, _) in _areas(db).items()} == NAMES
    kmz = tmp_path / "社区.kmz"
    renamed = gdf.assign(Name=[f"{n}2" for n in gdf["Name"]])
    inner = tmp_path / "doc.kml"
    renamed.to_file(inner, driver="KML", engine="pyogrio")
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.write(inner, "doc.kml")
    assert import_areas(db, kmz, level="community")["areas_written"] == 3
    assert {c: n for c, (n, _) in _areas(db).items()} == {c: f"{n}2" for c, n in NAMES.items()}
    bare = tmp_path / "bare.kml"
    gdf.drop(columns="代码").to_file(bare, driver="KML", engine="pyogrio")
    with pytest.raises(InputError) as err:
        import_areas(db, bare, level="community")
    assert err.value.message.startswith("文件 bare.kml 缺少 code 属性（现有的属性：")
    assert "）。KML 中每个地标的区划代码须写在其 ExtendedData 里" in err.value.message
    assert err.value.message.endswith(
        "; a KML placemark's area code goes in its ExtendedData "
        '(<SimpleData name="代码"> or <Data name="code">), its name in <name>'
    )


def test_overlapping_communities_are_named_with_the_overlap(db, pg_url, tmp_path):
    """T46: sloppy outlines overlapping by 10 m put a building in the overlap in one of the
    two communities, silently. The import names the pairs with their overlap in m², Chinese
    first, on stderr; the counts line is unchanged."""
    path = tmp_path / "c.geojson"
    _communities(overlap_deg=0.0001).to_file(path, engine="pyogrio")  # about 8.5 m
    proc = run_cli(["import", "areas", str(path), "--level", "community"], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "已导入区划：读入 3，写入 3，由下级生成上级 0，已关联上级 0 "
        "areas_read=3, areas_written=3, parents=0, parents_linked=0"
    )
    with db.connect() as conn:
        m2 = conn.execute(
            text(
                "SELECT round(ST_Area(ST_Intersection(a.geom, b.geom)::geography)) FROM areas a, "
                "areas b WHERE a.code = '110108017001' AND b.code = '110108017002'"
            )
        ).scalar_one()
    m2 = f"{m2:,.0f}"
    warning = next(ln for ln in proc.stderr.splitlines() if ln.startswith("warning: "))
    assert warning == (
        f"warning: 有 2 对社区边界相互重叠：110108017001 静淑苑社区 与 110108017002 农大东区社区 "
        f"重叠 {m2} 平方米；110108017002 农大东区社区 与 110108017003 清华东路社区 "
        f"重叠 {m2} 平方米。"
        "重叠处的楼栋只归其中一个社区（占其占地面积最多的那个），另一个社区的网格和户数不含它；"
        "请在 GIS 中修正边界后重新导入 "
        f"2 pairs of communities overlap: 110108017001 and 110108017002 by {m2} m²; "
        f"110108017002 and 110108017003 by {m2} m². A building in an overlap belongs to one "
        "of them only (the one holding most of its footprint), and the other's grids and "
        "counts leave it out: correct the outlines and import again"
    )
    # communities that only touch are not named
    _communities().to_file(path, engine="pyogrio")
    assert "warnings" not in import_areas(db, path, level="community")

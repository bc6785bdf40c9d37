"""Which encoding a .dbf that names none (no .cpg, language driver 0) is read in (outside
testers T46 #3 and T48 #3): GDAL reads it as Latin-1; a GBK one (Chinese GIS offices) is read
again as GBK, but a Latin-1 one with accented names stays Latin-1. Real PostGIS for the
imports; small shapefiles written in tmp_path."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry import box
from sqlalchemy import text

from geo.areas_import import import_areas
from geo.vector_io import _gbk_evidence, _latin_evidence, read_vector
from tests.test_import import run_cli

X0, Y0, W = 116.320, 39.990, 0.004


def _shapefile(path: Path, names: list[str], encoding: str) -> Path:
    """Communities named ``names`` side by side, the .dbf in ``encoding``, no .cpg (GDAL
    writes language driver 0, as the testers' tools did)."""
    gdf = gpd.GeoDataFrame(
        {"code": [f"1101080170{i + 1:02d}" for i in range(len(names))], "name": names},
        geometry=[box(X0 + i * W, Y0, X0 + (i + 1) * W, Y0 + W) for i in range(len(names))],
        crs=4326,
    )
    gdf.to_file(path, engine="pyogrio", encoding=encoding)
    path.with_suffix(".cpg").unlink()
    assert path.with_suffix(".dbf").read_bytes()[29] == 0  # no language driver
    return path


def _names(db) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(text("SELECT name FROM areas ORDER BY code")).scalars())


def test_a_latin1_dbf_without_cpg_stays_latin1(db, pg_url, tmp_path):
    """T48 #3: `Crème Brûlée` in a Latin-1 .dbf without .cpg was stored as `Cr鑝e Br鹟閑`
    (each accented letter and the ASCII letter after it are one GBK character), with a
    warning to add a GBK .cpg. Latin words with accents are not GBK mojibake: stored as
    written, nothing said."""
    path = _shapefile(tmp_path / "creme.shp", ["Crème Brûlée"], "ISO-8859-1")
    proc = run_cli(["import", "areas", str(path), "--level", "community"], pg_url)
    assert proc.returncode == 0, proc.stderr
    assert _names(db) == ["Crème Brûlée"]
    assert "warning:" not in proc.stderr and ".cpg" not in proc.stderr, proc.stderr


def test_a_gbk_dbf_with_a_latin_name_is_read_as_gbk(db, tmp_path):
    """A GBK .dbf without .cpg, Chinese names and a `Café` row (é is GB2312's pinyin letter
    A8A6): all read right, with the warning naming the .cpg to add."""
    names = ["静淑苑社区", "Café", "农大东区社区"]
    path = _shapefile(tmp_path / "社区.shp", names, "GBK")
    counts = import_areas(db, path, level="community")
    assert counts["areas_written"] == 3
    assert _names(db) == names
    assert counts["warnings"][0].startswith(
        "文件 社区.shp 的属性表（.dbf）没有 社区.cpg，未声明编码：按 Latin-1 读是乱码，"
        "按 GBK 读才是中文（如 静淑苑社区、Café），已按 GBK 读入"
    ), counts


def test_a_dbf_that_may_be_either_is_kept_and_warned_of(tmp_path):
    """When both readings are plausible (Portuguese `Informação`: ç and ã make one GB2312
    character), the Latin-1 reading is kept and the warning names the GBK reading and the
    .cpg that would make it so."""
    path = _shapefile(tmp_path / "pt.shp", ["Informação"], "ISO-8859-1")
    gdf = read_vector(path)
    assert list(gdf["name"]) == ["Informação"]
    assert gdf.attrs["warnings"] == [
        "文件 pt.shp 的属性表（.dbf）没有 pt.cpg，未声明编码，已按 Latin-1 读入（如 Informação）；"
        "若名称应为中文（按 GBK 读是 Informa玢o），请在 .shp 旁（zip 则放进 zip 里）放一个内容为 "
        "GBK 的 pt.cpg 文件，再重新导入 pt.shp: it has no pt.cpg (declares no encoding) and its "
        "text was read as Latin-1 (e.g. Informação); if the names are Chinese (in GBK: "
        "Informa玢o), put a pt.cpg file containing GBK beside the .shp (inside the zip for a "
        "zip) and import again"
    ]


def test_short_chinese_names_beside_latin_letters_are_gbk(tmp_path):
    """`A区` reads `AÇø` in Latin-1: one accented letter beside an ASCII one, the other not,
    which is not Latin text; read as GBK."""
    path = _shapefile(tmp_path / "ab.shp", ["A区", "B区"], "GBK")
    assert list(read_vector(path)["name"]) == ["A区", "B区"]


def test_the_evidence_of_each_reading():
    """GBK mojibake (T46's 静淑苑社区 as ¾²ÊçÔ·ÉçÇø) is GB2312 pairs and no Latin; Latin
    names are accented letters beside ASCII ones, in no GB2312 pair."""
    gbk = ["静淑苑社区".encode("gbk"), "代码".encode("gbk")]
    latin = ["Crème Brûlée", "Müller", "Señor", "Café"]
    assert _gbk_evidence(gbk) and not _latin_evidence([b.decode("latin-1") for b in gbk])
    raw = [t.encode("latin-1") for t in latin]
    assert _latin_evidence(latin) and not _gbk_evidence(raw)

"""``gridward export``: Shapefile, KML and CRSs other than WGS 84 (T49 #4), a missing output
folder refused (T49 #11), buildings with their grid code and grids with a label (T49 #7, #12),
the duty roster (T49 #5) and the people registry that imports back unchanged (T49 #6).

Each file is read back and compared with PostGIS (ST_Transform) within 1 cm."""

from __future__ import annotations

import csv
import io
import re
import secrets
import xml.etree.ElementTree as ET

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import text

from geo.sql_frames import read_geoframe
from tests.conftest import demo_with_duties
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)


@pytest.fixture
def run(run_inproc, monkeypatch, city, pg_url):  # noqa: ANN001, ANN201, F811
    """``gridward ARGS`` in-process against the session database."""
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    yield run_inproc
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def city(engine):  # noqa: ANN001, ANN201
    """The demo city with duties from a week ago (read by every test but the last)."""
    demo_with_duties(engine)
    return engine


def _postgis(engine, layer_sql: str, epsg: int) -> gpd.GeoDataFrame:  # noqa: ANN001
    with engine.connect() as conn:
        return read_geoframe(
            f"SELECT code, ST_Transform(geom, {epsg}) AS geom FROM ({layer_sql}) x",
            conn,
            crs=f"EPSG:{epsg}",
        )


def _max_gap_m(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, key: str = "code") -> float:
    """The largest Hausdorff distance between the features of a and b with the same key, in
    metres (both in a metric CRS of Beijing)."""
    a = a.to_crs(4548).set_index(key)
    b = b.to_crs(4548).set_index(key)
    assert sorted(a.index) == sorted(b.index)
    return max(shapely.hausdorff_distance(a.geometry[k], b.geometry[k]) for k in a.index)


def _dbf_fields(path) -> dict[str, tuple[str, int]]:  # noqa: ANN001
    raw = path.read_bytes()
    out, i = {}, 32
    while raw[i] != 0x0D:
        name = raw[i : i + 11].rstrip(b"\0").decode()
        out[name] = (chr(raw[i + 11]), raw[i + 16])
        i += 32
    return out


def test_shapefile_utf8_short_fields_codes_as_text_in_cgcs2000_zone(run, city, tmp_path):
    from geo.export import LAYER_SQL

    out = tmp_path / "grids.shp"
    r = run("export", "grids", "--out", str(out), "--crs", "EPSG:4548")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"已写入 {out}：网格 ")
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        assert out.with_suffix(ext).is_file(), ext
    assert out.with_suffix(".cpg").read_text().strip() == "UTF-8"
    assert not list(tmp_path.glob(".*partial*"))  # the temporary folder is gone
    fields = _dbf_fields(out.with_suffix(".dbf"))
    # gridward's names, not GDAL's cuts (community_ / building_c)
    assert {"code", "label", "comm_code", "bldg_count", "households"} <= set(fields)
    assert fields["code"][0] == "C" and fields["code"][1] >= 20
    assert fields["comm_code"][0] == "C"
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4548
    assert back["code"].str.len().isin([15, 18, 20]).all()
    assert back["comm_code"].str.fullmatch(r"\d{12}").all()
    first = back[back["code"].str.len() == 15]
    assert first["label"].str.fullmatch(r".+社区 第\d+网格").all()  # Chinese intact
    assert _max_gap_m(back, _postgis(city, LAYER_SQL["grids"], 4548)) < 0.01


def test_shapefile_gbk_says_so_in_cpg_and_dbf_header(run, city, tmp_path):
    out = tmp_path / "g.shp"
    r = run("export", "areas", "--out", str(out), "--encoding", "gbk")
    assert r.returncode == 0, r.stderr
    assert out.with_suffix(".cpg").read_text().strip() == "GBK"
    raw = out.with_suffix(".dbf").read_bytes()
    assert raw[29] == 0x4D  # code page 936 for ArcGIS versions that read no .cpg
    with city.connect() as conn:
        names = conn.execute(text("SELECT name FROM areas")).scalars().all()
    assert any(n.encode("gbk") in raw for n in names if not n.isascii())
    back = gpd.read_file(out)
    assert sorted(back["name"]) == sorted(names)
    assert "parent_cd" in back.columns


def test_kml_names_and_extended_data_and_wgs84_only(run, city, tmp_path):
    from geo.export import LAYER_SQL

    out = tmp_path / "grids.kml"
    r = run("export", "grids", "--out", str(out))
    assert r.returncode == 0, r.stderr
    doc = out.read_text(encoding="utf-8")
    root = ET.fromstring(doc)
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    marks = root.findall(".//k:Placemark", ns)
    names = [m.findtext("k:name", namespaces=ns) for m in marks]
    assert any(re.fullmatch(r".+社区 第\d+网格", n or "") for n in names), names[:5]
    codes = [m.find(".//k:SimpleData[@name='code']", ns).text for m in marks]
    assert all(re.fullmatch(r"\d{15}|\d{18}|\d{20}", c) for c in codes)
    back = gpd.read_file(out, engine="pyogrio")
    back["geometry"] = shapely.force_2d(back.geometry.values)
    assert _max_gap_m(back, _postgis(city, LAYER_SQL["grids"], 4326)) < 0.01
    # KML is WGS 84: another CRS is refused, nothing written
    bad = tmp_path / "b.kml"
    r = run("export", "grids", "--out", str(bad), "--crs", "EPSG:4548")
    assert r.returncode == 2 and "KML 文件只能是 WGS-84" in r.stderr
    assert "KML is always WGS 84" in r.stderr and not bad.exists()


def test_cgcs2000_geojson_names_its_crs_and_json_is_geojson(run, city, tmp_path):
    from geo.export import LAYER_SQL

    out = tmp_path / "areas.geojson"
    assert run("export", "areas", "--out", str(out), "--crs", "cgcs2000").returncode == 0
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4490
    assert _max_gap_m(back, _postgis(city, LAYER_SQL["areas"], 4490)) < 0.01
    assert back["code"].map(type).eq(str).all()
    j = tmp_path / "areas.json"
    assert run("export", "areas", "--out", str(j)).returncode == 0
    assert gpd.read_file(j).crs.to_epsg() == 4326
    r = run("export", "areas", "--out", str(tmp_path / "a.csv"))
    assert r.returncode == 2
    assert "只能写 .geojson（或 .json）、.gpkg、.shp 或 .kml" in r.stderr


def test_a_missing_output_folder_is_refused_and_not_made(run, city, tmp_path):
    for layer, name in (("grids", "x.gpkg"), ("grids", "x.shp"), ("roster", "r.csv")):
        target = tmp_path / "nonexist" / name
        r = run("export", layer, "--out", str(target))
        assert r.returncode == 2, r.stderr
        assert f"输出目录不存在：{target.parent}" in r.stderr
        assert "output folder does not exist" in r.stderr
        assert not target.parent.exists()


def test_buildings_carry_their_grid_code_and_grids_a_label(run, city, tmp_path):
    out = tmp_path / "b.gpkg"
    assert run("export", "buildings", "--out", str(out)).returncode == 0
    b = gpd.read_file(out)
    with city.connect() as conn:
        held = dict(
            conn.execute(
                text(
                    "SELECT (jsonb_array_elements_text(properties->'building_ids'))::int, code "
                    "FROM grids WHERE level = 1 AND retired_at IS NULL"
                )
            ).all()
        )
        labels = conn.execute(
            text(
                "SELECT g.code, a.name FROM grids g JOIN areas a ON a.id = g.community_id "
                "WHERE g.level = 1 AND g.retired_at IS NULL AND g.name IS NULL"
            )
        ).all()
        names_before = conn.execute(text("SELECT count(*) FROM grids WHERE name IS NULL")).scalar()
    assert held
    got = dict(zip(b["id"], b["grid_code"], strict=True))
    assert all(got[bid] == code for bid, code in held.items())
    g = tmp_path / "g.geojson"
    assert run("export", "grids", "--out", str(g)).returncode == 0
    grids = gpd.read_file(g).set_index("code")
    for code, community in labels:
        assert grids.loc[code, "label"] == f"{community} 第{int(code[-3:])}网格"
    with city.connect() as conn:  # stored names unchanged
        assert conn.execute(text("SELECT count(*) FROM grids WHERE name IS NULL")).scalar() == (
            names_before
        )


def _current_duties(engine) -> pd.DataFrame:  # noqa: ANN001
    with engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(
                text(
                    "SELECT a.role, coalesce(g.code, s.key) AS code, p.name, p.external_id "
                    "FROM assignments a JOIN people p ON p.id = a.person_id "
                    "LEFT JOIN grids g ON g.id = a.grid_id "
                    "LEFT JOIN streets s ON s.id = a.street_id "
                    "WHERE a.valid_from <= current_date AND (a.valid_to IS NULL "
                    "OR a.valid_to >= current_date) AND p.active"
                )
            ).all()
        )


def test_roster_xlsx_and_csv(run, city, tmp_path):
    duties = _current_duties(city)
    leader = duties[duties["role"] == "grid_leader"].iloc[0]
    worker = duties[duties["role"] == "grid_worker"].iloc[0]
    steward = duties[duties["role"] == "alley_steward"].iloc[0]
    with city.begin() as conn:  # a phone for the office copy; one worker has left
        conn.execute(
            text("UPDATE people SET phone = '13912345678' WHERE external_id = :e"),
            {"e": leader.external_id},
        )
        conn.execute(
            text("UPDATE people SET active = false WHERE external_id = :e"),
            {"e": worker.external_id},
        )
    try:
        out = tmp_path / "公示.xlsx"
        r = run("export", "roster", "--out", str(out))
        assert r.returncode == 0, r.stderr
        ws = openpyxl.load_workbook(out).active
        rows = list(ws.iter_rows(values_only=True))
        head = list(rows[0])
        assert head[:4] == ["类型 kind", "编码 code", "名称 name", "社区编码 community_code"]
        body = [dict(zip(head, r, strict=True)) for r in rows[1:]]
        by_code = {r["编码 code"]: r for r in body}
        grid = by_code[leader.code]
        assert grid["类型 kind"] == "网格 grid"
        with city.connect() as conn:  # T51 #11: the grid's label, as the grids export's
            community = conn.execute(
                text(
                    "SELECT a.name FROM grids g JOIN areas a ON a.id = g.community_id "
                    "WHERE g.code = :c AND g.name IS NULL"
                ),
                {"c": leader.code},
            ).scalar_one()
        assert grid["名称 name"] == f"{community} 第{int(leader.code[-3:])}网格", grid
        assert grid["网格长 grid_leader"] == f"{leader['name']}（{leader.external_id}）"
        assert "13912345678" not in out.read_bytes().decode("latin-1")
        assert isinstance(grid["社区编码 community_code"], str)
        assert isinstance(grid["户数 households"], int)
        assert worker.external_id not in "".join(str(v) for r in body for v in r.values())
        alley = by_code[steward.code]
        assert alley["类型 kind"] == "巷 alley"
        assert f"{steward['name']}（{steward.external_id}）" in alley["小巷管家 alley_stewards"]
        # sorted by community, then grid, street, alley, then code
        keys = [
            (
                r["社区编码 community_code"] is None,
                r["社区编码 community_code"] or "",
                ["网格 grid", "街 street", "巷 alley"].index(r["类型 kind"]),
                r["编码 code"],
            )
            for r in body
        ]
        assert keys == sorted(keys)
        with city.connect() as conn:
            n = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM grids WHERE level = 1 AND retired_at IS NULL) "
                    "+ (SELECT count(*) FROM streets WHERE retired_at IS NULL)"
                )
            ).scalar()
        assert len(body) == n
        # CSV: UTF-8 with a BOM, phones with --with-phone, one community with --area
        community = grid["社区编码 community_code"]
        c = tmp_path / "r.csv"
        r = run("export", "roster", "--out", str(c), "--with-phone", "--area", community)
        assert r.returncode == 0, r.stderr
        raw = c.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert {t["社区编码 community_code"] for t in table} == {"\t" + community}
        mine = next(t for t in table if t["编码 code"].strip() == leader.code)
        assert (
            mine["网格长 grid_leader"] == f"{leader['name']}（{leader.external_id}，13912345678）"
        )
        r = run("export", "roster", "--out", str(c), "--crs", "gcj02")
        assert r.returncode == 2 and "选项 --crs 不用于导出 roster" in r.stderr
    finally:
        with city.begin() as conn:
            conn.execute(
                text("UPDATE people SET active = true, phone = '' WHERE external_id IN (:a, :b)"),
                {"a": leader.external_id, "b": worker.external_id},
            )


def _people(engine) -> list[tuple]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT id, external_id, name, phone, roles, ST_AsEWKB(home), home_building_id, "
                "capacity, part_time, active, area_id FROM people ORDER BY id"
            )
        ).all()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_people_export_imports_back_with_nothing_changed(run, city, tmp_path, suffix):
    with city.begin() as conn:  # the cells a spreadsheet would mangle: leading zeros, phones
        conn.execute(
            text(
                "UPDATE people SET external_id = '007', phone = '13900000007', capacity = 2.5, "
                "part_time = true WHERE id = 1"
            )
        )
        conn.execute(
            text(
                "UPDATE people SET home_building_id = (SELECT min(id) FROM buildings), "
                "phone = '01062781234' WHERE id = 2"
            )
        )
    before = _people(city)
    out = tmp_path / f"名册{suffix}"
    r = run("export", "people", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"人员名册 {len(before)} 人" in r.stdout
    if suffix == ".csv":
        head = out.read_bytes().decode("utf-8-sig").splitlines()[0]
        assert head == "人员编号,姓名,手机号,角色,经度,纬度,楼栋编号,兼职,容量"
    else:
        ws = openpyxl.load_workbook(out).active
        first = next(r for r in ws.iter_rows(min_row=2, values_only=True) if r[0] == "007")
        assert first[2] == "13900000007" and first[7] == "是" and first[8] == 2.5
    r = run("import", "people", str(out))
    assert r.returncode == 0, r.stderr
    assert f"读入 {len(before)} 人" in r.stdout
    assert "warning" not in r.stderr, r.stderr
    assert _people(city) == before


def _headers(engine, role: str, areas: tuple[str, ...] = ()) -> dict[str, str]:  # noqa: ANN001
    from geo.accounts import create_user, issue_token

    with engine.begin() as conn:
        uid = create_user(
            conn, f"{role}_{secrets.token_hex(3)}", secrets.token_urlsafe(16), role, areas, None
        )
        _tid, token, _exp = issue_token(conn, uid)
    return {"Authorization": f"Bearer {token}"}


def test_api_roster_and_people_files(city):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with city.connect() as conn:
        community = conn.execute(
            text("SELECT code FROM areas WHERE level = 'community' ORDER BY code LIMIT 1")
        ).scalar()
    with TestClient(create_app(city)) as client:
        admin = _headers(city, "admin")
        r = client.get("/exports/roster?format=csv", headers=admin)
        assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
        assert "类型 kind" in r.content.decode("utf-8-sig").splitlines()[0]
        r = client.get("/exports/people?format=xlsx", headers=admin)
        assert r.status_code == 200 and r.content[:2] == b"PK"
        planner = _headers(city, "planner", (community,))
        # without area: the planner's one area (T50 #10; it was a 403)
        r = client.get("/exports/people?format=csv", headers=planner)
        assert r.status_code == 200, r.text
        assert f"people_{community}.csv" in r.headers["content-disposition"]
        r = client.get(f"/exports/people?format=csv&area={community}", headers=planner)
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        with city.connect() as conn:
            n = conn.execute(
                text(
                    "SELECT count(*) FROM people p JOIN areas a ON a.id = p.area_id "
                    "WHERE a.code = :c AND p.active"
                ),
                {"c": community},
            ).scalar()
        assert len(rows) == n > 0
        viewer = _headers(city, "viewer")
        assert client.get("/exports/roster", headers=viewer).status_code == 403


def test_gcj02_export_imports_back_within_centimetres(run, city, tmp_path):
    """Last: it writes the areas again."""
    from geo.export import LAYER_SQL

    with city.connect() as conn:
        communities = conn.execute(
            text("SELECT count(*) FROM areas WHERE level = 'community'")
        ).scalar()
    before = _postgis(city, LAYER_SQL["areas"], 4326)
    out = tmp_path / "areas_gcj.gpkg"
    assert run("export", "areas", "--out", str(out), "--crs", "gcj02").returncode == 0
    shifted = gpd.read_file(out)
    assert 100 < _max_gap_m(shifted, before) < 1000  # GCJ-02 is some hundreds of metres off
    comm = tmp_path / "comm_gcj.gpkg"
    shifted[shifted["level"] == "community"].to_file(comm, driver="GPKG")
    r = run("import", "areas", str(comm), "--crs", "gcj02", "--level", "community")
    assert r.returncode == 0, r.stderr
    after = _postgis(city, LAYER_SQL["areas"], 4326)
    keep = before["code"].str.len() == 12
    assert keep.sum() == communities
    assert _max_gap_m(after[after["code"].str.len() == 12], before[keep]) < 0.01
    bd = tmp_path / "bd.gpkg"
    assert run("export", "areas", "--out", str(bd), "--crs", "bd09").returncode == 0
    assert _max_gap_m(gpd.read_file(bd), before) > _max_gap_m(shifted, before)
    assert pyogrio.read_info(bd)["crs"] == "EPSG:4326"


def test_kml_leaves_a_nameless_feature_unnamed_and_types_its_numbers(run, city, tmp_path):
    """T51 #12: an unnamed segment's or building's ``<name>`` was its numeric id (Google
    Earth and 奥维 show "1" as its name), and every SimpleField was ``string``, so ArcGIS and
    QGIS read households, version and lengths as text."""
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    numbers = {
        "segments": {"id": "int", "edge_id": "int", "street_id": "int", "length_m": "float"},
        "buildings": {"id": "int", "households": "int", "area_m2": "float"},
        "grids": {"level": "int", "households": "int", "building_count": "int", "version": "int"},
    }
    for layer, want in numbers.items():
        out = tmp_path / f"{layer}.kml"
        r = run("export", layer, "--out", str(out))
        assert r.returncode == 0, r.stderr
        root = ET.fromstring(out.read_text(encoding="utf-8"))
        types = {f.get("name"): f.get("type") for f in root.iter(f"{{{ns['k']}}}SimpleField")}
        assert {k: types.get(k) for k in want} == want, (layer, types)
        assert types.get("code", "string") == "string" and types.get("uid", "string") == "string"
        if layer == "grids":
            continue
        marks = root.findall(".//k:Placemark", ns)
        with city.connect() as conn:
            table = "street_segments" if layer == "segments" else "buildings"
            nameless = {
                str(i)
                for (i,) in conn.execute(
                    text(f"SELECT id FROM {table} WHERE name IS NULL OR name = ''")
                )
            }
        assert nameless, layer
        seen = 0
        for m in marks:
            fid = m.find(".//k:SimpleData[@name='id']", ns).text
            if fid in nameless:
                seen += 1
                assert not (m.findtext("k:name", default="", namespaces=ns) or ""), (layer, fid)
        assert seen == len(nameless), layer


def _csv_rows(path) -> list[dict[str, str]]:  # noqa: ANN001
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_people_export_with_leavers_names_them_and_imports_back_unchanged(run, city, tmp_path):
    """The registry left out those who left, with no way to get them (an office keeps a
    record of everyone who served). ``--with-leavers`` / ``?leavers=true`` adds them, with a
    last column 在岗状态; re-imported, the file changes nothing (a leaver stays inactive, named
    in a warning). The option is refused for other exports."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with city.begin() as conn:
        left = conn.execute(
            text("UPDATE people SET active = false WHERE id = 3 RETURNING external_id")
        ).scalar_one()
    try:
        before = _people(city)
        out = tmp_path / "名册.csv"
        r = run("export", "people", "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert left not in [row["人员编号"] for row in _csv_rows(out)]
        r = run("export", "people", "--with-leavers", "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert f"人员名册 {len(before)} 人" in r.stdout
        rows = _csv_rows(out)
        assert list(rows[0])[-1] == "在岗状态"
        status = {row["人员编号"]: row["在岗状态"] for row in rows}
        assert status.pop(left) == "已离岗" and set(status.values()) == {"在岗"}
        r = run("import", "people", str(out))
        assert r.returncode == 0, r.stderr
        assert left in r.stderr  # named: kept inactive
        assert _people(city) == before
        r = run("export", "roster", "--with-leavers", "--out", str(tmp_path / "r.csv"))
        assert r.returncode == 2 and "--with-leavers" in r.stderr, r.stderr
        with TestClient(create_app(city)) as client:
            admin = _headers(city, "admin")
            got = client.get("/exports/people?format=csv&leavers=true", headers=admin)
            assert got.status_code == 200, got.text
            api_rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
            assert {row["人员编号"]: row["在岗状态"] for row in api_rows}[left] == "已离岗"
            got = client.get("/exports/people?format=csv", headers=admin)
            assert "在岗状态" not in got.content.decode("utf-8-sig").splitlines()[0]
    finally:
        with city.begin() as conn:
            conn.execute(text("UPDATE people SET active = true WHERE id = 3"))

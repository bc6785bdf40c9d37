"""A grids file edited in QGIS brought back as a draft plan (T49 #7): ``gridward plans import
FILE --community C`` and POST /plans/import. The clerk found no way back in but POST
/plans/draft JSON with building ids per grid. Real PostGIS, the demo OSM cut: a committed
plan of the community, exported with geo.export.export_layer, edited with shapely."""

from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.export import export_layer
from geo.plans import commit_plan, create_plan, get_plan
from geo.settings import get_settings
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)
from tests.test_plans_db import COMMUNITY
from tests.test_plans_db import demo as demo  # noqa: F401 (the fixture)

OTHER = "110108015001"


def _plans(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM grid_plans")).scalar_one()


def _members(engine, plan_id: int) -> dict[str, frozenset[int]]:  # noqa: ANN001
    feats = get_plan(engine, plan_id)["features"]["features"]
    return {f["properties"]["code"]: frozenset(f["properties"]["building_ids"]) for f in feats}


def _committed(engine):  # noqa: ANN001, ANN202
    """A committed 300–500 plan (version 1) of the community and of its neighbour OTHER;
    the community's grids (code → buildings)."""
    commit_plan(engine, create_plan(engine, OTHER, 300, 500, created_by="t"), actor="t")
    plan = create_plan(engine, COMMUNITY, 300, 500, created_by="t")
    commit_plan(engine, plan, actor="t")
    return _members(engine, plan)


def _export(engine, tmp_path, name: str = "grids.gpkg") -> gpd.GeoDataFrame:  # noqa: ANN001
    path = tmp_path / name
    export_layer(engine, "grids", path)
    return gpd.read_file(path)


def _level1(frame: gpd.GeoDataFrame, community: str = COMMUNITY) -> gpd.GeoDataFrame:
    return frame[(frame.level == 1) & (frame.community_code == community)].reset_index(drop=True)


def _adjacent_pair(grids: gpd.GeoDataFrame) -> tuple[int, int]:
    """Two rows whose polygons share an edge."""
    geoms = list(grids.geometry)
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            if shapely.length(shapely.intersection(geoms[i].boundary, geoms[j].boundary)) > 0:
                return i, j
    raise AssertionError("no adjacent grids")


@pytest.fixture()
def plans_import(run_inproc, monkeypatch, pg_url):  # noqa: ANN001, ANN201, F811
    """``gridward plans import ARGS…`` run in process against the test database."""
    monkeypatch.setenv("DATABASE_URL", pg_url)

    def run(*args: str):  # noqa: ANN202
        get_settings.cache_clear()
        try:
            return run_inproc("plans", "import", *args)
        finally:
            get_settings.cache_clear()

    return run


def test_a_merge_drawn_in_qgis_comes_back_as_a_draft_with_one_grid_fewer(
    demo,  # noqa: F811
    tmp_path,
    plans_import,
) -> None:
    """Two grids merged in the exported file: the draft has one grid fewer, the merged one
    holds both grids' buildings under the first one's code, every other grid is as it was;
    one polygon grown over its neighbour is reported as an overlap in m², and the output
    says that outlines are redrawn from the buildings and what to run next."""
    current = _committed(demo)
    grids = _level1(_export(demo, tmp_path))
    i, j = _adjacent_pair(grids)
    a, b = grids.code[i], grids.code[j]
    merged = grids.drop(index=j).reset_index(drop=True)
    merged.loc[merged.code == a, "geometry"] = shapely.union(grids.geometry[i], grids.geometry[j])
    # a third grid grown ~3 m into its neighbours (a careless drag in QGIS): an overlap only
    k = next(n for n in range(len(merged)) if merged.code[n] not in (a, b))
    grown = gpd.GeoSeries([merged.geometry[k]], crs=4326).to_crs(4548).buffer(3).to_crs(4326)
    merged.loc[k, "geometry"] = grown.iloc[0]
    path = tmp_path / "merged.gpkg"
    merged.to_file(path)

    res = plans_import(str(path), "--community", COMMUNITY)
    assert res.returncode == 0, res
    pid = _plans(demo)
    assert f"已按文件 merged.gpkg 为社区 {COMMUNITY} 生成草案 {pid}（{len(current) - 1} 个网格" in (
        res.stdout
    )
    assert "网格轮廓按各网格的楼栋沿街巷重新绘制" in res.stdout
    assert "a boundary moved without moving any building changes nothing" in res.stdout
    assert f"gridward plans commit {pid}" in res.stdout
    assert f"/maps/editor?community={COMMUNITY}&plan={pid}" in res.stdout
    moved = len(current[b])
    assert f"与现行第 1 版网格相比，{moved} 栋楼改变了所属网格" in res.stdout, res.stdout
    assert f"warning: {merged.code[k]} 与 " in res.stderr and "平方米" in res.stderr, res.stderr

    draft = _members(demo, pid)
    assert get_plan(demo, pid)["status"] == "draft"
    assert len(draft) == len(current) - 1
    assert draft[a] == current[a] | current[b]
    assert b not in draft
    assert {c: s for c, s in draft.items() if c != a} == {
        c: s for c, s in current.items() if c not in (a, b)
    }


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_an_unchanged_export_gives_the_current_grids_whatever_its_format(
    demo,  # noqa: F811
    tmp_path,
    plans_import,
) -> None:
    """The whole export as it is (every community, levels 1–3): the other communities' and
    the lower levels' rows are skipped with a warning, and the grids are the current
    ones, said so: no draft stored (T51 #8). A zipped shapefile in EPSG:4548 (names cut to
    10 characters: community_) and a split made by QGIS (both pieces keep the code) come in
    too."""
    current = _committed(demo)
    _export(demo, tmp_path, "all.gpkg")
    plans = _plans(demo)
    res = plans_import(str(tmp_path / "all.gpkg"), "--community", COMMUNITY)
    assert res.returncode == 0, res
    assert _plans(demo) == plans
    assert res.stdout == (
        f"文件 all.gpkg 与社区 {COMMUNITY} 的现行第 1 版网格相同（每个网格的楼栋都未变），"
        f"未保存草案，无需提交 all.gpkg is identical to the current grids of community "
        f"{COMMUNITY} (version 1: no building changes grid): no draft saved, nothing to commit\n"
    ), res.stdout
    assert "行属于其他社区" in res.stderr and "行是二级或三级网格" in res.stderr, res.stderr

    grids = _level1(gpd.read_file(tmp_path / "all.gpkg")).to_crs(4548)
    shp = tmp_path / "shp"
    shp.mkdir()
    grids.to_file(shp / "grids_4548.shp", encoding="utf-8")
    assert "community_" in gpd.read_file(shp / "grids_4548.shp").columns
    zipped = tmp_path / "grids_4548.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for f in shp.iterdir():
            z.write(f, f.name)
    res = plans_import(str(zipped), "--community", COMMUNITY)
    assert res.returncode == 0, res
    assert "未保存草案" in res.stdout and _plans(demo) == plans, res.stdout
    # gridward's own Shapefile (comm_code, EPSG:4548) and KML exports, as they are
    export_layer(demo, "grids", tmp_path / "own.shp", crs="EPSG:4548")
    export_layer(demo, "grids", tmp_path / "own.kml")
    for own in ("own.shp", "own.kml"):
        res = plans_import(str(tmp_path / own), "--community", COMMUNITY)
        assert res.returncode == 0, (own, res)
        assert "未保存草案" in res.stdout and _plans(demo) == plans, (own, res.stdout)

    # a split: the largest grid cut in two, both pieces still carrying its code
    big = max(current, key=lambda c: len(current[c]))
    row = grids.index[grids.code == big][0]
    poly = grids.geometry[row]
    x = poly.centroid.x
    minx, miny, maxx, maxy = poly.bounds
    west = poly.intersection(shapely.box(minx - 1, miny - 1, x, maxy + 1))
    east = poly.intersection(shapely.box(x, miny - 1, maxx + 1, maxy + 1))
    split = grids.drop(index=row)
    pieces = gpd.GeoDataFrame({"code": [big, big]}, geometry=[west, east], crs=grids.crs)
    split = gpd.GeoDataFrame(pd.concat([split, pieces], ignore_index=True), crs=grids.crs)
    split.to_crs(4326).to_file(tmp_path / "split.geojson")
    res = plans_import(str(tmp_path / "split.geojson"), "--community", COMMUNITY)
    assert res.returncode == 0, res
    assert f"网格编码 {big} 出现在 2 行" in res.stderr, res.stderr
    draft = _members(demo, _plans(demo))
    assert len(draft) == len(current) + 1
    new = [c for c in draft if c not in current]
    assert len(new) == 1 and draft[big] | draft[new[0]] == current[big]
    assert "（新网格）" in res.stdout and f"→ {new[0]}" in res.stdout


def test_a_gap_or_another_communitys_file_is_refused_and_nothing_is_stored(
    demo,  # noqa: F811
    tmp_path,
    plans_import,
) -> None:
    """A polygon deleted (its buildings in no polygon): refused, naming each building by id,
    name and households. A file of another community, with or without its community_code
    column: refused naming that community. Nothing stored either way."""
    current = _committed(demo)
    everything = _export(demo, tmp_path)
    grids = _level1(everything)
    gone = min(current, key=lambda c: len(current[c]))
    path = tmp_path / "gap.gpkg"
    grids[grids.code != gone].to_file(path)
    before = _plans(demo)

    res = plans_import(str(path), "--community", COMMUNITY)
    assert res.returncode == 2, res
    n = len(current[gone])
    assert f"社区 {COMMUNITY} 有 {n} 栋楼" in res.stderr, res.stderr
    assert "不在文件 gap.gpkg 的多边形内（缝隙：占地一半以上不在任何多边形中），未保存草案" in (
        res.stderr
    )
    first = min(current[gone])
    with demo.connect() as conn:
        hh = conn.execute(
            text("SELECT households FROM buildings WHERE id = :i"), {"i": first}
        ).scalar_one()
    assert f"楼栋 {first} " in res.stderr and f" {hh} 户" in res.stderr, res.stderr
    assert (
        f"building {first} " in res.stderr
        and "(a gap: over half of the footprint in no polygon)" in res.stderr
    )

    other = _level1(everything, OTHER)
    assert len(other)
    for frame in (other, other.drop(columns=["community_code"])):
        frame.to_file(tmp_path / "other.gpkg")
        res = plans_import(str(tmp_path / "other.gpkg"), "--community", COMMUNITY)
        assert res.returncode == 2, res
        assert (
            f"文件 other.gpkg 中没有社区 {COMMUNITY} 的网格：其中的网格属于社区 {OTHER}"
            in res.stderr
        ), res.stderr
        assert f"--community {OTHER}" in res.stderr
    assert _plans(demo) == before


def test_the_api_twin_takes_an_upload_from_the_communitys_planners(
    demo,  # noqa: F811
    tmp_path,
    auth_headers,
) -> None:
    """POST /plans/import (multipart): a planner of the community gets the draft (201); one
    of another area is a 403 and a viewer a 403, nothing stored; a file exported before
    another commit is a 409 (importing it would undo that commit)."""
    current = _committed(demo)
    grids = _level1(_export(demo, tmp_path))
    buf = io.BytesIO()
    grids.to_file(buf, driver="GeoJSON")
    data = buf.getvalue()

    def send(headers: dict, **fields: str):  # noqa: ANN202
        return client.post(
            "/plans/import",
            files={"file": ("grids.geojson", io.BytesIO(data), "application/geo+json")},
            data={"community": COMMUNITY, **fields},
            headers=headers,
        )

    with TestClient(create_app(demo)) as client:
        before = _plans(demo)
        for who in (auth_headers("planner", ("110108014",)), auth_headers("viewer")):
            assert send(who).status_code == 403
        assert _plans(demo) == before
        planner = auth_headers("planner", ("110108015",))
        r = send(planner, min_households="250")
        assert r.status_code == 200, r.text  # the current grids: no draft (T51 #8)
        out = r.json()
        assert out["unchanged"] is True and out["bounds"] == [250, 500]
        assert "a boundary moved without moving any building" in out["note"]
        assert "plan_id" not in out and _plans(demo) == before
        assert out["message"].endswith("no draft saved, nothing to commit"), out
        assert {g["code"] for g in out["grids"]} == set(current)

        commit_plan(demo, create_plan(demo, COMMUNITY, 200, 400, seed=3), actor="t")
        before = _plans(demo)
        r = send(planner)
        assert r.status_code == 409, r.text
        assert r.json()["error"].startswith(
            f"文件 grids.geojson 导出自社区 {COMMUNITY} 的第 1 版网格，现行为第 2 版"
        ), r.text
        assert _plans(demo) == before


def test_a_file_covering_no_building_names_the_option_of_its_interface(
    demo,  # noqa: F811
    tmp_path,
    auth_headers,
    plans_import,
) -> None:
    """The community's grids moved 5 km east (a file in another CRS read as WGS 84): refused,
    nothing stored, the remedy naming ``--crs`` on the command line and the form field
    ``crs`` in the API's 422 (it said ``--crs`` to both)."""
    _committed(demo)
    grids = _level1(_export(demo, tmp_path))
    grids["geometry"] = grids.geometry.translate(xoff=0.06)
    path = tmp_path / "moved.geojson"
    grids.to_file(path, driver="GeoJSON")
    before = _plans(demo)
    res = plans_import(str(path), "--community", COMMUNITY)
    assert res.returncode == 2, res
    assert "可用 --crs 指定文件的坐标系" in res.stderr, res.stderr
    with TestClient(create_app(demo)) as client:
        r = client.post(
            "/plans/import",
            files={"file": ("moved.geojson", io.BytesIO(path.read_bytes()), "application/json")},
            data={"community": COMMUNITY},
            headers=auth_headers("admin"),
        )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "可用 crs 指定文件的坐标系" in error and "give the file's CRS with crs)" in error, error
    assert "--crs" not in error, error
    assert _plans(demo) == before


def test_a_gcj02_export_without_its_crs_is_told_by_its_datum(
    demo,  # noqa: F811
    tmp_path,
    auth_headers,
    plans_import,
) -> None:
    """T51 #6: ``export grids --crs gcj02`` imported without ``--crs`` was refused as a gap
    "cover these buildings in QGIS": the polygons were right, the datum was not. Now refused
    naming the option to add (the API's form field ``crs``), nothing stored; with it, the
    file is the current grids."""
    _committed(demo)
    export_layer(demo, "grids", tmp_path / "g_gcj.gpkg", crs="gcj02")
    before = _plans(demo)
    res = plans_import(str(tmp_path / "g_gcj.gpkg"), "--community", COMMUNITY)
    assert res.returncode == 2, res
    with demo.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM buildings b JOIN areas a ON a.code = :c "
                "AND ST_Intersects(a.geom, ST_PointOnSurface(b.geom))"
            ),
            {"c": COMMUNITY},
        ).scalar_one()
    err = res.stderr
    assert f"文件 g_gcj.gpkg 的多边形不换算（按 WGS-84 读）时，社区 {COMMUNITY} 有 " in err, err
    assert f"：坐标像是 GCJ-02（高德/腾讯），请加 --crs gcj02（按 gcj02 换算后 {n}/{n} 栋楼" in err
    assert "the coordinates look like GCJ-02 (Amap/Tencent): add --crs gcj02" in err, err
    assert "QGIS" not in err and "Make the polygons cover them" not in err, err
    assert _plans(demo) == before

    with TestClient(create_app(demo)) as client:
        r = client.post(
            "/plans/import",
            files={"file": ("g_gcj.gpkg", (tmp_path / "g_gcj.gpkg").read_bytes())},
            data={"community": COMMUNITY},
            headers=auth_headers("admin"),
        )
    assert r.status_code == 422, r.text
    assert "请加 crs=gcj02" in r.json()["error"] and "add crs=gcj02" in r.json()["error"]
    assert "--crs" not in r.json()["error"]

    res = plans_import(str(tmp_path / "g_gcj.gpkg"), "--community", COMMUNITY, "--crs", "gcj02")
    assert res.returncode == 0, res
    assert "与社区" in res.stdout and "未保存草案" in res.stdout, res.stdout
    assert "plans commit" not in res.stdout
    assert _plans(demo) == before

"""The people registry in an installation of two subdistricts (outside tester T70, 何工):
the demo city's 清华园街道 110108015 and T70's own 学院路东街道 110108012, the real OSM
extract cau_xueqinglu_2026.osm with the three communities he drew. Real PostGIS.

Old code: a 学院路东 roster row reusing 清华园's registry id renamed her steward and moved her
home into the other subdistrict, exit 0, no word, her walks and reports then under the new
name (#3); ``export people`` imported back counted every home given by 楼栋编号 as updated,
the .xlsx's 16 digits against the building point's 17 (#11); one subdistrict's roster named
the other's people as missing, and ``export people`` took no ``--area`` (#12). Each test below
fails on that code.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.areas_import import import_areas
from geo.demo import load_city, make_patrols, make_people
from geo.duties import Target, assign_duty
from geo.errors import InputError
from geo.importer import import_osm
from geo.people_export import people_table
from geo.people_import import import_people
from geo.settings import city_today
from tests.dbcheck import fingerprint
from tests.t70_city import communities_file
from tests.test_assign_cli import run_against as _cli
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)

DEMO_SUB, XYL_SUB = "110108015", "110108012"
N_XYL = 8  # 学院路东's roster here, under 1/9 of 清华园's 77 (何工: 108 and 五道口's 12)
STEWARD = "DEMO0001"  # 清华园's steward holding three alleys, with a walk yesterday
MISSING = "名册中没有"


def _xyl_rows(db) -> list[dict]:  # noqa: ANN001
    """学院路东's roster: a steward in each of N_XYL buildings of its communities, the even
    ones by 楼栋编号 only (the building's point is their home), the odd ones by lon/lat."""
    with db.connect() as conn:
        homes = conn.execute(
            text(
                "SELECT b.id, ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom)) "
                "FROM buildings b JOIN areas c ON c.id = b.community_id "
                "JOIN areas s ON s.id = c.parent_id WHERE s.code = :s ORDER BY b.id LIMIT :n"
            ),
            {"s": XYL_SUB, "n": N_XYL},
        ).all()
    assert len(homes) == N_XYL
    return [
        {
            "人员编号": f"XYL-AS{k + 1:02d}",
            "姓名": f"学院路{k + 1}号",
            "手机号": f"139{k:08d}",
            "角色": "小巷管家",
            "经度": None if k % 2 == 0 else round(x, 6),
            "纬度": None if k % 2 == 0 else round(y, 6),
            "楼栋编号": str(bid) if k % 2 == 0 else None,
        }
        for k, (bid, x, y) in enumerate(homes)
    ]


@pytest.fixture()
def city(db, shared_data, tmp_path):  # noqa: ANN001, ANN201
    """The demo city (清华园街道: areas, OSM, its generated people), DEMO0001 holding three
    of its alleys since three days ago and walking them yesterday; then 学院路东街道 (the real
    extract, T70's communities) and its roster of N_XYL stewards. Returns (db, roster path)."""
    load_city(db)
    make_people(db, 0)
    today = city_today()
    with db.connect() as conn:
        alleys = conn.execute(
            text(
                "SELECT st.id FROM streets st WHERE st.kind = 'alley' AND st.retired_at IS NULL "
                "AND ST_Within(st.geom, (SELECT ST_Union(geom) FROM areas "
                "WHERE level = 'community')) ORDER BY ST_Length(st.geom) DESC, st.id LIMIT 3"
            )
        ).scalars()
        alleys = list(alleys)
    for alley in alleys:
        assign_duty(db, STEWARD, Target("alley", alley), None, today - dt.timedelta(days=3))
    assert make_patrols(db, today - dt.timedelta(days=1), seed=1) == 1
    import_osm(db, shared_data / "osm_beijing_haidian" / "cau_xueqinglu_2026.osm")
    import_areas(db, communities_file(tmp_path / "communities_wgs84.geojson"), level="community")
    roster = tmp_path / "roster.csv"
    pd.DataFrame(_xyl_rows(db)).to_csv(roster, index=False)
    out = import_people(db, roster)
    assert out["created"] == N_XYL, out
    return db, roster


def _person(db, ext: str):  # noqa: ANN001, ANN202
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT p.id, p.name, c.code AS community, ST_X(p.home) AS lon, "
                "(SELECT count(*) FROM assignments a WHERE a.person_id = p.id) AS duties "
                "FROM people p LEFT JOIN areas c ON c.id = p.area_id WHERE p.external_id = :e"
            ),
            {"e": ext},
        ).one()


def _colliding(db, roster: Path, folder: Path, home: bool = True) -> Path:  # noqa: ANN001
    """学院路东's roster with one more row: DEMO0001's registry id for 冯晓丽, living (with
    ``home``) in a building of 农大东校区社区, else with blank home cells."""
    rows = pd.read_csv(roster, dtype=str)
    with db.connect() as conn:
        bid = conn.execute(
            text(
                "SELECT b.id FROM buildings b JOIN areas c ON c.id = b.community_id "
                "WHERE c.code = '110108012001' ORDER BY b.id DESC LIMIT 1"
            )
        ).scalar_one()
    extra = {"人员编号": STEWARD, "姓名": "冯晓丽", "手机号": "13712340000", "角色": "小巷管家"}
    extra["楼栋编号"] = str(bid) if home else None
    path = folder / ("roster_collide.csv" if home else "roster_collide_nohome.csv")
    pd.concat([rows, pd.DataFrame([extra])]).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------
# #3 a registry id of another subdistrict's person
# ---------------------------------------------------------------------------------------------


def test_a_row_renaming_another_subdistricts_steward_is_refused(
    city,
    pg_url,
    tmp_path,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """#3: 学院路东's roster reusing 清华园's DEMO0001 for 冯晓丽 in 农大东校区社区 exits 2,
    naming the row, the stored name, home, duties and walk, the file's name and home, and
    both ways on; nothing written. ``--same-person DEMO0001`` imports it, with a warning
    naming what she keeps in 清华园."""
    db, roster = city
    was = _person(db, STEWARD)
    path = _colliding(db, roster, tmp_path)
    before = fingerprint(db)
    res = _cli(monkeypatch, pg_url, run_inproc, "import", "people", str(path))
    err = " ".join(res.stderr.split())
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert fingerprint(db) == before  # nothing written: name, home, tracks, audit
    assert (
        f"人员文件 roster_collide.csv 中有 1 行的人员编号已属于另一处的人员（改了姓名，住址或职责"
        f"又在别处），像是两地的人员编号撞号：第 10 行 DEMO0001：已登记为 {was.name}（系统编号 "
        f"id:{was.id}，住 {was.community} "
    ) in err, err
    assert "（清华园街道 110108015）；在岗或已安排的职责 3 项（清华园街道 110108015：小巷 " in err
    assert (
        "轨迹 1 条），文件中为 冯晓丽（住 110108012001 农大东校区社区（学院路东街道 110108012）"
        in err
    )
    assert "其过去的巡查在报表和轨迹中也会记在新姓名下" in err
    assert "请加 --same-person DEMO0001 重新导入" in err
    assert f"row 10 DEMO0001: registered as {was.name} (id:{was.id}, home in " in err
    assert "import again with --same-person DEMO0001" in err
    assert err.index("人员文件") < err.index("the people file")  # Chinese first

    res = _cli(
        monkeypatch, pg_url, run_inproc, "import", "people", str(path), "--same-person", STEWARD
    )
    assert res.returncode == 0, res.stderr
    assert "新增 0 人，更新 1 人" in res.stdout
    said = " ".join(res.stderr.split())
    assert "已按 --same-person 作为同一人改名并迁居导入 1 人：第 10 行 DEMO0001" in said, said
    now = _person(db, STEWARD)
    assert (now.name, now.community, now.duties) == ("冯晓丽", "110108012001", was.duties)


def test_the_api_refuses_it_with_the_same_words(city, tmp_path, auth_headers) -> None:
    """#3: POST /people/import runs the same check: 422 with the words of the import (the
    option as the API takes it, same_person=…), nothing written; the form field lets it
    through."""
    db, roster = city
    path = _colliding(db, roster, tmp_path)
    with pytest.raises(InputError) as direct:
        import_people(db, path, crs_option="crs")
    admin = auth_headers("admin")
    before = fingerprint(db)
    with TestClient(create_app(db)) as client:
        files = {"file": (path.name, io.BytesIO(path.read_bytes()), "text/csv")}
        r = client.post("/people/import", files=files, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == direct.value.message
        assert "请加 same_person=DEMO0001 重新导入" in r.json()["error"]
        assert fingerprint(db) == before
        files = {"file": (path.name, io.BytesIO(path.read_bytes()), "text/csv")}
        r = client.post("/people/import", files=files, data={"same_person": STEWARD}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["updated_ids"] == [STEWARD]
        assert any(w.startswith("已按 same_person 作为同一人") for w in r.json()["warnings"])
    assert _person(db, STEWARD).name == "冯晓丽"


def test_a_rename_elsewhere_without_a_home_is_refused_a_rename_at_home_is_not(
    city, tmp_path
) -> None:
    """#3: the colliding row with blank home cells keeps her 清华园 home, but the file's
    people live in 学院路东, where she neither lives nor holds a duty: refused as well. A
    name corrected in a roster of her own subdistrict (清华园's people, her home and duties
    there), and a 学院路东 steward renamed in his own roster, import as before."""
    db, roster = city
    path = _colliding(db, roster, tmp_path, home=False)
    with pytest.raises(InputError) as refused:
        import_people(db, path)
    assert "第 10 行 DEMO0001：已登记为" in refused.value.message
    assert "文件中为 冯晓丽（住 " in refused.value.message
    assert _person(db, STEWARD).name != "冯晓丽"

    demo = people_table(db, DEMO_SUB)
    demo.loc[demo["person_id"] == STEWARD, "name"] = "冯晓丽"
    path = tmp_path / "demo.csv"
    demo.to_csv(path, index=False)
    assert import_people(db, path)["updated_ids"] == [STEWARD]
    rows = pd.read_csv(roster, dtype=str)
    rows.loc[0, "姓名"] = "学院路一号"
    rows.to_csv(roster, index=False)
    assert import_people(db, roster)["updated_ids"] == ["XYL-AS01"]


# ---------------------------------------------------------------------------------------------
# #11 the registry imported back
# ---------------------------------------------------------------------------------------------


def test_the_registry_exported_as_xlsx_imports_back_unchanged(
    city,
    pg_url,
    tmp_path,
    monkeypatch,
    run_inproc,  # noqa: F811
) -> None:
    """#11: ``export people`` (.xlsx, 16 digits) imported back, then the 楼栋编号 roster
    again, then the export again: every person ``unchanged`` each time, and the homes given
    by building stay the building's point to the last bit (no drift)."""
    db, roster = city
    out = tmp_path / "people_export.xlsx"
    res = _cli(monkeypatch, pg_url, run_inproc, "export", "people", "--out", str(out))
    assert res.returncode == 0, res.stderr
    n = len(pd.read_excel(out))
    for path in (out, roster, out):
        res = _cli(monkeypatch, pg_url, run_inproc, "import", "people", str(path))
        assert res.returncode == 0, res.stderr
        rows = N_XYL if path == roster else n
        assert f"updated=0, unchanged={rows}" in res.stdout, (path.name, res.stdout)
    with db.connect() as conn:
        drift = conn.execute(
            text(
                "SELECT count(*) FROM people p JOIN buildings b ON b.id = p.home_building_id "
                "WHERE p.external_id LIKE 'XYL-%' "
                "AND ST_AsBinary(p.home) <> ST_AsBinary(ST_PointOnSurface(b.geom))"
            )
        ).scalar_one()
    assert drift == 0


# ---------------------------------------------------------------------------------------------
# #12 one subdistrict's roster, the other's people
# ---------------------------------------------------------------------------------------------


def test_a_subdistricts_roster_names_only_its_own_missing_people(city, tmp_path) -> None:
    """#12: 清华园's whole roster (over 90 % of the installation's active people) names none
    of 学院路东's; without one of its own people it names that one only, and says which
    areas it checked."""
    db, _roster = city
    demo = people_table(db, DEMO_SUB)
    assert len(demo) >= 9 * N_XYL  # the old rule's share: 学院路东's were named
    path = tmp_path / "demo.csv"
    demo.to_csv(path, index=False)
    out = import_people(db, path)
    assert not [w for w in out.get("warnings", []) if w.startswith(MISSING)], out
    gone = demo["person_id"].iloc[-1]
    demo.iloc[:-1].to_csv(path, index=False)
    [said] = [w for w in import_people(db, path).get("warnings", []) if w.startswith(MISSING)]
    assert said.startswith("名册中没有 1 名在岗人员（仍在岗，职责不变）：") and gone in said
    assert "XYL-" not in said
    assert "（只核对名册人员住址所在的区域：清华园街道 110108015）" in said
    assert "(checked only within the areas the file's people live in: 清华园街道 110108015)" in said


def test_export_people_takes_an_area(city, pg_url, tmp_path, monkeypatch, run_inproc) -> None:  # noqa: F811
    """#12: ``gridward export people --area 110108012`` writes 学院路东's people only (the
    API's area=); an unknown code is refused, naming it; --with-phone still is not people's."""
    db, _roster = city
    out = tmp_path / "xyl.csv"
    res = _cli(
        monkeypatch, pg_url, run_inproc, "export", "people", "--area", XYL_SUB, "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    assert f"人员名册 {N_XYL} 人" in res.stdout
    ids = pd.read_csv(out, dtype=str)["人员编号"].str.strip()
    assert sorted(ids) == [f"XYL-AS{k:02d}" for k in range(1, N_XYL + 1)]
    res = _cli(
        monkeypatch, pg_url, run_inproc, "export", "people", "--area", "110108099", "--out",
        str(tmp_path / "none.csv"),
    )  # fmt: skip
    assert res.returncode == 2
    assert "区划 110108099 不存在" in " ".join(res.stderr.split())
    assert not (tmp_path / "none.csv").exists()
    res = _cli(
        monkeypatch, pg_url, run_inproc, "export", "people", "--area", XYL_SUB, "--with-phone",
        "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 2 and "--with-phone" in res.stderr

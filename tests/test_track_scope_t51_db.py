"""A planner withdraws, restores and reassigns only walks of people living in their areas,
even a file they uploaded themselves once an admin gave it to someone of another district
(T51 #1), and the 403 names whose walk it is (T51 #9)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.test_tracks_db import _csv, _post, _walk_with_duty, demo  # noqa: F401
from tests.test_upload_scope_t50_db import _two_areas

OWNER_ZH = (
    "轨迹 {t} 属于 王小巷（人员编号 S1，系统编号 id:1），住址在 110108015001，不在您的管辖区域"
)


def _visits(db, track_id: int) -> int:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM patrol_visits WHERE track_id = :t"), {"t": track_id}
        ).scalar_one()


def test_a_planners_own_upload_given_to_another_districts_person(demo, auth_headers):  # noqa: F811
    pts, _day = _walk_with_duty(demo, 41)
    _two_areas(demo)
    admin = auth_headers("admin")
    plan17 = auth_headers("planner", ("110108017",))
    with TestClient(create_app(demo)) as client:
        r = _post(client, plan17, [("w.csv", _csv(pts))])  # for nobody: allowed
        assert r.status_code == 201, r.text
        tid = r.json()["files"][0]["track_id"]
        r = client.patch(f"/tracks/{tid}", json={"person": "S1"}, headers=admin)
        assert r.status_code == 200, r.text
        credit = _visits(demo, tid)
        assert credit > 0

        r = client.request("DELETE", f"/tracks/{tid}?reason=test", headers=plan17)
        assert r.status_code == 403, r.text
        error = r.json()["error"]
        assert error.startswith(OWNER_ZH.format(t=tid)), error
        assert "（110108017）内，您不能撤回（withdraw）它，请由该区域的规划员或管理员撤回" in error
        assert (
            f"track {tid} is the walk of 王小巷 (S1, id:1), who lives in 110108015001, outside "
            "your areas (110108017): you may not withdraw it; ask the area's planner or an admin"
        ) in error, error
        assert _visits(demo, tid) == credit  # the other district keeps its credit

        # withdrawn by an admin: the planner may not restore it either
        r = client.request("DELETE", f"/tracks/{tid}?reason=test", headers=admin)
        assert r.status_code == 200, r.text
        r = client.post(f"/tracks/{tid}/restore", headers=plan17)
        assert r.status_code == 403, r.text
        assert r.json()["error"].startswith(OWNER_ZH.format(t=tid)), r.text
        assert "you may not restore it" in r.json()["error"]
        r = client.post(f"/tracks/{tid}/restore", headers=admin)
        assert r.status_code == 200, r.text

        # PATCH names the owner (was "track N or person id:2 is not in your areas")
        r = client.patch(f"/tracks/{tid}", json={"person": "S2"}, headers=plan17)
        assert r.status_code == 403, r.text
        assert r.json()["error"].startswith(OWNER_ZH.format(t=tid)), r.text
        assert "you may not reassign it" in r.json()["error"]

        # a file of her own for nobody she still withdraws
        other, _ = _walk_with_duty(demo, 42)
        r = _post(client, plan17, [("b.csv", _csv(other))])
        assert r.status_code == 201, r.text
        mine = r.json()["files"][0]["track_id"]
        r = client.request("DELETE", f"/tracks/{mine}?reason=mine", headers=plan17)
        assert r.status_code == 200, r.text

        # the planner of the walker's own area gives it to someone of plan17's area: the
        # PATCH names that person and where they live
        plan15 = auth_headers("planner", ("110108015",))
        r = client.patch(f"/tracks/{tid}", json={"person": "S2"}, headers=plan15)
        assert r.status_code == 403, r.text
        error = r.json()["error"]
        assert error.startswith(
            f"不能把轨迹 {tid} 改归 李小巷（人员编号 S2，系统编号 id:2）：其住址在 110108017001"
        ), error
        assert f"cannot give track {tid} to 李小巷 (S2, id:2), who lives in 110108017001" in error


def test_the_upload_refusals_english_says_whom_to_ask(demo, auth_headers):  # noqa: F811
    pts, _day = _walk_with_duty(demo, 41)
    _two_areas(demo)
    plan15 = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        r = _post(client, plan15, [("a.csv", _csv(pts))], person="S2")
        assert r.status_code == 403, r.text
        assert r.json()["error"].endswith(
            "nothing was stored: ask the area's planner or an admin to upload it"
        ), r.text

"""A planner uploads walks only for people living in their areas (T50 #3): the rule of
``PATCH /tracks`` and ``DELETE /tracks``, through the API with two planners of two areas."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.dbcheck import fingerprint
from tests.test_tracks_db import _csv, _post, _second_steward, _walk_with_duty, demo  # noqa: F401

OTHER = "110108017001"  # a community of a second subdistrict, drawn far from the demo


def _two_areas(db) -> None:
    """Person 1 (王小巷) lives in 110108015001; person 2 (李小巷) in OTHER."""
    _second_steward(db)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO areas (code, level, name, geom) VALUES "
                "(:c, 'community', '小月河社区', "
                "ST_Multi(ST_MakeEnvelope(116.34, 40.00, 116.35, 40.01, 4326)))"
            ),
            {"c": OTHER},
        )
        for pid, code in ((1, "110108015001"), (2, OTHER)):
            conn.execute(
                text(
                    "UPDATE people SET area_id = (SELECT id FROM areas WHERE code = :c) "
                    "WHERE id = :p"
                ),
                {"c": code, "p": pid},
            )


def _tracks(db) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tracks")).scalar_one()


def test_a_planner_uploads_only_for_people_of_their_areas(demo, auth_headers):  # noqa: F811
    pts, _day = _walk_with_duty(demo, 41)
    other_pts, _ = _walk_with_duty(demo, 42)
    _two_areas(demo)
    plan15 = auth_headers("planner", ("110108015",))
    plan17 = auth_headers("planner", ("110108017",))
    with TestClient(create_app(demo)) as client:
        before = fingerprint(demo)
        # the other district's person, by registry id, by person_id, in a two-file upload
        for who, fields in (
            ("李小巷（人员编号 S2，系统编号 id:2）", {"person": "S2"}),
            ("李小巷（人员编号 S2，系统编号 id:2）", {"person_id": 2}),
        ):
            r = _post(client, plan15, [("a.csv", _csv(pts)), ("b.csv", _csv(other_pts))], **fields)
            assert r.status_code == 403, r.text
            error = r.json()["error"]
            assert error.startswith("规划员只能为住在本人管辖区域内的人员上传轨迹："), error
            assert f"{who}住址在 {OTHER}，不在您的区域（110108015）内" in error, error
            assert "people living in their areas: 李小巷 (S2, id:2) lives in " in error, error
            assert "outside your areas (110108015); nothing was stored" in error, error
        assert fingerprint(demo) == before and _tracks(demo) == 0
        # the reverse: the second district's planner naming a demo steward
        r = _post(client, plan17, [("a.csv", _csv(pts))], person="S1")
        assert r.status_code == 403 and "王小巷（人员编号 S1" in r.json()["error"], r.text
        assert _tracks(demo) == 0

        # a person with no home area: an admin's to upload for
        with demo.begin() as conn:
            conn.execute(text("UPDATE people SET area_id = NULL WHERE id = 2"))
        r = _post(client, plan17, [("a.csv", _csv(pts))], person="S2")
        assert r.status_code == 403 and "住址不在任何社区内" in r.json()["error"], r.text
        assert "has no home area" in r.json()["error"]

        # in their own areas, and for nobody, as before
        r = _post(client, plan15, [("a.csv", _csv(pts))], person="S1")
        assert r.status_code == 201, r.text
        r = _post(client, plan17, [("b.csv", _csv(other_pts))])
        assert r.status_code == 201, r.text
        assert _tracks(demo) == 2
        # an unknown person is still a 404, not told as out of scope
        r = _post(client, plan15, [("a.csv", _csv(pts))], person="NOPE")
        assert r.status_code == 404, r.text

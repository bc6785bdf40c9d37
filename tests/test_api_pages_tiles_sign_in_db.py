"""Outside tester T40 (a phone-app developer on the HTTP API): GET /people pages with
``offset`` and says how many in all (#15), a bad tile address is the app's 422 (#15), and a
sign-in sent as JSON is told to send a form (#16). Real PostGIS (the ``db`` fixture)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.accounts import create_user
from geo.errors import reads_chinese_first


def _people(db, n: int) -> list[int]:  # noqa: ANN001
    """``n`` people, every other one a steward (小巷管家); their ids in order."""
    with db.begin() as conn:
        return [
            conn.execute(
                text(
                    "INSERT INTO people (external_id, name, roles) VALUES (:e, :n, :r) RETURNING id"
                ),
                {
                    "e": f"P{i:02d}",
                    "n": f"人员{i}",
                    "r": ["alley_steward"] if i % 2 == 0 else ["street_chief"],
                },
            ).scalar_one()
            for i in range(n)
        ]


def test_people_pages_with_offset_and_says_the_total(db, auth_headers) -> None:  # noqa: ANN001
    ids = _people(db, 7)
    viewer = auth_headers("viewer")
    with TestClient(create_app(db)) as client:
        pages = []
        for offset in (0, 3, 6, 9):
            r = client.get("/people", params={"limit": 3, "offset": offset}, headers=viewer)
            assert r.status_code == 200, r.text
            assert isinstance(r.json(), list)  # still a bare list: clients read it as one
            assert r.headers["x-total-count"] == "7"
            pages.append([p["id"] for p in r.json()])
        assert pages == [ids[0:3], ids[3:6], ids[6:7], []]
        # the keys a person had before
        first = client.get("/people", params={"limit": 1}, headers=viewer).json()[0]
        assert set(first) == {
            "id", "external_id", "name", "roles", "active", "part_time", "community_code"
        }  # fmt: skip
        assert "phone" not in first
        # the total counts the role asked for, not the page
        r = client.get(
            "/people", params={"role": "alley_steward", "limit": 2, "offset": 1}, headers=viewer
        )
        assert r.headers["x-total-count"] == "4"
        assert [p["id"] for p in r.json()] == [ids[2], ids[4]]
        # no offset: from the start, as before
        r = client.get("/people", headers=viewer)
        assert [p["id"] for p in r.json()] == ids and r.headers["x-total-count"] == "7"
        bad = client.get("/people", params={"offset": -1}, headers=viewer)
        assert bad.status_code == 422
        assert bad.json()["error"].startswith("参数 offset "), bad.text
        assert "X-Total-Count" in str(client.get("/openapi.json").json()["paths"]["/people"])


def test_a_bad_tile_address_is_a_422_in_chinese_first(db, auth_headers) -> None:  # noqa: ANN001
    viewer = auth_headers("viewer")
    with TestClient(create_app(db)) as client:
        r = client.get("/tiles/grids/a/0/0.pbf", headers=viewer)
        assert r.status_code == 422
        assert r.json() == {
            "error": "瓦片 z 须为整数（现为 'a'） tile z must be an integer, got 'a'",
            "status": 422,
            "code": "invalid_input",
        }
        r = client.get("/tiles/parcels/14/1/1.pbf", headers=viewer)
        assert r.status_code == 422 and r.json()["error"].startswith("瓦片图层 'parcels' 不存在")
        r = client.get("/tiles/grids/2/4/0.pbf", headers=viewer)
        assert r.status_code == 422 and "tile x=4, y=0 is outside 0..3 at zoom 2" in r.text
        assert reads_chinese_first(r.json()["error"])
        good = client.get("/tiles/grids/2/0/0.pbf", headers=viewer)
        assert good.status_code == 200 and good.content == b""  # an empty city: nothing drawn
        schema = client.get("/openapi.json").json()["paths"]["/tiles/{layer}/{z}/{x}/{y}.pbf"]
        assert "422" in schema["get"]["responses"] and "400" not in schema["get"]["responses"]


def test_a_sign_in_sent_as_json_is_told_to_send_a_form(db) -> None:  # noqa: ANN001
    with db.begin() as conn:
        create_user(conn, "li", "correct horse battery", "viewer")
    creds = {"username": "li", "password": "correct horse battery"}
    with TestClient(create_app(db)) as client:
        r = client.post("/auth/token", json=creds)
        assert r.status_code == 415, r.text
        assert r.json() == {
            "error": "登录请求须以表单发送，不接受 JSON：请用 Content-Type: "
            "application/x-www-form-urlencoded，字段 username 和 password（OAuth2 密码模式，"
            "如 username=li&password=…；收到的内容类型为 'application/json'） "
            "sign-in takes a form (JSON is not taken): send Content-Type: "
            "application/x-www-form-urlencoded with the fields username and password (OAuth2 "
            "password flow, e.g. username=li&password=…); got content type 'application/json'",
            "status": 415,
            "code": "unsupported_media_type",
        }
        assert "correct horse" not in r.text
        # no body at all, or another type: the same words, without the JSON part
        r = client.post("/auth/token")
        assert r.status_code == 415
        assert "收到的内容类型为 '（无）'" in r.text and "got content type '(none)'" in r.text
        assert "JSON" not in r.text
        r = client.post("/auth/token", content=b"li", headers={"content-type": "text/plain"})
        assert r.status_code == 415 and "'text/plain'" in r.text
        # a JSON try is no failed sign-in: a dozen of them lock nobody out
        for _ in range(12):
            client.post("/auth/token", json=creds)
        # a form signs in, urlencoded (charset too) or multipart
        assert client.post("/auth/token", data=creds).status_code == 200
        r = client.post(
            "/auth/token",
            content=b"username=li&password=correct+horse+battery",
            headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
        )
        assert r.status_code == 200, r.text
        multipart = {k: (None, v) for k, v in creds.items()}
        assert client.post("/auth/token", files=multipart).status_code == 200
        # a form that leaves a field out is still told which
        r = client.post("/auth/token", data={"username": "li"})
        assert r.status_code == 422 and r.json()["error"].startswith("缺少字段 password")
        responses = client.get("/openapi.json").json()["paths"]["/auth/token"]["post"]
        assert "415" in responses["responses"]
    with db.connect() as conn:
        failed = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'signin.failure'")
        ).scalar()
    assert failed == 0

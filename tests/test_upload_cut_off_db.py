"""A multipart upload cut off before its closing boundary, on a route other than POST /tracks.

WHY: the check (T40 #16) lives in the shared reader (api.limits.read_uploads), so every upload
is watched: a people roster cut on the way was read as far as it came, and its first rows
imported, the rest left out without a word."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from tests.dbcheck import fingerprint
from tests.test_people_import_db import A, place  # noqa: F401 (a fixture)


def test_a_cut_off_roster_is_said_so_and_imports_nobody(place, auth_headers):  # noqa: F811
    db, xy = place
    (ax, ay) = xy[A]
    rows = "".join(f"N{i:03d},人{i},{ax},{ay}\n" for i in range(40))
    roster = f"person_id,name,lon,lat\n{rows}".encode()
    body = (
        b'--gwCut\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + roster + b"\r\n--gwCut--\r\n"
    )
    headers = {**auth_headers("admin"), "content-type": "multipart/form-data; boundary=gwCut"}
    with TestClient(create_app(db)) as client:
        before = fingerprint(db)
        for cut in (len(body) // 2, len(body) - 5):
            r = client.post("/people/import", content=body[:cut], headers=headers)
            assert r.status_code == 422, (cut, r.text)
            assert r.json()["error"].startswith("上传的表单不完整"), r.text
            assert fingerprint(db) == before
        r = client.post("/people/import", content=body, headers=headers)
        assert r.status_code == 200 and r.json()["people_read"] == 40, r.text

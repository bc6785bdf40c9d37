"""Who reads a job (outside tester W, F17).

Old code: ``GET /jobs/{id}`` showed any job's result (a staffing proposal's person ids and
home-to-grid distances) to any viewer and to planners of other areas; only stewards were kept
to their own jobs. Now a job is its creator's, admins' and its area's planners'.
"""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient

from api.app import create_app
from geo.accounts import create_user, issue_token
from geo.jobs import create_job, update_job

A, B = "110108015001", "110108015002"


def _user(db, role: str, areas: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
    """A user's name and Authorization headers."""
    name = f"{role}_{secrets.token_hex(3)}"
    with db.begin() as conn:
        uid = create_user(conn, name, secrets.token_urlsafe(16), role, areas, None)
        _tid, token, _exp = issue_token(conn, uid)
    return name, {"Authorization": f"Bearer {token}"}


def _job(db, kind: str, params: dict, by: str | None) -> str:
    with db.begin() as conn:
        job_id = create_job(conn, kind, params, created_by=by)
    update_job(db, job_id, status="done", result={"pairs": [{"person_id": 7, "distance_m": 80}]})
    return job_id


def test_a_job_is_read_by_its_creator_admins_and_its_areas_planners(db) -> None:
    planner_a, as_a = _user(db, "planner", (A,))
    _, as_a2 = _user(db, "planner", ("110108015",))  # A's subdistrict: A is theirs too
    _, as_b = _user(db, "planner", (B,))
    _, viewer = _user(db, "viewer")
    _, admin = _user(db, "admin")
    steward, as_steward = _user(db, "steward")
    _, other_steward = _user(db, "steward")
    proposal = _job(db, "assignment", {"kind": "grids", "area": A}, planner_a)
    plan = _job(db, "partition", {"community": A}, planner_a)
    upload = _job(db, "match_queue", {}, steward)
    with TestClient(create_app(db)) as client:

        def status(job_id: str, headers: dict[str, str]) -> int:
            return client.get(f"/jobs/{job_id}", headers=headers).status_code

        for job_id in (proposal, plan):
            assert [status(job_id, h) for h in (as_a, as_a2, admin)] == [200] * 3
            for outsider in (as_b, viewer):
                r = client.get(f"/jobs/{job_id}", headers=outsider)
                assert r.status_code == 403, r.text
                assert r.json()["error"].startswith("无权查看此任务") and A in r.text, r.text
                assert "distance_m" not in r.text
            assert status(job_id, as_steward) == 404
        # a steward polls their own upload job (job_url); others' are not there for them
        assert status(upload, as_steward) == 200 and status(upload, admin) == 200
        assert status(upload, other_steward) == 404
        assert status(upload, as_a) == 403 and status(upload, viewer) == 403
        # its times in the city's zone, as a report job's expires_at (they were UTC)
        got = client.get(f"/jobs/{plan}", headers=admin).json()
        assert got["created_at"].endswith("+08:00") and got["updated_at"].endswith("+08:00")

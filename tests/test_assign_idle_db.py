"""The take-over option on PostGIS (outside tester T64, F7): ``gridward assign alleys|streets
--fill-idle`` and ``POST /assignments/proposals`` with ``fill_idle``, on the demo city (the
Haidian OSM extract). Off, the default, everything is as before the option; on, the table
says who took over and what was levelled; off, a line names the option where people are idle
beside holders of 2 or more."""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.dbcheck import fingerprint
from tests.test_assign_cli_hints_db import _table
from tests.test_import import run_cli

SUBDISTRICT = "110108015"  # the demo's: 18 streets


@pytest.fixture(scope="module")
def city(engine):  # noqa: ANN001, ANN201
    """The demo city without its patrols, duties from a week ago; read only (dry runs)."""
    from tests.conftest import demo_with_duties

    demo_with_duties(engine)
    return engine


def _proposal(city, kind: str, fill: bool | None) -> dict:  # noqa: ANN001
    from geo.assign.chiefs import ChiefParams
    from geo.assign.stewards import StewardParams
    from geo.staffing import propose

    params = None
    if fill is not None:
        params = (StewardParams if kind == "alleys" else ChiefParams)(fill_idle=fill)
    return propose(city, kind, SUBDISTRICT, rebalance=True, params=params)


def _same(a: dict, b: dict) -> bool:
    """Two proposals alike but for their solve's running time."""

    def bare(p: dict) -> dict:
        return {**p, "summary": {k: v for k, v in p["summary"].items() if k != "runtime_s"}}

    return bare(a) == bare(b)


def _idle_line(kind: str, proposal: dict) -> str:
    """The hint without --fill-idle, from the default proposal's figures."""
    s = proposal["summary"]
    busy = s["stewards" if kind == "alleys" else "chiefs"]
    idle = s["people"] - busy - s.get("full_elsewhere", 0) - len(s.get("outside_area") or [])
    many = sum(n >= 2 for n in Counter(r["person_id"] for r in proposal["pairs"]).values())
    if kind == "alleys":
        return (
            f"{idle} 人未分到小巷，{many} 名管家各管 2 条及以上；加 --fill-idle 可让空闲人员"
            "接手其中步行可及的小巷（步行不超过原管家或 500 米；步行会变长） "
            f"{idle} people hold no alley while {many} stewards hold 2 or more: --fill-idle "
            "lets idle people take alleys over within their walk (no farther than the holder, "
            "or 500 m; walks grow longer)"
        )
    return (
        f"{idle} 人未分到街，{many} 名街巷长各管 2 条及以上；加 --fill-idle 可让空闲人员"
        "接手其中步行可及的街（步行不超过原街巷长或 1000 米；步行会变长） "
        f"{idle} people hold no street while {many} street chiefs hold 2 or more: --fill-idle "
        "lets idle people take streets over within their walk (no farther than the holder, "
        "or 1000 m; walks grow longer)"
    )


def test_assign_alleys_fill_idle(city, pg_url, monkeypatch) -> None:
    """``assign alleys --fill-idle``: more stewards, the take-over's rows in place of the
    hand-on's; without it the table is as it was, and a line names the option."""
    monkeypatch.setenv("COLUMNS", "240")  # rich's width: no note wrapped mid-phrase
    before = fingerprint(city)
    base = ["assign", "alleys", "--area", SUBDISTRICT, "--dry-run", "--rebalance"]
    on = run_cli([*base, "--fill-idle"], pg_url)
    off = run_cli(base, pg_url)
    assert on.returncode == 0 and off.returncode == 0, on.stderr + off.stderr
    default, filled = _proposal(city, "alleys", None), _proposal(city, "alleys", True)
    assert _same(default, _proposal(city, "alleys", False))  # off is the default
    s = filled["summary"]
    assert s["fill_idle"] is True and s["stewards"] > default["summary"]["stewards"]
    rows = _table(on.stdout)
    assert rows["接手规则接手 taken over by the take-over rule"] == (
        str(s["handed_to_idle"]),
        "人，求解后仍空闲，按接手规则从管 2 条及以上的管家处各接手一条 people idle after the "
        "solve who each took one alley over from a steward of 2+",
    )
    assert "空闲人员接手 taken over by idle people" not in rows
    assert rows["均衡换手 levelled"] == (
        str(s["levelled"]),
        "条，为减轻负荷超过中位数 1.5 倍的管家而换手（转给附近负荷较轻的人或互换） alleys that "
        "changed hands to lighten stewards above 1.5 × the median load (hand-ons and swaps)",
    )
    assert rows["在岗管家 stewards assigned"][0] == str(s["stewards"])
    assert "转给空闲人员 handed to idle people" not in rows
    assert "可让空闲人员接手" not in on.stdout  # no hint: the option is on
    plain = _table(off.stdout)
    assert (
        "空闲人员接手 taken over by idle people" not in plain and "均衡换手 levelled" not in plain
    )
    assert plain["转给空闲人员 handed to idle people"][0] == str(
        default["summary"]["handed_to_idle"]
    )
    assert plain["在岗管家 stewards assigned"][0] == str(default["summary"]["stewards"])
    assert _idle_line("alleys", default) in off.stdout.splitlines(), off.stdout
    assert fingerprint(city) == before  # dry runs wrote nothing


def test_assign_streets_fill_idle_and_grids_without_it(city, pg_url, monkeypatch) -> None:
    """``assign streets --fill-idle``: the chiefs' take-over row; without it none, and the
    hint where chiefs are idle beside chiefs of 2 streets or more. ``assign grids`` has no
    such option (nobody takes a grid over)."""
    monkeypatch.setenv("COLUMNS", "240")
    base = ["assign", "streets", "--area", SUBDISTRICT, "--dry-run", "--rebalance"]
    on = run_cli([*base, "--fill-idle"], pg_url)
    off = run_cli(base, pg_url)
    assert on.returncode == 0 and off.returncode == 0, on.stderr + off.stderr
    default, filled = _proposal(city, "streets", None), _proposal(city, "streets", True)
    assert _same(default, _proposal(city, "streets", False))
    assert "handed_to_idle" not in default["summary"]
    rows = _table(on.stdout)
    assert rows["空闲人员接手 taken over by idle people"] == (
        str(filled["summary"]["handed_to_idle"]),
        "人，原无街，现各接手一条（来自管 2 条及以上的街巷长） chiefs who held no street now "
        "hold one (from chiefs of 2+)",
    )
    assert "空闲人员接手 taken over by idle people" not in _table(off.stdout)
    # the demo: 4 of 14 chiefs idle while 4 hold 2 streets
    assert _idle_line("streets", default) in off.stdout.splitlines(), off.stdout
    assert "--fill-idle" not in on.stdout
    grids = run_cli(["assign", "grids", "--area", SUBDISTRICT, "--dry-run", "--fill-idle"], pg_url)
    assert grids.returncode == 2 and "--fill-idle" in grids.stderr, grids.stderr
    helps = run_cli(["assign", "alleys", "--help"], pg_url).stdout
    assert "--fill-idle" in helps and "让空闲人员接手" in helps


def _planner(engine) -> dict[str, str]:  # noqa: ANN001
    from geo.accounts import create_user, issue_token

    with engine.begin() as conn:
        name = f"planner_{secrets.token_hex(3)}"
        uid = create_user(conn, name, secrets.token_urlsafe(16), "planner", (SUBDISTRICT,), None)
        _tid, token, _exp = issue_token(conn, uid)
    return {"Authorization": f"Bearer {token}"}


def _job(client: TestClient, body: dict, headers: dict) -> dict:
    r = client.post("/assignments/proposals", json=body, headers=headers)
    assert r.status_code == 202, r.text
    for _ in range(600):
        job = client.get(r.json()["job_url"], headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(job)


def test_api_proposal_fill_idle(city) -> None:
    """``POST /assignments/proposals`` takes ``fill_idle`` (a boolean, default false): on, the
    proposal is the option's (its summary says so); off or left out, as before (the job's
    params too). It is refused for grids, and an unknown field is still a 422."""
    from api.app import create_app

    planner = _planner(city)
    with TestClient(create_app(city)) as client:
        on = _job(client, {"kind": "alleys", "area": SUBDISTRICT, "fill_idle": True}, planner)
        assert on["status"] == "done", on
        assert on["result"]["summary"]["fill_idle"] is True
        assert on["result"]["summary"]["handed_to_idle"] >= 0
        assert "levelled" in on["result"]["summary"]
        off = _job(client, {"kind": "alleys", "area": SUBDISTRICT, "fill_idle": False}, planner)
        plain = _job(client, {"kind": "alleys", "area": SUBDISTRICT}, planner)
        with city.connect() as conn:  # what the job table keeps of each request
            kept = dict(
                conn.execute(
                    text("SELECT id, params FROM jobs WHERE id = ANY(:i)"),
                    {"i": [on["job_id"], off["job_id"], plain["job_id"]]},
                ).all()
            )
        assert kept[on["job_id"]]["fill_idle"] is True
        as_before = {"kind": "alleys", "area": SUBDISTRICT, "rebalance": False}
        assert kept[off["job_id"]] == kept[plain["job_id"]] == as_before
        assert _same(off["result"], plain["result"])
        assert "fill_idle" not in plain["result"]["summary"]
        chiefs = _job(client, {"kind": "streets", "area": SUBDISTRICT, "fill_idle": True}, planner)
        assert chiefs["status"] == "done" and chiefs["result"]["summary"]["fill_idle"] is True
        for body, says in (
            (
                {"kind": "grids", "area": SUBDISTRICT, "fill_idle": True},
                "空闲人员接手 fill_idle 只用于",
            ),
            ({"kind": "alleys", "area": SUBDISTRICT, "fill_idel": True}, "fill_idel"),
            ({"kind": "alleys", "area": SUBDISTRICT, "fill_idle": "maybe"}, "fill_idle"),
        ):
            r = client.post("/assignments/proposals", json=body, headers=planner)
            assert r.status_code == 422 and says in r.json()["error"], r.text
            assert re.search(r"[\u4e00-\u9fff]", r.json()["error"].split(" ")[0]), r.text

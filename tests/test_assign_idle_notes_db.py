"""The take-over option's words on PostGIS (outside tester T66, N1 and N2), on the demo city.

N1: the hint said "加 --fill-idle" where duties are kept (no --rebalance), and --fill-idle
alone then changed nothing (0 taken over, 0 duties changed) with nothing to say why: a kept
duty is never taken over. Now the hint names --rebalance --fill-idle there, and --fill-idle
alone says in one line why nothing was taken over (the API: the result's ``notes``).

N2: the table said 10 people took over (空闲人员接手) where 18 people held an alley who held
none in the plain --rebalance proposal (35 → 53 stewards). Now the take-over's row says what
it counts (接手规则接手 taken over by the take-over rule) and 新增管家 new stewards counts the
people new to the alleys against the default solve, with the stewards used with and without.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from tests.test_assign_cli_hints_db import _table
from tests.test_import import run_cli

SUBDISTRICT = "110108015"  # the demo's: 86 alleys, 59 people, 18 streets


@pytest.fixture(scope="module")
def city(engine):  # noqa: ANN001, ANN201
    """The demo city without its patrols, duties from a week ago; read only (dry runs)."""
    from tests.conftest import demo_with_duties

    demo_with_duties(engine)
    return engine


def _proposal(city, kind: str, rebalance: bool, fill: bool = False) -> dict:  # noqa: ANN001
    from geo.assign.chiefs import ChiefParams
    from geo.assign.stewards import StewardParams
    from geo.staffing import propose

    params = (StewardParams if kind == "alleys" else ChiefParams)(fill_idle=True) if fill else None
    return propose(city, kind, SUBDISTRICT, rebalance=rebalance, params=params)


def _holders(proposal: dict) -> set[int]:
    return {int(r["person_id"]) for r in proposal["pairs"]}


def test_gap_mode_hint_names_rebalance_fill_idle(city, pg_url, monkeypatch) -> None:
    """N1: where duties are kept, the hint names --rebalance --fill-idle (and what
    --rebalance does), not --fill-idle alone, which takes no kept duty over."""
    monkeypatch.setenv("COLUMNS", "240")
    out = run_cli(["assign", "alleys", "--area", SUBDISTRICT, "--dry-run"], pg_url)
    assert out.returncode == 0, out.stderr
    gap = _proposal(city, "alleys", rebalance=False)
    s = gap["summary"]
    assert s["kept"] > 0 and gap["changes"]["keep"] == s["kept"]  # duties kept: gap filling
    idle = s["people"] - s["stewards"] - s.get("full_elsewhere", 0)
    idle -= len(s.get("outside_area") or [])
    many = sum(n >= 2 for n in Counter(r["person_id"] for r in gap["pairs"]).values())
    assert idle > 0 and many > 0  # the demo: 24 idle, 22 stewards of 2+
    line = (
        f"{idle} 人未分到小巷，{many} 名管家各管 2 条及以上；现有职责保留时从不被接手；加 "
        "--rebalance --fill-idle 可让空闲人员接手其中步行可及的小巷（步行不超过原管家或 500 米；"
        "步行会变长；--rebalance 重新分配本区域全部职责，请先加 --dry-run 查看） "
        f"{idle} people hold no alley while {many} stewards hold 2 or more: duties kept are "
        "never taken over; --rebalance --fill-idle lets idle people take alleys over within "
        "their walk (no farther than the holder, or 500 m; walks grow longer; --rebalance "
        "reassigns all the area's duties: check with --dry-run first)"
    )
    assert line in out.stdout.splitlines(), out.stdout
    assert "加 --fill-idle 可让" not in out.stdout
    # re-solving everything: --fill-idle alone is the way, as before
    whole = run_cli(["assign", "alleys", "--area", SUBDISTRICT, "--dry-run", "--rebalance"], pg_url)
    assert "；加 --fill-idle 可让空闲人员接手" in whole.stdout, whole.stdout
    assert "--rebalance --fill-idle" not in whole.stdout
    streets = run_cli(["assign", "streets", "--area", SUBDISTRICT, "--dry-run"], pg_url)
    for hint in (x for x in streets.stdout.splitlines() if "人未分到街" in x):
        assert "加 --rebalance --fill-idle 可让空闲人员接手" in hint, hint


def _alone_line(kept: int, api: bool = False) -> str:
    if api:
        return (
            f"fill_idle 未让空闲人员接手任何小巷：未设 rebalance 时保留现有 {kept} 项职责、只补"
            "空缺，保留的职责从不被接手；要让空闲人员接手，请同时设 rebalance 和 fill_idle 为 "
            "true（rebalance 重新分配本区域全部职责，提交前请先核对方案） fill_idle had no "
            f'alley taken over: without "rebalance" the {kept} duties held are kept and only '
            "gaps are filled, and a kept duty is never taken over; for idle people to take "
            'alleys over, set both "rebalance" and "fill_idle" to true ("rebalance" reassigns '
            "all the area's duties: review the proposal before committing it)"
        )
    return (
        f"--fill-idle 未让空闲人员接手任何小巷：未加 --rebalance 时保留现有 {kept} 项职责、只补"
        "空缺，保留的职责从不被接手；要让空闲人员接手，请加 --rebalance --fill-idle（--rebalance "
        "重新分配本区域全部职责，请先加 --dry-run 查看） --fill-idle had no alley taken over: "
        f"without --rebalance the {kept} duties held are kept and only gaps are filled, and a "
        "kept duty is never taken over; for idle people to take alleys over, add --rebalance "
        "--fill-idle (--rebalance reassigns all the area's duties: check with --dry-run first)"
    )


def test_fill_idle_alone_says_why_nothing_changed(city, pg_url, monkeypatch) -> None:
    """N1: --fill-idle without --rebalance, duties kept: nothing is taken over, and a line
    says why and how to have it (the CLI and the API's ``notes``); not with --rebalance, nor
    without the option (its proposal as before)."""
    monkeypatch.setenv("COLUMNS", "240")
    base = ["assign", "alleys", "--area", SUBDISTRICT, "--dry-run"]
    on = run_cli([*base, "--fill-idle"], pg_url)
    assert on.returncode == 0, on.stderr
    gap = _proposal(city, "alleys", rebalance=False, fill=True)
    s, ch = gap["summary"], gap["changes"]
    # nothing changed: T66's "空闲人员接手 0, kept 86, ending 0, starting 0"
    assert s["handed_to_idle"] == 0 and ch["end"] == ch["start"] == 0 and s["kept"] == ch["keep"]
    assert _alone_line(s["kept"]) in on.stdout.splitlines(), on.stdout
    assert f"kept {ch['keep']}, ending 0, starting 0 duties" in on.stdout
    assert "未让空闲人员接手" not in run_cli(base, pg_url).stdout
    both = run_cli([*base, "--fill-idle", "--rebalance"], pg_url)
    assert both.returncode == 0 and "未让空闲人员接手" not in both.stdout, both.stdout

    from api.app import create_app
    from tests.test_assign_idle_db import _planner

    planner = _planner(city)
    with TestClient(create_app(city)) as client:

        def job(body: dict) -> dict:
            r = client.post("/assignments/proposals", json=body, headers=planner)
            assert r.status_code == 202, r.text
            for _ in range(600):
                got = client.get(r.json()["job_url"], headers=planner).json()
                if got["status"] in ("done", "failed"):
                    assert got["status"] == "done", got
                    return got["result"]
                time.sleep(0.1)
            raise AssertionError(got)

        alone = job({"kind": "alleys", "area": SUBDISTRICT, "fill_idle": True})
        assert alone["notes"] == [_alone_line(alone["summary"]["kept"], api=True)]
        rb = job({"kind": "alleys", "area": SUBDISTRICT, "fill_idle": True, "rebalance": True})
        assert "notes" not in rb and rb["summary"]["handed_to_idle"] > 0
        assert "notes" not in job({"kind": "alleys", "area": SUBDISTRICT})


def test_new_stewards_are_the_people_new_to_the_alleys(city, pg_url, monkeypatch) -> None:
    """N2: with --rebalance --fill-idle, 新增管家 new stewards is the people who hold an alley
    and held none in the plain --rebalance proposal (counted here from the two proposals'
    pairs), with the stewards used without and with the option; the take-over's row says it
    counts the take-over rule's people only (fewer: T66's 10 against 18)."""
    monkeypatch.setenv("COLUMNS", "240")
    cmd = ["assign", "alleys", "--area", SUBDISTRICT, "--dry-run", "--rebalance", "--fill-idle"]
    on = run_cli(cmd, pg_url)
    assert on.returncode == 0, on.stderr
    plain = _proposal(city, "alleys", rebalance=True)
    filled = _proposal(city, "alleys", rebalance=True, fill=True)
    new = _holders(filled) - _holders(plain)
    gone = _holders(plain) - _holders(filled)
    without, with_ = len(_holders(plain)), len(_holders(filled))
    assert len(new) > filled["summary"]["handed_to_idle"] > 0  # not only the take-over's
    rows = _table(on.stdout)
    assert rows["新增管家 new stewards"] == (
        str(len(new)),
        f"人，加 --fill-idle 后管小巷、不加时不管（在岗管家：不加 {without} 人，加后 {with_} "
        "人） people who hold an alley with --fill-idle and would hold none without it "
        f"(stewards: {without} without it, {with_} with it)",
    )
    assert rows["在岗管家 stewards assigned"][0] == str(with_)
    assert rows["接手规则接手 taken over by the take-over rule"][0] == str(
        filled["summary"]["handed_to_idle"]
    )
    if gone:
        assert rows["不再任管家 no longer stewards"][0] == str(len(gone))
    else:
        assert "不再任管家 no longer stewards" not in rows
    s = filled["summary"]
    assert (s["new_stewards"], s["no_longer_stewards"]) == (len(new), len(gone))
    assert s["stewards_without_fill_idle"] == plain["summary"]["stewards"] == without
    for key in ("new_stewards", "stewards_without_fill_idle", "no_longer_stewards"):
        assert key not in plain["summary"]  # the default's summary as before
    # street chiefs: the take-over alone brings chiefs in (the solve is the default's), so
    # its count is the chiefs new to the streets
    chiefs, more = _proposal(city, "streets", True), _proposal(city, "streets", True, fill=True)
    assert _holders(chiefs) <= _holders(more)
    assert more["summary"]["handed_to_idle"] == len(_holders(more) - _holders(chiefs)) > 0

"""Outside tester T63 #1: after `gridward import households` every open draft failed at commit
with "make a new plan", while nothing said so: the picker, `plans list`, `plans show` and the
editor showed the draft as committable (the editor with today's counts, unlabelled). Now a
draft made on other buildings, households or streets is ``outdated`` everywhere it is shown,
the editor labels the saved counts beside today's and offers no commit, and the commit's
refusal gives the remedy that works: open it in the editor and save it again. Real PostGIS,
the demo OSM cut."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from geo.households_import import import_households
from tests.test_editor_pages import _page_data
from tests.test_plan_commit_duties_db import COMMUNITY, _grids, _plan, demo  # noqa: F401
from tests.test_plans_editor_db import _draft_body


def _households_file(tmp_path: Path, building: int, households: int) -> Path:
    path = tmp_path / "hh.csv"
    path.write_text(f"楼栋编号,户数\n{building},{households}\n", encoding="utf-8")
    return path


def test_a_draft_made_before_a_household_import_says_so_and_saving_it_again_commits(
    demo,  # noqa: F811
    auth_headers,
    tmp_path,
    monkeypatch,
):
    planner = auth_headers("planner", ("110108015",))
    with TestClient(create_app(demo)) as client:
        draft = _plan(client, planner, 300, 500)
        grids = _grids(client, planner, draft)
        code, members = sorted(grids.items())[0]
        saved = next(
            f["properties"]["households"]
            for f in client.get(f"/plans/{draft}", headers=planner).json()["features"]["features"]
            if f["properties"]["code"] == code
        )
        assert client.get(f"/plans/{draft}", headers=planner).json()["outdated"] is False
        import_households(demo, _households_file(tmp_path, members[0], 777))

        # every place that shows the draft says it
        plan = client.get(f"/plans/{draft}", headers=planner).json()
        assert plan["outdated"] is True and plan["status"] == "draft"
        listed = client.get("/plans", params={"community": COMMUNITY}, headers=planner).json()
        assert next(p for p in listed if p["plan_id"] == draft)["outdated"] is True
        picker = client.get("/maps/editor", headers=planner).text
        assert f'<span class="gw-outdated gw-draft" data-plan="{draft}">' in picker
        assert "数据已变动：楼栋、户数或街巷在保存后有变动，打开后重新保存才能提交" in picker
        assert f"/maps/editor/history?community={COMMUNITY}" in picker
        page = client.get(
            "/maps/editor", params={"community": COMMUNITY, "plan": draft}, headers=planner
        ).text
        assert 'id="gw-outdated"' in page and f"草案 #{draft} 保存后" in page
        stored = _page_data(page)["stored"]  # the saved count beside today's
        assert stored[code]["households"] == saved

        # the commit's refusal names the remedy; the draft is left as it was
        r = client.post(f"/plans/{draft}/commit", headers=planner)
        assert r.status_code == 409, r.text
        said = r.json()["error"]
        assert f"请在网格编辑器中打开草案 {draft}（/maps/editor?plan={draft}）" in said, said
        assert "save it again (save as draft) and commit the new draft" in said, said
        assert client.get(f"/plans/{draft}", headers=planner).json()["status"] == "draft"

        # the CLI says it too
        monkeypatch.setattr("geo.db.get_engine", lambda: demo)
        out = CliRunner().invoke(cli, ["plans", "show", str(draft)])
        assert out.exit_code == 0, out.output
        assert f"注意：方案 {draft} 保存后社区 {COMMUNITY} 的楼栋、户数或街巷有变动" in out.output
        out = CliRunner().invoke(cli, ["plans", "list", "--community", COMMUNITY])
        line = next(ln for ln in out.output.splitlines() if ln.startswith(f"{draft}\t"))
        assert "草案（数据已变动，须重新保存） draft (data changed: save it again)" in line

        # saved again from the editor (the same grids, the page's base version): a new draft
        # with today's counts, which commits
        r = client.post("/plans/draft", json=_draft_body(grids, 0, 300, 500), headers=planner)
        assert r.status_code == 201, r.text
        again = r.json()
        assert again["existing"] is False and again["plan_id"] != draft
        now = next(g for g in again["grids"] if g["code"] == code)
        assert now["households"] != saved
        assert client.get(f"/plans/{again['plan_id']}", headers=planner).json()["outdated"] is False
        r = client.post(f"/plans/{again['plan_id']}/commit", headers=planner)
        assert r.status_code == 200, r.text

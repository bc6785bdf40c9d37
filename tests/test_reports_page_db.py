"""The patrol reports page /maps/reports as served (outside tester T65 F1: a viewer had no way
from the pages to the 日巡/周查/月评 reports or their files): the map index links it; its
tables are the very JSON ``GET /reports/{kind}`` gives the same reader for the same
parameters (row for row, cell for cell, in the files' column names); its downloads are the
API's own URLs; the previous and next periods are links; a steward sees her own lines as the
API gives them; signed copies are listed to those who may read them; bad parameters are the
site's error pages. FastAPI TestClient, real PostGIS, the demo city ``gridward demo`` loads."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo.settings import city_today
from tests.test_maps_data import empty_database
from tests.test_maps_pages import token_for

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COMMUNITY = "110108015002"  # 清华园东北社区, the demo's biggest
LEVELS = {
    "district": "区 district",
    "subdistrict": "街道 subdistrict",
    "community": "社区 community",
}
PERCENT = {"compliance", "walked_share", "covered_share", "walked_fraction", "covered_fraction"}
# the files' headers (geo.report_export.LABELS), written out here: the page must say these
HEADINGS = {
    "rank": "排名 rank",
    "person_name": "姓名 person_name",
    "person_code": "人员编号 person_code",
    "compliance": "达标率 compliance",
    "walked_m": "巡查长度(米) walked_m",
    "days": "天数 days",
    "alley_days": "街巷·天 alley_days",
    "patrolled_alley_days": "已巡街巷·天 patrolled_alley_days",
    "alleys": "街巷数 alleys",
    "patrolled_alleys": "已巡街巷 patrolled_alleys",
    "level": "层级 level",
    "subdistrict_name": "街道 subdistrict_name",
    "community_name": "社区 community_name",
    "patrolled": "已巡 patrolled",
}


@pytest.fixture(scope="module")
def city(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city (duties from a week ago, yesterday's walks) and one account of each
    role; a steward linked to a person who walked yesterday."""
    from api.app import create_app
    from geo.accounts import create_user, issue_token
    from geo.demo import populate

    db = empty_database(engine)
    populate(db, seed=0)
    yesterday = city_today() - dt.timedelta(days=1)
    with db.begin() as conn:
        person = conn.execute(
            text(
                "SELECT t.person_id FROM tracks t JOIN assignments a ON a.person_id = "
                "t.person_id AND a.role = 'alley_steward' ORDER BY t.id LIMIT 1"
            )
        ).scalar_one()
        uid = create_user(conn, "rep-steward", "rep-steward-password", "steward", (), person)
        steward = issue_token(conn, uid)[1]
    heads = {
        "viewer": token_for(db, "viewer", name="rep-viewer"),
        "admin": token_for(db, "admin", name="rep-admin"),
        "planner": token_for(db, "planner", ("110108015",), "rep-planner"),
        "planner_out": token_for(db, "planner", ("120101",), "rep-planner-out"),
        "steward": steward,
    }
    with TestClient(create_app(db)) as client:
        yield {
            "client": client,
            "engine": db,
            "person": person,
            "yesterday": yesterday,
            "heads": {k: {"Authorization": f"Bearer {v}"} for k, v in heads.items()},
        }


class _Tables(HTMLParser):
    """The page's report tables: each ``table[data-table]`` with its role, its headings, and
    its rows (their attributes and each cell's ``data-key`` and text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._cell: dict[str, Any] | None = None
        self._th: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "data-table" in a:
            self.tables.append({**a, "head": [], "rows": []})
        elif not self.tables:
            return
        elif tag == "th":
            self._th = []
        elif tag == "tr" and self._th is None and self.tables[-1]["head"]:
            self.tables[-1]["rows"].append({"attrs": a, "cells": []})
        elif tag == "td":
            self._cell = {"key": a.get("data-key"), "label": a.get("data-label"), "text": []}

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self._th is not None:
            self.tables[-1]["head"].append("".join(self._th).strip())
            self._th = None
        elif tag == "td" and self._cell is not None:
            self._cell["text"] = "".join(self._cell["text"]).strip()
            self.tables[-1]["rows"][-1]["cells"].append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._th is not None:
            self._th.append(data)
        elif self._cell is not None:
            self._cell["text"].append(data)


def tables(page: str) -> list[dict[str, Any]]:
    p = _Tables()
    p.feed(page)
    return p.tables


def shown(key: str, v: Any) -> str:
    """A JSON value as the page must say it (written apart from the page's own code)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "是 yes" if v else "否 no"
    if key in PERCENT:
        return f"{v * 100:.1f}%"
    if key.endswith("_m"):
        return f"{v:,.1f}"
    if key == "level":
        return LEVELS[v]
    return str(v)


def page_and_json(
    client: TestClient, head: dict[str, str], kind: str, day: dt.date | None, area: str | None
) -> tuple[str, dict[str, Any]]:
    q = {k: v for k, v in {"date": day and day.isoformat(), "area": area}.items() if v}
    page = client.get(f"/maps/reports?{urlencode({'kind': kind, **q})}", headers=head)
    assert page.status_code == 200, page.text[:2000]
    assert page.headers["content-type"].startswith("text/html")
    api = client.get(f"/reports/{kind}?{urlencode(q)}", headers=head)
    assert api.status_code == 200, api.text[:500]
    return page.text, api.json()


def same_tables(page: str, body: dict[str, Any]) -> dict[str, list[str]]:
    """Every people and areas row of the JSON on the page, in the JSON's order, a table per
    role; each cell the JSON's value of its key; the headings the files' (label and key).
    Returns each table's shown keys."""
    got = tables(page)
    keys: dict[str, list[str]] = {}
    for name in ("people", "areas"):
        mine = [t for t in got if t["data-table"] == name]
        rows = [r for t in mine for r in t["rows"]]
        want = body[name]
        assert len(rows) == len(want), (name, len(rows), len(want))
        roles = [t["data-role"] for t in mine]
        assert roles == list(dict.fromkeys(r["role"] for r in want)), (name, roles)
        for row, rec in zip(rows, want, strict=True):
            for cell in row["cells"]:
                key = cell["key"]
                assert key in body["columns"][name], (name, key)  # the report's own columns
                assert cell["text"] == html.unescape(shown(key, rec[key])), (name, key, rec)
            if name == "people":
                assert row["attrs"]["data-person"] == str(rec["person_id"])
        for t in mine:
            cols = [c["key"] for c in t["rows"][0]["cells"]]
            for key, heading in zip(cols, t["head"], strict=True):
                if key in HEADINGS:
                    assert heading == HEADINGS[key], (key, heading)
            keys[name] = cols
        # grouped by role as the JSON is: each table's rows are that role's, in order
        at = 0
        for t in mine:
            part = want[at : at + len(t["rows"])]
            assert {r["role"] for r in part} == {t["data-role"]}
            at += len(t["rows"])
    return keys


def test_the_index_links_the_reports_page_for_every_reader(city) -> None:  # noqa: ANN001
    c = city["client"]
    for who in ("viewer", "steward", "planner", "admin"):
        page = c.get("/maps", headers={**city["heads"][who], **BROWSER}).text
        assert '<a href="/maps/reports">巡查报表 <span class="gw-en">Patrol reports</span></a>' in (
            page
        ), who
    # the page's own bar leads back to the index, where the map pages are
    page = c.get("/maps/reports", headers=city["heads"]["viewer"]).text
    assert page.index('<nav class="gw-topbar"><a href="/maps">地图目录 maps</a>') < page.index(
        "<h1>"
    )
    assert c.get("/maps/reports").status_code == 401


@pytest.mark.parametrize(
    ("kind", "back", "area"),
    [("daily", 1, None), ("weekly", 0, None), ("monthly", 0, None), ("daily", 1, COMMUNITY)],
)
def test_the_page_shows_what_the_api_answers(city, kind: str, back: int, area: str | None) -> None:  # noqa: ANN001
    """A viewer's page and his GET /reports JSON for the same parameters: the same rows in
    the same order, each cell the JSON's value (percentages to 0.1 %, metres to 0.1 m), the
    summary and every note, and the download buttons the API's URLs."""
    c, viewer = city["client"], city["heads"]["viewer"]
    day = city_today() - dt.timedelta(days=back)
    page, body = page_and_json(c, viewer, kind, day, area)
    assert body["people"] and body["areas"]  # the demo's duties and walks
    keys = same_tables(page, body)
    must = {"rank", "person_name", "compliance", "walked_m"}
    assert must <= set(keys["people"]), keys["people"]
    assert keys["people"][:2] == ["rank", "person_name"]  # a ranking: rank, then who
    assert {"level", "subdistrict_name", "community_name", "compliance", "patrolled"} <= set(
        keys["areas"]
    )
    assert ("days" in keys["people"]) is (kind != "daily")
    assert ("pending" in keys["people"]) is body["running"]
    # the report's words: its label and span, its area, every note
    heading = page.split('<h2 id="gw-heading">')[1].split("</h2>")[0]
    assert heading.startswith(f"{body['label']} "), heading
    if area:
        assert heading.endswith(f"{body['area']['name']} 社区 community {area}"), heading
    else:
        assert heading.endswith("· 全市 whole city"), heading
    for note in body["notes"]:
        assert html.escape(note) in page, note
    # the share is the rule, said as one, never a bare "达标比例 80%" beside the results (T66 N6)
    summary = page.split('id="gw-summary"')[1].split("</dl>")[0]
    share = f"{body['share'] * 100:g}%"
    assert f"一条街巷当天走过其长度的 {share} 即为已巡（标准，非结果）" in summary
    assert "达标比例" not in summary
    assert body["notes"]  # the demo has some (outside every community; running)
    # the downloads: the API's own URLs, which answer the files
    q = f"date={day.isoformat()}" + (f"&amp;area={area}" if area else "")
    xlsx = f'href="/reports/{kind}?{q}&amp;format=xlsx"'
    assert xlsx in page
    for table in body["columns"]:
        assert f'href="/reports/{kind}?{q}&amp;format=csv&amp;table={table}"' in page, table
    r = c.get(html.unescape(xlsx[6:-1]), headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    r = c.get(f"/reports/{kind}?{html.unescape(q)}&format=csv&table=areas", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    job = f'data-url="/reports/{kind}/jobs?{q}&amp;format=xlsx"'
    assert job in page and 'src="/maps/static/reports.js"' in page


def test_kinds_and_periods_are_links(city) -> None:  # noqa: ANN001
    """日巡/周查/月评 keep the day and the area; the previous period is one link, the next
    one too up to today, none after; the picker's day and area are the report's."""
    c, viewer = city["client"], city["heads"]["viewer"]
    today = city_today()
    page = c.get(f"/maps/reports?kind=daily&area={COMMUNITY}", headers=viewer).text
    assert f'name="date" id="gw-date" value="{today}"' in page  # the city's today
    assert f'max="{today}"' in page
    assert f'<option value="{COMMUNITY}" selected>' in page
    assert '<option value="">全市 whole city</option>' in page
    for kind in ("daily", "weekly", "monthly"):
        tab = f'href="/maps/reports?kind={kind}&amp;date={today}&amp;area={COMMUNITY}"'
        assert tab in page, kind
    prev = today - dt.timedelta(days=1)
    assert f'id="gw-prev" href="/maps/reports?kind=daily&amp;date={prev}&amp;area={COMMUNITY}"' in (
        page
    )
    assert 'id="gw-next"' not in page and 'id="gw-now"' not in page  # today: nothing later
    page = c.get(f"/maps/reports?kind=daily&date={prev}", headers=viewer).text
    assert f'id="gw-next" href="/maps/reports?kind=daily&amp;date={today}"' in page
    assert 'id="gw-now" href="/maps/reports?kind=daily"' in page
    # this week: the previous week is the day before its Monday
    monday = today - dt.timedelta(days=today.weekday())
    page = c.get("/maps/reports?kind=weekly", headers=viewer).text
    last_sunday = monday - dt.timedelta(days=1)
    assert f'id="gw-prev" href="/maps/reports?kind=weekly&amp;date={last_sunday}"' in page
    assert 'id="gw-next"' not in page
    assert f"周查 weekly check {monday} 至 {monday + dt.timedelta(days=6)}" in page
    page = c.get(f"/maps/reports?kind=weekly&date={last_sunday}", headers=viewer).text
    assert f'id="gw-next" href="/maps/reports?kind=weekly&amp;date={monday}"' in page
    first = today.replace(day=1)
    page = c.get("/maps/reports?kind=monthly", headers=viewer).text
    assert f"月评 monthly evaluation {first:%Y-%m}" in page
    before = first - dt.timedelta(days=1)
    assert f'id="gw-prev" href="/maps/reports?kind=monthly&amp;date={before}"' in page
    # a blank field of the form is the default (全市, today), not a 422
    r = c.get("/maps/reports?kind=weekly&date=&area=", headers=viewer)
    assert r.status_code == 200 and "全市 whole city" in r.text


def test_a_steward_sees_her_own_lines_as_the_api_gives_them(city) -> None:  # noqa: ANN001
    c, steward = city["client"], city["heads"]["steward"]
    for kind in ("daily", "weekly"):
        page, body = page_and_json(c, steward, kind, city["yesterday"], None)
        assert [r["person_id"] for r in body["people"]] == [city["person"]]
        keys = same_tables(page, body)
        assert "suspect_tracks" not in keys["people"]  # the flags are evaluators'
        assert "只列出您本人的行" in page
        assert 'id="gw-signed"' not in page  # stewards read no signed copies
    viewer = tables(c.get("/maps/reports?kind=weekly", headers=city["heads"]["viewer"]).text)
    assert sum(len(t["rows"]) for t in viewer if t["data-table"] == "people") > 1


def test_signed_copies_are_listed_to_their_readers(city) -> None:  # noqa: ANN001
    """Last week signed for the whole city by an admin: a viewer's page lists the version
    with its files, the summary says the period is signed and the page is live data; a
    planner sees only his areas' signed copies (as GET /reports/signed), so not this one."""
    c, heads = city["client"], city["heads"]
    today = city_today()
    last_week = today - dt.timedelta(days=today.weekday() + 7)
    r = c.post(f"/reports/weekly/sign?date={last_week}&note=月度例会用", headers=heads["admin"])
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    page = c.get(f"/maps/reports?kind=weekly&date={last_week}", headers=heads["viewer"]).text
    row = next(t for t in tables(page) if t["data-table"] == "signed")["rows"]
    assert [x["attrs"]["data-signoff"] for x in row] == [str(sid)]
    assert [x["text"] for x in row[0]["cells"]][2:4] == ["rep-admin", "月度例会用"]
    assert f'href="/reports/signed/{sid}?format=xlsx"' in page
    assert "本期已签发（第 1 版" in page
    assert c.get(f"/reports/signed/{sid}?format=xlsx", headers=heads["viewer"]).status_code == 200
    page = c.get(f"/maps/reports?kind=weekly&date={last_week}", headers=heads["planner"]).text
    assert 'data-signoff="' not in page and "本期尚未签发" not in page.split('id="gw-signed"')[0]
    # signed, said so in the summary: the copies' section must not say "not signed" (T66 N3)
    section = page.split('id="gw-signed"')[1]
    assert "本期已签发，其签发件不在您的管辖区域内" in section and "尚未签发" not in section
    assert (
        f'download="signed_{sid}.json"'
        in c.get(f"/maps/reports?kind=weekly&date={last_week}", headers=heads["viewer"]).text
    )  # the JSON copy downloads, as the XLSX (T66 N7)
    listed = c.get(f"/reports/signed?kind=weekly&since={last_week}", headers=heads["planner"])
    assert listed.json()["signoffs"] == []  # the API's rule, which the page follows
    # his subdistrict's signed copy he sees (and only on its own area's page)
    r = c.post(f"/reports/weekly/sign?date={last_week}&area=110108015", headers=heads["planner"])
    assert r.status_code == 201, r.text
    mine = r.json()["id"]
    url = f"/maps/reports?kind=weekly&date={last_week}&area=110108015"
    for who, seen in (("planner", True), ("planner_out", False), ("viewer", True)):
        page = c.get(url, headers=heads[who]).text
        assert (f'data-signoff="{mine}"' in page) is seen, who
        assert f'data-signoff="{sid}"' not in page, who  # the city's: another area's page
    # this week runs: nothing to sign yet, and the page says so
    page = c.get("/maps/reports?kind=weekly", headers=heads["viewer"]).text
    assert "本期进行中，结束后才能签发" in page


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("kind=weekly&date=2999-01-01", 422, "在将来"),
        ("kind=yearly", 422, "kind"),
        ("kind=daily&date=2026-13-01", 422, "date"),
        ("kind=daily&area=110108015999", 404, "110108015999"),
        ("kind=daily&area=abc", 422, "area"),
        ("kind=daily&data=2026-11-05", 422, "data"),
        ("kind=daily&kind=weekly", 422, "kind"),
    ],
)
def test_bad_parameters_are_readable_pages(city, query: str, status: int, words: str) -> None:  # noqa: ANN001
    """A browser gets the site's error page (Chinese first, a way back), not raw JSON; a
    script the JSON error as elsewhere."""
    c, viewer = city["client"], city["heads"]["viewer"]
    r = c.get(f"/maps/reports?{query}", headers={**viewer, **BROWSER})
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    assert 'class="gw-error-msg"' in r.text and words in r.text, r.text
    assert '<a href="/maps/reports">重新打开此页 open this page afresh</a>' in r.text or (
        status == 404
    )
    assert r.text.lstrip().startswith("<!DOCTYPE html>")
    j = c.get(f"/maps/reports?{query}", headers=viewer)
    assert j.status_code == status and j.json()["status"] == status

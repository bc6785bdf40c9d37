"""The map pages' words as the district's text reviewer T71 (林老师) read them, on the demo
city (real PostGIS: geo.demo.populate with its duties and walks), each page as an admin
fetches it:

- #20: the patrol page's 达标率 bars are green, yellow and red by rate, and the caption
  explained only the red 0 % stub and the hatch: the yellow 66.3 % bar was explained nowhere;
- #34: the legend said 未走 where the hover says 未巡, and the panel named a person by the
  system id (李静 (#2)), not by the 人员编号 (李静（DEMO0002）);
- #29: page titles and links named one page two ways; #25: abbreviated English headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import demo_with_duties
from tests.test_maps_pages import token_for

STATIC = Path(__file__).resolve().parents[1] / "maps" / "static"
COMMUNITY = "110108015001"  # 清华园西北社区


@pytest.fixture(scope="module")
def city(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city (grids, people, duties, walks) and an admin's client."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    demo_with_duties(engine)
    headers = {"Authorization": f"Bearer {token_for(engine, 'admin', name='t71-admin')}"}
    with TestClient(create_app(engine)) as client:
        yield {"client": client, "engine": engine, "headers": headers}


def _get(city: dict[str, Any], url: str) -> str:
    r = city["client"].get(url, headers=city["headers"])
    assert r.status_code == 200, r.text[:500]
    return r.text


def _words(html: str) -> str:
    """The text a reader sees: tags dropped, entities read."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def _by_id(html: str, ident: str) -> str:
    m = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no #{ident}"
    return m.group(2)


def test_patrol_chart_caption_explains_every_bar_colour(city) -> None:  # noqa: ANN001
    """T71 #20: each colour a finished day's bar is drawn in has a swatch and its meaning in
    the caption under the charts, Chinese then English."""
    page = _get(city, "/maps/patrols")
    note = _by_id(page, "gw-chart-note")
    said = _words(note)
    assert "柱色：绿＝全部巡到（100%），黄＝50% 及以上、不足 100%，红＝低于 50%" in said, said
    assert "Bar colours: green 100 %, yellow 50 % to under 100 %, red under 50 %" in said, said
    swatches = re.findall(r'class="gw-swatch" style="background:(#\w+)"', note)
    charts = page[: page.index('id="gw-chart-note"')]
    bars = set(re.findall(r'<rect class="gw-bar" [^>]*fill="(#\w+)"', charts))
    assert bars, "no finished day's bar on the page"
    assert bars <= set(swatches), (bars, swatches)


def test_patrol_map_legend_and_person_say_what_the_hover_and_registry_say(city) -> None:  # noqa: ANN001
    """T71 #34: the legend's red is 未巡（未走）, the word the hover uses; one person's page
    names them by their 人员编号 in full-width brackets, and the hover credits 计入本人."""
    db = city["engine"]
    with db.connect() as conn:
        pid, ext, name = conn.execute(
            text(
                "SELECT p.id, p.external_id, p.name FROM people p JOIN assignments a "
                "ON a.person_id = p.id WHERE a.role = 'alley_steward' ORDER BY p.id LIMIT 1"
            )
        ).one()
    everyone = _words(_get(city, "/maps/patrols"))
    assert "未巡（未走）not walked" in everyone and "未走 not walked" not in everyone
    assert "人员 person：全部人员 everyone；区域 area：全市 whole city" in everyone, everyone
    own = _words(_get(city, f"/maps/patrols?person=id:{pid}"))
    assert f"人员 person：{name}（{ext}）；" in own, own
    assert f"(#{pid})" not in own
    from maps.patrol_map import person_words

    assert person_words({"id": 7, "name": "无编号"}, None) == "无编号（系统编号 id:7）"
    js = (STATIC / "patrol_map.js").read_text(encoding="utf-8")
    assert "计入本人 credited to this person" in js and "记分" not in js


def test_page_titles_and_links_name_one_thing_one_way(city) -> None:  # noqa: ANN001
    """T71 #29: the report tab's title mixed the languages (「巡查报表 日巡 daily patrol
    2026-11-27 patrol report」); the editor's link said 历史版本 grid versions and the page
    it opens 网格历史版本 Grid history; the grid map's label layer said 编号 was "codes"."""
    day = "2026-11-20"
    report = _get(city, f"/maps/reports?kind=daily&date={day}")
    title = re.search(r"<title>(.*?)</title>", report).group(1)
    assert title == f"日巡 {day} · 巡查报表 daily patrol report", title
    editor = _get(city, f"/maps/editor?community={COMMUNITY}")
    link = re.search(r'<a class="gw-history"[^>]*>(.*?)</a>', editor).group(1)
    assert link == "🕘 网格历史版本 grid versions", link
    history = _get(city, f"/maps/editor/history?community={COMMUNITY}")
    assert "<h1>网格历史版本 grid versions</h1>" in history
    assert "Grid history" not in history and "grid history" not in history
    js = (STATIC / "grid_map.js").read_text(encoding="utf-8")
    assert '"网格编号 grid numbers"' in js and '"网格编号 grid codes"' not in js


def test_headers_spell_their_english_out(city) -> None:  # noqa: ANN001
    """T71 #25: 户 hh, 楼 bld, 段 segs and 米 m were abbreviations a reader cannot decode,
    and the steward panel gave its unit twice (15272 / 15272 米 m)."""
    grids = _get(city, "/maps/grids")
    histogram = re.search(r'<svg class="gw-chart gw-histogram".*?</svg>', grids, re.S).group(0)
    assert ">户数 households</text>" in histogram and "hh" not in histogram, histogram[-300:]
    editor = _get(city, f"/maps/editor?community={COMMUNITY}")
    heads = re.findall(r"<th[^>]*>(.*?)</th>", editor)
    assert "户数 households" in heads and "楼栋 buildings" in heads, heads
    stewards = _get(city, "/maps/stewards")
    heads = re.findall(r"<th[^>]*>(.*?)</th>", stewards)
    assert "路段 segments" in heads and "长度（米）length (m)" in heads, heads
    by_length = _words(_by_id(stewards, "gw-by-length"))
    assert re.fullmatch(r"\d+ / \d+ 米 \(\d+\.\d%\)", by_length), by_length


def test_full_time_workers_and_short_staffed_grids_have_one_name(city) -> None:  # noqa: ANN001
    """T71 #10: the grid hover listed 网格员 workers, then counted 专职网格员 full-time
    workers (one tooltip, two names); the estimate note said 需配网格员. T71 #3: the editor's
    commit message said 人手不足 where the grid map says 缺员网格 short-staffed grids."""
    grids = _get(city, "/maps/grids")
    note = _words(_by_id(grids, "gw-estimate-note"))
    assert "需配专职网格员人数" in note and "the full-time workers a grid needs" in note, note
    js = (STATIC / "grid_map.js").read_text(encoding="utf-8")
    assert '"网格员 workers: "' not in js and '"专职网格员 full-time workers: "' in js
    editor = (STATIC / "editor.js").read_text(encoding="utf-8")
    assert "人手不足" not in editor and "short of staff" not in editor
    assert '"；缺员网格："' in editor and '"; short-staffed grids: "' in editor


def test_chinese_parts_use_full_width_punctuation(city) -> None:  # noqa: ANN001
    """T71 #24: half-width , : ( ) [ ] inside the Chinese of the grid map's panel and legend
    (「一级网格 level-1 grids: 19, 户数合计 households: 8571」, 「不足 under (< 300)」) and of
    the steward page's 「选择查看其小巷 select to highlight:」."""
    panel = _words(
        re.search(r'<aside id="gw-panel".*?</aside>', _get(city, "/maps/grids"), re.S)[0]
    )
    assert re.search(r"一级网格 level-1 grids：\d+ 个，户数合计 households：\d+ 户", panel), panel
    assert "不足（< 300）under" in panel and "达标（300–500）within" in panel, panel
    assert "超出（> 500）over" in panel and "under (<" not in panel, panel
    stewards = _words(_get(city, "/maps/stewards"))
    assert "选择查看其小巷 select to highlight：" in stewards

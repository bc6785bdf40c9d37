"""Grid editor 网格编辑器 (/maps/editor), in the spirit of Districtr: buildings are the pieces,
grids are the colours. Click or paint buildings into the selected grid, draw a boundary
(Leaflet.draw) to move every building inside it, see live household counts against [min, max]
and the violations (gap, overlap, disconnected grid, split building, out of bounds), undo/redo,
lock grids, ask the partition engine to rebalance the rest, save a draft plan. The community's
streets and alleys are drawn under the buildings (a boundary follows a street even with no
basemap).

A drawn boundary is a one-shot action: the buildings wholly inside it move into the grid
selected at that moment (one step of the undo history, as a click is) and the shape is then
taken off the map. So the draw toolbar offers no reshape or delete of old boundaries (WHY,
outside tester T63 B: a reshaped boundary re-applied to the grid selected at the time of the
reshape, not its own; buildings left outside stayed; the shapes outlived undo; and "delete
one boundary" could not pick the click-through shapes). No shape on the map can disagree
with the grids after an undo or redo: there is none.

The editing state lives in the browser (one building → one grid), so no edit can split a
building; geometric problems of the starting grids are computed by PostGIS (geo.map_data).
"""

from __future__ import annotations

from folium.plugins import Draw

from geo.map_data import EditorData
from maps.page import (
    DRAW_CSS,
    DRAW_JS,
    add_panel,
    add_script,
    base_map,
    esc,
    render,
    title_block,
)
from maps.plan_history_page import SOURCE_WORDS
from maps.shell import STATIC, top_bar

_JS = "gwEditor(map, DATA);"
PAGE_JS = "editor.js"
# Leaflet.draw's texts in Chinese first: loaded after leaflet.draw.js, before the draw control
DRAW_ZH_JS = ("gw_draw_zh", "/maps/static/editor_draw_zh.js")


def build_editor(
    data: EditorData,
    min_households: int,
    max_households: int,
    tile_url: str | None = None,
    user: str | None = None,
    stored: dict[str, dict] | None = None,
) -> str:
    """The grid editor page for one community as HTML (``user``: the name in the bar). What
    the start is (current grids, a draft, a committed plan, stale or not) is said from
    ``data`` as served: the page is right before its script runs. ``stored``: for a replaced
    version or a stale draft, each grid's households and flags as the plan holds them
    (code → {households, flags}), shown beside today's counts."""
    minx = min(c[0] for c in _coords(data.community["geometry"]))
    maxx = max(c[0] for c in _coords(data.community["geometry"]))
    miny = min(c[1] for c in _coords(data.community["geometry"]))
    maxy = max(c[1] for c in _coords(data.community["geometry"]))
    m = base_map((minx, miny, maxx, maxy), "网格编辑器 grid editor", tile_url, page_js=PAGE_JS)
    draw = Draw(
        export=False,
        position="topleft",
        draw_options={
            "polyline": False,
            "rectangle": False,
            "circle": False,
            "marker": False,
            "circlemarker": False,
            "polygon": {"allowIntersection": False, "showArea": False},
        },
        # one-shot boundaries (module docstring): nothing drawn stays to reshape or delete
        edit_options={"edit": False, "remove": False},
        show_geometry_on_click=False,
    )
    draw.default_js = [*DRAW_JS, DRAW_ZH_JS]
    draw.default_css = list(DRAW_CSS)
    draw.add_to(m)
    panel = (
        title_block(
            "网格编辑器",
            "Grid editor",
            f"社区：{esc(data.community['name'])}（{esc(data.community['code'])}） community"
            f'<br>起点：<span id="gw-start">{esc(start_text(data))}</span>'
            f"<br>{_history_link(data.community['code'])}",
        )
        + _stale_note(data)
        + '<div class="gw-bounds">户数范围 households: <label>下限 min <input id="gw-min" '
        f'type="number" min="0" max="1000000" step="1" value="{int(min_households)}" '
        'style="width:6em"></label> <label>上限 max <input id="gw-max" type="number" min="0" '
        f'max="1000000" step="1" value="{int(max_households)}" style="width:6em"></label></div>'
        + '<p class="gw-note" id="gw-hint">选中网格后点击楼栋归入该网格；“涂刷”后按住鼠标划过楼栋；'
        "或用左侧工具画边界：边界内的楼栋归入当时所选的网格，边界随即消失（可撤销）。"
        "<br>Select a grid, then click buildings to move them into it; Paint and sweep with "
        "the button held; or draw a boundary with the tool on the left: the buildings inside "
        "go to the grid selected then, and the boundary is removed (undo takes the move "
        "back).</p>" + '<div><button id="gw-undo" class="gw-btn" type="button">↶ 撤销 undo</button>'
        '<button id="gw-redo" class="gw-btn" type="button">↷ 重做 redo</button>'
        '<button id="gw-paint" class="gw-btn" type="button">🖌 涂刷 paint</button>'
        '<button id="gw-new" class="gw-btn" type="button">＋ 新网格 new grid</button></div>'
        + '<div><button id="gw-rebalance" class="gw-btn" type="button">⚖ 平衡其余 rebalance '
        'the rest</button><button id="gw-save" class="gw-btn" type="button">💾 存为草案 save '
        "as draft</button></div>"
        + '<div id="gw-msg" class="gw-msg"></div>'
        # a saved draft, or the draft the page was opened on (editor.js shows what applies)
        + '<div id="gw-plan" class="gw-plan" hidden><span id="gw-plan-name"></span> '
        '<a id="gw-plan-review" href="#">🔍 查看草案 review the draft</a> <button '
        'id="gw-commit" class="gw-btn" type="button">✔ 提交 commit</button><button '
        'id="gw-discard" class="gw-btn" type="button">✖ 放弃 discard</button></div>'
        + '<h2>网格 Grids</h2><table class="gw-table"><thead><tr><th>网格 grid</th>'
        + _households_heads(data, stored)
        + '<th class="gw-num">楼栋 buildings</th><th>状态 status</th>'
        '<th>🔒</th></tr></thead><tbody id="gw-grids"></tbody></table>'
        + '<h2>问题 Violations</h2><div id="gw-violations"></div>'
    )
    add_panel(m, panel, user)
    m.get_root().header.add_child(
        _style(".gw-disconnected{stroke:#ff00ff;stroke-width:3;stroke-dasharray:3 2;}"),
        name="gw_editor_css",
    )
    add_script(
        m,
        _JS,
        {
            "community": data.community,
            "buildings": data.buildings,
            "streets": data.streets,
            "grids": data.grids,
            "adjacency": data.adjacency,
            "ground": data.ground,
            "version": data.version,
            "current_version": data.current_version,
            "problems": data.problems,
            "min": min_households,
            "max": max_households,
            "stale": data.stale,
            "stored": stored,
            "outlines_plan": outlines_plan(data),
        },
    )
    return render(m)


def outlines_plan(data: EditorData) -> int | None:
    """The stored plan whose outlines the page's saves keep (sent as POST /plans/draft's
    ``outlines_plan``): the draft it was opened on, engine or editor made (a discarded one
    too). None for the current grids or a committed plan: the server keeps the current
    version's outlines then. WHY: an engine draft saved unchanged from here was redrawn
    from its buildings (a grid's Polsby–Popper 0.39 → 0.05), while offices publish by the
    polygon."""
    if data.plan_id is None or data.plan_status == "committed":
        return None
    return int(data.plan_id)


def _history_link(code: str) -> str:
    """The link to the community's grid versions (/maps/editor/history): open one, or bring
    one back as a draft (T63 #2: history and revert were on the command line only)."""
    return (
        f'<a class="gw-history" href="/maps/editor/history?community={esc(code)}">'
        "🕘 网格历史版本 grid versions</a>"
    )


def _households_heads(data: EditorData, stored: dict[str, dict] | None) -> str:
    """The grid list's household column(s). On an old version or a stale draft the live
    counts are today's buildings', not the plan's: labelled so, with the plan's own numbers
    (as `gridward plans show N` prints them) in a column beside (T43 #10: 500 and 399 shown
    where the commit had 1080 and 339, nothing saying they were today's)."""
    if stored is None:
        return '<th class="gw-num">户数 households</th>'
    when = ("提交时", "at commit") if data.committed else ("保存时", "when saved")
    return (
        '<th class="gw-num" id="gw-hh-now">当前户数 current households</th>'
        f'<th class="gw-num" id="gw-hh-stored" title="gridward plans show '
        f'{int(data.plan_id or 0)}">{when[0]}户数 households {when[1]}</th>'
    )


def start_text(data: EditorData) -> str:
    """What the page starts from, Chinese first with every value in the Chinese (T38 L5:
    geo.map_data's ``source`` read 「current grids 现行网格」, English first, and 「草案 draft
    plan #9」 with the number in the English only)."""
    pid, v, now = data.plan_id, data.version, data.current_version
    if pid is None:
        return "现行网格 current grids"
    if data.plan_status == "committed":
        if v == now:
            return (
                f"已提交的方案 #{pid}（第 {v} 版），即现行网格 "
                f"committed plan #{pid} (version {v}): the community's current grids"
            )
        return (
            f"已提交的方案 #{pid}（第 {v} 版），现行为第 {now} 版 "
            f"committed plan #{pid} (version {v}), since replaced by version {now}"
        )
    if data.plan_status == "discarded":
        return f"已放弃的草案 #{pid} discarded draft #{pid}"
    return f"草案 #{pid} draft plan #{pid}"


def _stale_note(data: EditorData) -> str:
    """A warning when the start was made on grids that are no longer the community's: its
    save or commit is refused (409), so the planner knows before editing (tester W, F3). A
    draft made on other buildings, households or streets (T63 #1: a household import made
    every open draft fail at commit, and the page said nothing): saved again, it counts
    today's."""
    if not data.stale and data.outdated:
        pid = int(data.plan_id or 0)
        return (
            f'<p id="gw-outdated" class="gw-bad">⚠ 草案 #{pid} 保存后，社区的楼栋、户数或街巷有'
            "变动（如导入了新户数），不能直接提交：表中按当前户数计算，旁列为保存时的户数；核对后"
            f"请重新保存（存为草案），再提交新草案。 The community's buildings, households or "
            f"streets changed since draft #{pid} was saved (e.g. new household counts), so it "
            "cannot be committed as it is: the table counts today's households, beside those "
            "when it was saved; check them, save it again (save as draft) and commit the new "
            "draft.</p>"
        )
    if not data.stale:
        return ""
    current = (
        f'<a href="/maps/editor?community={esc(data.community["code"])}">'
        "打开现行网格 open the current grids</a></p>"
    )
    if data.committed:  # committed, then replaced by a later commit: not a draft
        return (
            f'<p id="gw-stale" class="gw-bad">⚠ 此方案于第 {data.version} 版提交，现行为第 '
            f"{data.current_version} 版：已被取代，不能据此保存，请从现行网格重新编辑。 This "
            f"plan was committed as version {data.version}; the community is at version "
            f"{data.current_version}: it was replaced and cannot be saved again. {current}"
        )
    return (
        f'<p id="gw-stale" class="gw-bad">⚠ 此草案基于第 {data.version} 版网格，现行为第 '
        f"{data.current_version} 版：已过期，不能保存或提交，请从现行网格重新编辑。 This draft "
        f"was made on grid version {data.version}; the community is at version "
        f"{data.current_version}: it is stale and cannot be saved or committed. {current}"
    )


def _style(css: str):  # -> Element
    from maps.page import Html

    return Html(f"<style>{css}</style>")


def _coords(geom: dict) -> list[list[float]]:
    """Every (lon, lat) of a (Multi)Polygon GeoJSON geometry."""
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return [c for poly in polys for ring in poly for c in ring]


def _range(bounds: tuple[int, int] | None) -> str:
    return f"{bounds[0]}–{bounds[1]}" if bounds else "—"


def _draft_link(code: str, d: dict, q: str) -> str:
    """A draft in the picker: open ones to continue; a stale one (made on grids that are no
    longer current: it can be reviewed, never saved or committed) said so plainly, with a
    button to discard it (stale drafts piled up: nothing could take them off the list)."""
    pid = int(d["id"])
    # Chinese first, values in the Chinese (T38 L5: 「草案 draft #9 (editor, …)」)
    made = SOURCE_WORDS.get(d["source"], esc(d["source"]))
    by = f"{esc(d['by'])}，" if d["by"] else ""
    link = (
        f'<a href="/maps/editor?community={code}&plan={pid}{q}">草案 #{pid} draft '
        f"#{pid}</a> <small>（{made}，{by}{esc(d['at'])}，户数 {_range(d['bounds'])} "
        "households）</small>"
    )
    if d.get("outdated") and not d["stale"]:  # T63 #1: commit refused until saved again
        return (
            f'<span class="gw-outdated gw-draft" data-plan="{pid}">{link} <small class="gw-bad">'
            "数据已变动：楼栋、户数或街巷在保存后有变动，打开后重新保存才能提交 "
            "data changed: buildings, households or streets changed since it was saved; open "
            "it and save it again to commit it</small></span>"
        )
    if d["stale"]:
        return (
            f'<span class="gw-stale gw-draft" data-plan="{pid}">{link} <small class="gw-bad">'
            f"已过期：基于第 {int(d['base_version'])} 版网格，不能提交 "
            f"stale: made on version {int(d['base_version'])}, cannot be committed"
            f'</small> <button type="button" class="gw-btn gw-discard-stale" data-plan="{pid}" '
            'title="放弃此草案 discard this draft">✖ 放弃 discard</button></span>'
        )
    return f'<span class="gw-draft" data-plan="{pid}">{link}</span>'


def build_picker(
    rows: list[dict],
    min_households: int | None,
    max_households: int | None,
    user: str | None = None,
) -> str:
    """The editor's starting page: the communities a planner may edit, each opening the
    editor on its current grids, and their open drafts (review, then commit or discard in
    the editor); stale drafts come last, marked, each with a discard button
    (maps/static/editor_picker.js). ``rows``:
    :func:`geo.map_data.communities_with_drafts`, already filtered to the planner's areas.
    Bounds given here go into every link; otherwise each page takes its plan's own. On top,
    the bar every page has (:func:`maps.shell.top_bar`: the map index, ``user``, 退出 sign
    out, posted by gridward.js)."""
    q = "".join(
        f"&{k}={int(v)}"
        for k, v in (("min", min_households), ("max", max_households))
        if v is not None
    )
    body = []
    for r in rows:
        code = esc(r["code"])
        drafts = " ".join(
            _draft_link(code, d, q) for d in sorted(r["drafts"], key=lambda d: d["stale"])
        )
        body.append(
            # data-label: on a phone each row is a card, each cell named (gridward.css)
            f'<tr><td><a href="/maps/editor?community={code}{q}">{esc(r["name"])}</a> '
            f"<small>{_history_link(r['code'])}</small></td>"
            f'<td data-label="编码 code">{code}</td>'
            f'<td data-label="街道 subdistrict">{esc(r["parent"] or "")}</td>'
            f'<td class="gw-num" data-label="网格 grids">{r["grids"]}</td>'
            f'<td class="gw-num" data-label="户数 households">{r["households"]}</td>'
            f'<td data-label="现行户数范围 bounds">{_range(r["bounds"])}</td>'
            f'<td data-label="草案 drafts">{drafts or "—"}</td></tr>'
        )
    table = (
        '<table class="gw-table"><thead><tr><th>社区 community</th><th>编码 code</th>'
        "<th>街道 subdistrict</th><th>网格 grids</th><th>户数 households</th>"
        "<th>现行户数范围 current bounds</th><th>草案 drafts</th></tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
        if body
        else "<p>您的辖区内没有社区。 No community in your areas.</p>"
    )
    shown = (
        f"户数范围 households [{min_households}, {max_households}]"
        if min_households is not None and max_households is not None
        else "每个社区按其现行方案的户数范围 each with its own plan's household bounds"
    )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>网格编辑器 grid editor</title>"
        f'<link rel="icon" href="data:,"><link rel="stylesheet" href="{STATIC}/gridward.css">'
        f'<script src="{STATIC}/gridward.js"></script>'
        f'</head><body class="gw-picker">{top_bar(user)}<h1>网格编辑器 Grid editor</h1>'
        f"<p>选择社区或草案 pick a community or a draft ({shown}).</p>"
        f'<p id="gw-msg" class="gw-msg"></p>{table}'
        '<p><a href="/maps">← 地图 maps</a></p>'
        # a stale draft's discard button (maps/static/editor_picker.js)
        f'<script src="{STATIC}/editor_picker.js"></script></body></html>'
    )

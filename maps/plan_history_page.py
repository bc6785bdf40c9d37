"""A community's grid history 网格历史版本 (/maps/editor/history?community=CODE): its committed
versions, newest first, each opened read-only in the editor or brought back as a new draft.

WHY (outside tester T63 #1): ``gridward plans history`` and ``plans revert`` (GET /plans/history,
POST /plans/revert) had nothing on the web: an old version opened in the editor only said it
was replaced, and a planner who is no programmer could not go back to one. Here each version
that is not the current one has a 恢复此版 button (maps/static/plan_history.js): it asks
POST /plans/revert for a new draft of that version's grids and opens the editor on it, where
the planner reviews and commits it as any draft. Nothing changes before that commit.

A plain page (no map, no folium), in the picker's look: the bar every page has, a table that
is a card per version on a phone (gridward.css ``.gw-picker``, each cell named by its
``data-label``).
"""

from __future__ import annotations

from typing import Any

from maps.shell import STATIC, esc, top_bar

#: what made a plan (geo.plans.source_sql), in the words of this page and the editor's picker
SOURCE_WORDS = {
    "partition": "自动划分 partition",
    "editor": "编辑器保存 editor",
    "revert": "恢复旧版 revert",
    "file": "文件导入 file",
}

PAGE_JS = "plan_history.js"

# an "open" link looks like the buttons beside it (a finger's target of 44 px on a phone, as
# .gw-btn is); no empty message box; on a phone's card the numbers follow their labels
_STYLE = (
    "<style>.gw-history a.gw-btn{display:inline-flex;align-items:center;box-sizing:border-box;"
    "text-decoration:none;color:#2b6cb0;border:1px solid #cbd5e0;border-radius:3px}"
    ".gw-history .gw-actions{white-space:nowrap}.gw-history .gw-msg:empty{display:none}"
    "@media (max-width:700px){.gw-history td.gw-num{text-align:left!important}}</style>"
)


def history_url(community: str) -> str:
    """The page's address for ``community`` (a 12-digit code)."""
    return f"/maps/editor/history?community={community}"


def _minute(iso: str | None) -> str:
    """``2026-11-26T16:42:09+08:00`` (the city's time) → ``2026-11-26 16:42``; ``—`` for none."""
    return iso[:16].replace("T", " ") if iso else "—"


def _households(v: dict[str, Any]) -> str:
    lo, hi = v.get("households_min"), v.get("households_max")
    return "—" if lo is None or hi is None else f"{int(lo)}–{int(hi)}"


def _row(code: str, v: dict[str, Any]) -> str:
    """One version: a card on a phone (its first cell the card's title)."""
    n = int(v["version"])
    pid = v["plan_id"]
    current = ' <strong class="gw-ok gw-current">现行 current</strong>' if v["current"] else ""
    source = v["source"]
    made = SOURCE_WORDS.get(source, esc(source)) if source else "—"
    actions = []
    if pid is not None:
        actions.append(
            f'<a class="gw-btn gw-open" href="/maps/editor?community={code}&amp;plan={int(pid)}" '
            f'title="在编辑器中查看第 {n} 版（只读） view version {n} in the editor (read-only)">'
            "打开 open</a>"
        )
    if not v["current"]:
        actions.append(
            f'<button type="button" class="gw-btn gw-revert" data-version="{n}" '
            f"title=\"按第 {n} 版网格生成新草案，核对后提交 make a new draft of version {n}'s "
            f'grids, to review and commit">恢复此版 revert to this version</button>'
        )
    mark = ' class="gw-sel"' if v["current"] else ""
    return (
        f'<tr data-version="{n}"{mark}>'
        f'<td class="gw-version">第 {n} 版 version {n}{current}</td>'
        f'<td data-label="方案 plan">{"#" + str(int(pid)) if pid is not None else "—"}</td>'
        f'<td data-label="提交于 committed">{esc(_minute(v["committed_at"]))}</td>'
        f'<td data-label="提交者 by">{esc(v["committed_by"] or "—")}</td>'
        f'<td data-label="来源 source">{made}</td>'
        f'<td class="gw-num" data-label="网格 grids">{int(v["grids"])}</td>'
        f'<td class="gw-num" data-label="每格户数 households">{_households(v)}</td>'
        f'<td class="gw-actions">{" ".join(actions)}</td></tr>'
    )


def build_history(data: dict[str, Any], tz: str, user: str | None = None) -> str:
    """The page for :func:`geo.plan_history.grid_versions`'s ``data`` (newest first); times
    are shown in the city's zone ``tz`` to the minute; ``user``: the name in the bar."""
    code = esc(data["community"])
    name = esc(data.get("name") or "")
    rows = "".join(_row(code, v) for v in data["versions"])
    if rows:
        table = (
            '<table class="gw-table" id="gw-versions"><thead><tr><th>版本 version</th>'
            f"<th>方案 plan</th><th>提交于 committed ({esc(tz)})</th><th>提交者 by</th>"
            "<th>来源 source</th><th>网格 grids</th><th>每格户数 households</th>"
            "<th></th></tr></thead><tbody>" + rows + "</tbody></table>"
        )
    else:
        table = (
            f'<p id="gw-none">社区 {code} 尚无已提交的网格版本 community {code} has no committed '
            "grid version yet.</p>"
        )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>网格历史版本 {name} grid versions</title>"
        f'<link rel="icon" href="data:,"><link rel="stylesheet" href="{STATIC}/gridward.css">'
        f'<script src="{STATIC}/gridward.js"></script>{_STYLE}</head>'
        f'<body class="gw-picker gw-history" data-community="{code}">{top_bar(user)}'
        f"<h1>网格历史版本 grid versions</h1>"
        f"<p>社区：{name}（{code}） community</p>"
        '<p class="gw-note">每次提交生成一个新版本。“恢复此版”按该版网格生成新草案'
        "并在编辑器中打开，核对并提交后才生效，现行网格在此之前不变。 "
        "Each commit makes a new version. Revert makes a new draft of that version's grids "
        "and opens it in the editor: nothing changes until you commit it.</p>"
        f'<p id="gw-msg" class="gw-msg" role="status"></p>{table}'
        f'<p><a href="/maps/editor?community={code}">打开现行网格 open the current grids</a> · '
        '<a href="/maps/editor">← 网格编辑器 grid editor</a></p>'
        f'<script src="{STATIC}/{PAGE_JS}"></script></body></html>'
    )

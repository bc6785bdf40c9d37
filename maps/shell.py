"""The plain pages around the maps (the map index, error pages) and the bar every page has:
one look, a sign-out button, a viewport for phones.

Why a module without folium: an error page is built by the API's error handlers
(api/errors.py), which must not import folium and branca for a 404.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

STATIC = "/maps/static"

# The sign-out button: gridward.js posts it to POST /auth/logout (which revokes the sign-in
# and clears the cookie; a cookie-signed write must carry X-Requested-With, which a plain
# form cannot send) and then opens /login.
SIGNOUT = (
    '<form class="gw-signout" method="post" action="/auth/logout">'
    '<button class="gw-btn" type="submit">退出 sign out</button></form>'
)

# What each status means to a person, Chinese first (the message below says the detail).
_HEADINGS = {
    400: "请求有误 Bad request",
    401: "需要登录 Sign-in needed",
    403: "无权访问 Not allowed",
    404: "未找到 Not found",
    405: "不支持此操作 Not supported",
    409: "有冲突 Conflict",
    413: "内容过大 Too large",
    422: "输入有误 Invalid input",
    429: "请求过多 Too many requests",
    500: "服务器出错 Server error",
    503: "服务暂不可用 Service unavailable",
}


def esc(value: Any) -> str:
    """HTML-escape anything shown as text (names come from users and imports)."""
    return html.escape("" if value is None else str(value), quote=True)


def top_bar(user: str | None = None) -> str:
    """The bar at the top of every page: the map index, who is signed in, 退出 sign out."""
    who = f'<span class="gw-user">{esc(user)}</span>' if user else ""
    return (
        '<nav class="gw-topbar"><a href="/maps">地图目录 maps</a>'
        f'<span class="gw-grow"></span>{who}{SIGNOUT}</nav>'
    )


def plain_page(title: str, body: str, bar: str = "") -> str:
    """A whole page in the site's style (not a map): ``bar`` above ``body``."""
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{STATIC}/gridward.css">'
        f'<script src="{STATIC}/gridward.js"></script></head>'
        f'<body class="gw-plain">{bar}<main class="gw-page">{body}</main></body></html>'
    )


def index_page(links: list[tuple[str, str, str]], user: str | None) -> str:
    """/maps: the map pages this user may open (path, Chinese name, English name)."""
    items = "".join(
        f'<li><a href="/maps/{esc(p)}">{esc(zh)} <span class="gw-en">{esc(en)}</span></a></li>'
        for p, zh, en in links
    )
    body = f'<h1>地图 <span class="gw-en">Maps</span></h1><ul class="gw-links">{items}</ul>'
    return plain_page("地图 maps", body, top_bar(user))


def error_page(
    status: int, message: str, path: str, query: str = "", user: str | None = None
) -> str:
    """A refused page request in the site's style: what went wrong (Chinese first), the
    status, and a way on: the sign-in page for 401 (back here after), the map index for the
    rest, and the page itself without its parameters when they were what was wrong. The top
    bar, with ``user``'s name and 退出, whenever someone is signed in (re-tester M2, N3: the
    422 and 404 pages had none, the 403 page's bar no name)."""
    heading = _HEADINGS.get(status, "出错了 Error")
    here = path + (f"?{query}" if query else "")
    links = []
    if status == 401:
        links.append(f'<a href="/login?next={esc(quote(here, safe=""))}">登录 sign in</a>')
    if status in (400, 422) and path.startswith("/maps/") and query:
        links.append(f'<a href="{esc(path)}">重新打开此页 open this page afresh</a>')
    if status == 403 and path == "/maps/patrols" and query:  # a steward's way to her own (T44 #9)
        links.append('<a href="/maps/patrols">打开本人的巡查图 open your own patrols</a>')
    links.append('<a href="/maps">返回地图目录 back to the maps</a>')
    body = (
        f'<h1>{esc(heading)} <span class="gw-en">· {status}</span></h1>'
        f'<p class="gw-error-msg" data-status="{status}">{esc(message)}</p>'
        f'<p class="gw-links">{" · ".join(links)}</p>'
    )
    # a 403 is always someone signed in (who may not open this): signing out lets another
    # account sign in; a 401 is no one
    bar = top_bar(user) if user or status == 403 else ""
    return plain_page(f"{heading} · {status}", body, bar)


def area_options(areas: list[dict[str, Any]], chosen: dict[str, Any] | None) -> str:
    """An area picker's options (:func:`geo.map_data.area_choices`): 全市 whole city first,
    then each area under the one it lies in, indented by level, the chosen one selected; a
    chosen area the list does not hold (past its limit) is offered first, so the form keeps
    it. One list for the patrol map and the reports page."""
    from geo.models import LEVEL_ZH

    depth = {"district": 0, "subdistrict": 1, "township": 1, "community": 2, "village": 2}
    code = chosen["code"] if chosen else None
    if chosen and not any(a["code"] == code for a in areas):
        areas = [{"code": code, "name": chosen.get("name"), "level": chosen.get("level")}, *areas]
    options = ['<option value="">全市 whole city</option>']
    for a in areas:
        pad = "\u3000" * depth.get(str(a["level"]), 0)
        label = f"{pad}{a['name'] or a['code']} {LEVEL_ZH.get(str(a['level']), '')} {a['code']}"
        sel = " selected" if a["code"] == code else ""
        options.append(f'<option value="{esc(a["code"])}"{sel}>{esc(label)}</option>')
    return "".join(options)

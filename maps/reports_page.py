"""Patrol reports page 巡查报表 (/maps/reports?kind=&date=&area=): the 日巡 daily, 周查 weekly
or 月评 monthly report as readable tables, its notes, and its downloads.

WHY (outside tester T65 F1): a viewer had no way to a report from the pages: the map index
linked maps only, and ``GET /reports/monthly?date=…`` typed by hand showed raw JSON unless
``format=xlsx`` was added. Here a report is picked (kind, a day of its period, an area), the
previous and next periods are one tap away, and the files are the API's own URLs.

Built on the server, from the very JSON ``GET /reports/{kind}`` answers
(:func:`geo.report_signoffs.report_body` of :func:`api.routes.reports.made_report`): the
page shows what the API says (labels, rounding) and recomputes no figure. Server-side as the
other plain pages (the index, the editor's picker, the grid history): a bad parameter is the
site's error page through the API's own error handler, the page works without script, and
it prints. The only script (maps/static/reports.js) starts a background report job
(``POST /reports/{kind}/jobs``) for a big report's XLSX and shows its progress.

Tables are a card per row on a phone and scroll inside their box on a tablet
(maps/static/reports.css: gridward.css is another page's to edit).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import urlencode

from geo.report_areas import AREA_LEVELS
from geo.report_export import HEADERS, YES_NO, local_text, signer_text
from geo.track_days import EARLIEST_DAY
from maps.shell import STATIC, area_options, esc, top_bar

PAGE = "/maps/reports"
PAGE_JS = "reports.js"
PAGE_CSS = "reports.css"

#: the kinds, in the order people name them: (key, Chinese, English)
KINDS = (
    ("daily", "日巡", "daily"),
    ("weekly", "周查", "weekly"),
    ("monthly", "月评", "monthly"),
)
#: the previous / current / next period's link words by kind (Chinese first)
STEPS = {
    "daily": ("前一天 previous day", "今天 today", "后一天 next day"),
    "weekly": ("上一周 previous week", "本周 this week", "下一周 next week"),
    "monthly": ("上个月 previous month", "本月 this month", "下个月 next month"),
}
#: the CSV tables a report has (its ``columns`` say which), in the files' own words
CSV_TABLES = (
    ("people", "人员 people"),
    ("areas", "区域 areas"),
    ("alleys", "街巷 alleys"),
    ("segments", "路段 segments"),
)

# Columns the tables leave out: the period (the page's heading says it), internal ids, the
# role's code (each role is a table of its own under its label) and the area rows' codes
# (their names are shown; the files keep every column).
_PEOPLE_HIDDEN = frozenset({"day", "period", "person_id", "role", "role_label"})
_AREAS_HIDDEN = frozenset(
    {"role", "role_label", "subdistrict_code", "community_code", "district_code"}
)
# first in their tables, whatever the JSON's order: a ranking reads rank, then who
_PEOPLE_FIRST = ("rank", "person_name", "person_code")
_AREAS_FIRST = ("rank", "level", "district_name", "subdistrict_name", "community_name")
_PERCENT = frozenset(
    {"compliance", "walked_share", "covered_share", "walked_fraction", "covered_fraction"}
)


def page_url(kind: str, day: dt.date | None, area: str | None) -> str:
    """This page's address for a report (no date: the city's today; no area: 全市)."""
    q = {"kind": kind, "date": day.isoformat() if day else None, "area": area}
    return f"{PAGE}?{urlencode({k: v for k, v in q.items() if v})}"


def report_url(kind: str, day: dt.date, area: str | None, fmt: str, table: str | None) -> str:
    """The API's own download of the report (``GET /reports/{kind}``), as a person would type
    it: the day, the area, the format, a CSV's table."""
    q = {"date": day.isoformat(), "area": area, "format": fmt, "table": table}
    return f"/reports/{kind}?{urlencode({k: v for k, v in q.items() if v})}"


def cell_text(key: str, value: Any) -> str:
    """A JSON value as the page shows it (never recomputed: only said): shares as per cent to
    0.1 % (as the XLSX's % cells), metres to 0.1 m (as the files), yes/no, area levels and
    roles as their labels, a missing value as —."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return YES_NO[value]
    if key in _PERCENT and isinstance(value, (int, float)):
        return f"{value:.1%}"
    if key.endswith("_m") and isinstance(value, (int, float)):
        return f"{value:,.1f}"
    if key == "level":
        return AREA_LEVELS.get(str(value), str(value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def header(key: str) -> str:
    """A column's heading as the CSV/XLSX files write it: its Chinese label, then its JSON
    key (``达标率 compliance``); a key the files have no label for as itself."""
    if key == "role_label":
        return HEADERS["role"]
    return HEADERS.get(key, key)


def shown_columns(
    columns: list[str], first: tuple[str, ...], hidden: frozenset[str], running: bool
) -> list[str]:
    """The table's columns: those of ``first`` the report has, then the rest in the report's
    own order (JSON ``columns``), without ``hidden``; 待巡 pending only while the period runs
    (it counts today's duty-days not done yet: none in a closed period)."""
    drop = hidden | (frozenset() if running else frozenset({"pending"}))
    head = [c for c in first if c in columns and c not in drop]
    return head + [c for c in columns if c not in drop and c not in head]


def _roles(rows: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The rows by role (code, label, rows), roles in the report's order, rows as given."""
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for r in rows:
        code = str(r.get("role") or "")
        out.setdefault(code, (str(r.get("role_label") or code or "—"), []))[1].append(r)
    return [(code, label, rs) for code, (label, rs) in out.items()]


def _title_key(row: dict[str, Any], table: str) -> str:
    """The cell that names a row (the card's title on a phone): the person, or the area's own
    level's name."""
    if table == "people":
        return "person_name"
    level = row.get("level")
    return {"district": "district_name", "community": "community_name"}.get(
        str(level), "subdistrict_name"
    )


def _row_html(row: dict[str, Any], cols: list[str], table: str) -> str:
    """One row: each cell named by its key (``data-key``) and its heading (``data-label``, the
    phone card's label); the naming cell marked as the card's title."""
    title = _title_key(row, table)
    cells = []
    for c in cols:
        v = row.get(c)
        cls = []
        if c == title:
            cls.append("gw-rep-name")
        elif v is None and c.endswith("_name"):
            cls.append("gw-rep-none")  # a subdistrict row's community: nothing to read
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            cls.append("gw-num")
        klass = f' class="{" ".join(cls)}"' if cls else ""
        cells.append(
            f'<td{klass} data-key="{esc(c)}" data-label="{esc(header(c))}">'
            f"{esc(cell_text(c, v))}</td>"
        )
    mark = ""
    if table == "people":
        mark = f' data-person="{esc(row.get("person_id"))}"'
    else:
        level = str(row.get("level") or "")
        code = row.get(f"{level}_code") if level else None
        mark = f' data-level="{esc(level)}" data-code="{esc(code or "")}"'
        if level != "community":
            mark += ' class="gw-rep-sum"'
    return f"<tr{mark}>{''.join(cells)}</tr>"


def _table(rows: list[dict[str, Any]], cols: list[str], table: str, role: str, caption: str) -> str:
    """One role's table in a box of its own, which scrolls sideways when the table is wider
    than the screen (a tablet) instead of the whole page."""
    head = "".join(f'<th scope="col">{esc(header(c))}</th>' for c in cols)
    body = "".join(_row_html(r, cols, table) for r in rows)
    return (
        f'<div class="gw-rep-scroll"><table class="gw-rep-table" data-table="{table}" '
        f'data-role="{esc(role)}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def tables_html(body: dict[str, Any], table: str) -> str:
    """The people ranking or the areas table, a table per role (the ranks are per role)."""
    rows = body.get(table) or []
    columns = list((body.get("columns") or {}).get(table) or [])
    if table == "people":
        cols = shown_columns(columns, _PEOPLE_FIRST, _PEOPLE_HIDDEN, bool(body.get("running")))
        unit, none = "人 people", "本报表没有人员行 no people in this report"
    else:
        # one district's name on every row says nothing (the city is one district): shown
        # for a district row, or rows of several districts
        one = {r["district_name"] for r in rows if r.get("district_name")}
        plain = len(one) <= 1 and all(r.get("level") != "district" for r in rows)
        hidden = _AREAS_HIDDEN | ({"district_name"} if plain else set())
        cols = shown_columns(columns, _AREAS_FIRST, hidden, bool(body.get("running")))
        unit, none = "行 rows", "本报表没有区域行 no area rows in this report"
    if not rows:
        return f'<p class="gw-note" data-empty="{table}">{none}</p>'
    parts = [
        '<p class="gw-note gw-rep-swipe">表格较宽时可左右滑动查看其余各列 a wide table scrolls '
        "sideways to its other columns</p>"
    ]
    for code, label, rs in _roles(rows):
        caption = f"{label}（{len(rs)} {unit}）"
        parts.append(f"<h3>{esc(caption)}</h3>" + _table(rs, cols, table, code, caption))
    return "".join(parts)


def _span(body: dict[str, Any]) -> str:
    """The whole period as people name it: a day, a week's two ends, a month."""
    start, end = body["period_from"], body["period_to"]
    if body["kind"] == "daily":
        return start
    if body["kind"] == "monthly":
        return start[:7]
    return f"{start} 至 {end}"  # T71 #30: 至 in a Chinese range, as the notes write it


def page_title(body: dict[str, Any]) -> str:
    """The tab's title, Chinese first then English (T71 #29: 「巡查报表 日巡 daily patrol
    2026-11-27 patrol report」 mixed the two): 日巡 2026-11-27 · 巡查报表 daily patrol report."""
    zh, _, en = str(body["label"]).partition(" ")
    return f"{zh} {_span(body)} · 巡查报表 {en} report".replace("  ", " ")


def _area_words(area: dict[str, Any] | None) -> str:
    """The report's area as the XLSX's 报表 sheet names it: name, level, code; or 全市."""
    if not area:
        return "全市 whole city"
    level = str(area.get("level") or "")
    return f"{area.get('name') or ''} {AREA_LEVELS.get(level, level)} {area['code']}".strip()


def _summary(body: dict[str, Any], steward: bool) -> str:
    """What the report says of itself: period, area, share, pending, data time, signing."""
    total = (
        dt.date.fromisoformat(body["period_to"]) - dt.date.fromisoformat(body["period_from"])
    ).days + 1
    running = "是 yes" if body["running"] else "否 no"
    rows = [
        ("报表 report", f"{body['label']} {_span(body)}"),
        ("区域 area", _area_words(body.get("area"))),
        (
            "统计日 days",
            f"{body['from']} 至 {body['to']}，{body['days']}/{total} 天 "
            f"{body['from']} to {body['to']}, {body['days']} of {total} days",
        ),
        ("进行中 running", running),
        # the rule, not a result (T66 N6: "达标比例 80%" was quoted as the day's compliance)
        (
            "达标线 patrolled when",
            f"一条街巷当天走过其长度的 {body['share'] * 100:g}% 即为已巡（标准，非结果） "
            f"a street or alley is patrolled on a day when {body['share'] * 100:g}% of its "
            "length is walked (the rule, not a result)",
        ),
    ]
    if body["running"]:
        rows.append(
            (
                "待巡 pending",
                f"今天有 {body['pending']} 项街巷·天尚未完成，不计入达标率 "
                f"{body['pending']} street/alley-days of today not done yet, in no rate",
            )
        )
    rows.append(
        ("数据更新于 data as of", local_text(body.get("data_as_of")) or "尚无数据 no data yet")
    )
    signed = body.get("signed")
    if signed:
        at = local_text(signed["signed_at"], seconds=False)
        by_zh, by = signer_text(signed["signed_by"])  # cli:root as 命令行（系统账号 root）
        rows.append(
            (
                "签发 signed",
                f"本期已签发（第 {signed['version']} 版，{at}，{by_zh}）；"
                f"本页是实时数据，非签发件 signed (version {signed['version']}, {at}, "
                f"{by}); this page is live data, not the signed copy",
            )
        )
    elif not steward and not body["running"]:
        rows.append(("签发 signed", "本期尚未签发 not signed yet"))
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    notes = "".join(f"<li>{esc(n)}</li>" for n in body.get("notes") or [])
    notes_html = (
        f'<h3>说明 Notes</h3><ul class="gw-rep-notes" id="gw-notes">{notes}</ul>' if notes else ""
    )
    mine = (
        '<p class="gw-note">只列出您本人的行和您的街巷所在的区域 only your own line and the areas '
        "of your streets and alleys</p>"
        if steward
        else ""
    )
    return f'<dl class="gw-rep-summary" id="gw-summary">{items}</dl>{mine}{notes_html}'


def _downloads(body: dict[str, Any], day: dt.date, area: str | None) -> str:
    """The API's files of this report: the XLSX (every table), a CSV per table, and the XLSX
    made by a background job (reports.js) for a report too big to wait for."""
    kind = body["kind"]
    tables = (body.get("columns") or {}).keys()
    xlsx = report_url(kind, day, area, "xlsx", None)
    links = [
        f'<a class="gw-btn gw-dl" data-format="xlsx" href="{esc(xlsx)}">XLSX 全部表 every table</a>'
    ]
    for table, words in CSV_TABLES:
        if table in tables:
            url = report_url(kind, day, area, "csv", table)
            links.append(
                f'<a class="gw-btn gw-dl" data-format="csv" data-table="{table}" '
                f'href="{esc(url)}">CSV {esc(words)}</a>'
            )
    job = f"/reports/{kind}/jobs?" + urlencode(
        {k: v for k, v in {"date": day.isoformat(), "area": area, "format": "xlsx"}.items() if v}
    )
    return (
        '<section id="gw-downloads"><h2>下载 Downloads</h2>'
        f'<p class="gw-rep-buttons">{"".join(links)}</p>'
        '<p class="gw-note">全市的周查、月评等大报表直接下载可能要等十几秒甚至超时：'
        "可改为后台生成，完成后在此下载。 A big report (the whole city's week or month) can "
        "take a while to download or time out: have it made in the background and download "
        "it here.</p>"
        f'<p class="gw-rep-buttons"><button type="button" class="gw-btn" id="gw-job" '
        f'data-url="{esc(job)}">后台生成 XLSX make the XLSX in the background</button></p>'
        '<p id="gw-job-msg" class="gw-msg" role="status"></p></section>'
    )


def _signoffs(rows: list[dict[str, Any]] | None, running: bool, signed: bool = False) -> str:
    """The period's signed copies (签发件) as stored, each version's XLSX and JSON; None: the
    reader may not list them (a steward). ``signed``: the report says the period is signed,
    though the reader may not read its copy (a planner, the city's copy: T66 N3 read "signed"
    in the summary and "not signed" here)."""
    if rows is None:
        return ""
    if not rows:
        if running:
            said = "本期进行中，结束后才能签发 a running period is signed after it ends"
        elif signed:
            said = (
                "本期已签发，其签发件不在您的管辖区域内，您无权查看 signed; the signed copy is "
                "outside your areas, so you may not read it"
            )
        else:
            said = "本期尚未签发 this period has not been signed"
        return (
            '<section id="gw-signed"><h2>签发件 Signed copies</h2>'
            f'<p class="gw-note">{said}</p></section>'
        )
    trs = "".join(
        f'<tr data-signoff="{int(r["id"])}">'
        f'<td class="gw-rep-name" data-label="版本 version">第 {int(r["version"])} 版 version '
        f"{int(r['version'])}</td>"
        f'<td data-label="签发于 signed at">{esc(local_text(r["signed_at"], seconds=False))}</td>'
        f'<td data-label="签发人 signed by">{esc(signer_text(r["signed_by"])[0])}</td>'
        f'<td data-label="说明 note">{esc(r.get("note") or "—")}</td>'
        f'<td class="gw-rep-actions"><a class="gw-btn" '
        f'href="/reports/signed/{int(r["id"])}?format=xlsx">XLSX</a> '
        # download, as the XLSX: opened, 262 KB of JSON filled the tab (T66 N7)
        f'<a class="gw-btn" download="signed_{int(r["id"])}.json" '
        f'href="/reports/signed/{int(r["id"])}">JSON</a></td></tr>'
        for r in reversed(rows)  # newest version first
    )
    return (
        '<section id="gw-signed"><h2>签发件 Signed copies</h2><div class="gw-rep-scroll">'
        '<table class="gw-rep-table" data-table="signed"><thead><tr><th>版本 version</th>'
        "<th>签发于 signed at</th><th>签发人 signed by</th><th>说明 note</th><th></th></tr>"
        f"</thead><tbody>{trs}</tbody></table></div></section>"
    )


def area_select(areas: list[dict[str, Any]], chosen: dict[str, Any] | None) -> str:
    """The area picker as the patrol map's (:func:`maps.shell.area_options`)."""
    return f'<select name="area" id="gw-area">{area_options(areas, chosen)}</select>'


def _picker(body: dict[str, Any], day: dt.date, today: dt.date, areas: list[dict[str, Any]]) -> str:
    """Kind tabs (one tap keeps the day and area), then a day of the period and an area."""
    kind = body["kind"]
    area = body.get("area")
    code = area["code"] if area else None
    tabs = "".join(
        f'<a href="{esc(page_url(k, day, code))}" data-kind="{k}"'
        + (' aria-current="page"' if k == kind else "")
        + f'>{zh} <span class="gw-en">{en}</span></a>'
        for k, zh, en in KINDS
    )
    return (
        f'<nav class="gw-rep-kinds" aria-label="报表类型 report kind">{tabs}</nav>'
        f'<form class="gw-rep-form" method="get" action="{PAGE}">'
        f'<input type="hidden" name="kind" value="{esc(kind)}">'
        f'<label>日期（期内任一天） a day of the period<input type="date" name="date" id="gw-date" '
        f'value="{day.isoformat()}" min="{EARLIEST_DAY.isoformat()}" max="{today.isoformat()}" '
        "required></label>"
        f"<label>区域 area{area_select(areas, area)}</label>"
        '<button class="gw-btn" type="submit">查看 show</button></form>'
    )


def _steps(body: dict[str, Any], today: dt.date) -> str:
    """The previous period, the current one and the next (none after today)."""
    kind = body["kind"]
    area = body.get("area")
    code = area["code"] if area else None
    start = dt.date.fromisoformat(body["period_from"])
    end = dt.date.fromisoformat(body["period_to"])
    prev_zh, now_zh, next_zh = STEPS[kind]
    links = []
    before = start - dt.timedelta(days=1)
    if before >= EARLIEST_DAY:
        links.append(
            f'<a class="gw-btn" id="gw-prev" href="{esc(page_url(kind, before, code))}">'
            f"← {prev_zh}</a>"
        )
    after = end + dt.timedelta(days=1)
    if after <= today:
        links.append(
            f'<a class="gw-btn" id="gw-next" href="{esc(page_url(kind, after, code))}">'
            f"{next_zh} →</a>"
        )
    if not start <= today <= end:
        links.append(
            f'<a class="gw-btn" id="gw-now" href="{esc(page_url(kind, None, code))}">{now_zh}</a>'
        )
    return f'<p class="gw-rep-steps">{"".join(links)}</p>'


def _alleys_note(body: dict[str, Any], area: str | None) -> str:
    """Where each street and alley is: the alleys CSV, and the patrol map of the day (a daily
    report's own day and area)."""
    q = {"date": body["period_from"], "area": area} if body["kind"] == "daily" else {}
    url = "/maps/patrols" + (f"?{urlencode({k: v for k, v in q.items() if v})}" if q else "")
    return (
        '<p class="gw-note" id="gw-alleys-note">各街巷逐日明细见上方“CSV 街巷 alleys”，或在'
        f'<a href="{esc(url)}">巡查图 patrol map</a>上按天查看。 Each street and alley day by '
        "day: the alleys CSV above, or the patrol map of a day.</p>"
    )


def build_reports_page(
    body: dict[str, Any],
    day: dt.date,
    today: dt.date,
    areas: list[dict[str, Any]],
    user: str | None = None,
    steward: bool = False,
    signoffs: list[dict[str, Any]] | None = None,
) -> str:
    """The page for ``body``, the JSON ``GET /reports/{kind}?date=day&area=…`` gives this
    reader; ``today``: the city's, the last day the picker and the steps offer; ``areas``:
    the picker's (code, name, level); ``signoffs``: the period's signed copies the reader may
    list (None: none to list, a steward)."""
    area = body.get("area")
    code = area["code"] if area else None
    heading = f"{body['label']} {_span(body)} · {_area_words(area)}"
    parts = [
        '<h1>巡查报表 <span class="gw-en">Patrol reports</span></h1>',
        _picker(body, day, today, areas),
        _steps(body, today),
        f'<h2 id="gw-heading">{esc(heading)}</h2>',
        _summary(body, steward),
        _downloads(body, day, code),
        _signoffs(signoffs, bool(body["running"]), bool(body.get("signed"))),
        '<section id="gw-people"><h2>人员排名 People ranking</h2>'
        '<p class="gw-note">排名按达标率，各职责分别排名，并列同名次；'
        "一条也未巡或尚无可计的不排名（—）。 "
        "Ranked by compliance, each role on its own, ties sharing a rank; no rank (—) where "
        "nothing was patrolled or nothing counts yet.</p>"
        + tables_html(body, "people")
        + "</section>",
        '<section id="gw-areas"><h2>街道和社区 Subdistricts and communities</h2>'
        + tables_html(body, "areas")
        + "</section>",
        _alleys_note(body, code),
    ]
    title = page_title(body)
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{STATIC}/gridward.css">'
        f'<link rel="stylesheet" href="{STATIC}/{PAGE_CSS}">'
        f'<script src="{STATIC}/gridward.js"></script></head>'
        f'<body class="gw-plain gw-reports" data-kind="{esc(body["kind"])}">{top_bar(user)}'
        f'<main class="gw-page gw-rep">{"".join(parts)}</main>'
        f'<script src="{STATIC}/{PAGE_JS}"></script></body></html>'
    )

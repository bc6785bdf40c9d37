"""Patrol map 巡查图 (/maps/patrols): one day's tracks, and the assigned alleys and streets
coloured as the 日巡 daily report judges them that day (walked share by their own steward or
street chief, patrolled or not), playback of a track over time, and each day's compliance.
The numbers are the report's (:func:`geo.map_data.patrols_of_day` takes them from it).

Playback is a small slider over the track's own timestamps rather than folium's
TimestampedGeoJson: that plugin pulls jQuery, jQuery UI, moment and Leaflet.TimeDimension
from CDNs (four more vendored libraries) for what is a marker moving along one line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geo.map_data import TRACK_DRAW_FIXES, PatrolData
from geo.models import LEVEL_ZH
from geo.report_period import RUNNING_NOTE_EN, RUNNING_NOTE_ZH
from geo.suspect_tracks import flags_said
from geo.track_days import EARLIEST_DAY
from geo.track_history import restored_words
from maps.charts import RATE_COLORS, SO_FAR, compliance_chart, rate_text
from maps.page import add_panel, add_script, base_map, esc, render, title_block
from maps.shell import area_options

# pending: today's duty not done yet, neither failed nor done (the daily report's ``pending``):
# drawn red 未走 it read as missed beside a "100 %" rate before the day was over (T65 F2)
WALKED = {"done": "#2ca02c", "part": "#ff9f1c", "none": "#d62728", "pending": SO_FAR}
# The report's roles, as counted on the map: what each role is judged on.
ROLE_COUNTS = {
    "alley_steward": "小巷管家·小巷 alley stewards' alleys",
    # 街 is a street; 街道 is the subdistrict (the glossary)
    "street_chief": "街巷长·街 street chiefs' streets",
}

# the rate while its day runs. Today's duties not done yet are pending, in no rate, so the
# rate counted only what was done: "达标率 100.0%" at the start of the day beside 5 / 86
# patrolled so far (T71 #17). It is given when the day is over; until then the so-far share.
RUNNING_RATE = "—（今天未结束 the day is not over）"


# what the compliance charts' three kinds of day look like (maps.charts.compliance_chart)
def _swatch(color: str) -> str:
    """A colour square as the legend draws them, before the words it stands for."""
    return f'<span class="gw-swatch" style="background:{color}"></span>'


# the bar colours (T71 #20: yellow was explained nowhere), from the table the bars use
CHART_NOTE = (
    '<p class="gw-note" id="gw-chart-note">每天按当天的责任与日巡报表计算，小巷管家与街巷长分列'
    f"（同日巡报表）。柱色：{_swatch(RATE_COLORS['full'])}绿＝全部巡到（100%），"
    f"{_swatch(RATE_COLORS['half'])}黄＝50% 及以上、不足 100%，"
    f"{_swatch(RATE_COLORS['low'])}红＝低于 50%；"
    "无柱：当天无责任；红色短柱 0%：有责任，无一巡到；蓝色斜纹：今天截至目前已巡占"
    "今天全部责任的比例（虚框为今天全部责任） · each day by that day's duties and daily report, "
    "alley stewards and street chiefs apart (as the report). Bar colours: green 100 %, yellow "
    "50 % to under 100 %, red under 50 %; no bar: no duties that day; a red "
    "stub marked 0%: duties, none patrolled; blue hatched: today so far, the share done of all "
    "today's duties (the dashed box: all of them)</p>"
)

_JS = "gwPatrolMap(map, DATA);"
PAGE_JS = "patrol_map.js"


# Track files straight from the phone (any format POST /tracks reads), and the coordinate
# systems of the apps stewards record with (GCJ-02: most Chinese map apps; BD-09: Baidu).
UPLOAD_FORM = (
    "<h2>上传轨迹 Upload tracks</h2>"
    '<form id="gw-upload" class="gw-note">'
    # no accept= filter: phones know no MIME type for .gpx or .kml and would grey them out
    '<input id="gw-files" type="file" multiple><br>'
    '坐标 coordinates <select id="gw-crs">'
    # Chinese first as the other two (T44 #8): what a phone's own GPS records
    '<option value="wgs84">手机 GPS 原始坐标 GPS (WGS-84)</option>'
    '<option value="gcj02">高德/腾讯 Amap/Tencent (GCJ-02)</option>'
    '<option value="bd09">百度 Baidu (BD-09)</option></select> '
    '<button id="gw-upload-send" class="gw-btn" type="submit">上传 upload</button></form>'
    # how much is sent (patrol_map.js: XMLHttpRequest's upload progress), hidden until then
    '<progress id="gw-upload-progress" max="100" value="0" hidden></progress>'
    '<div id="gw-upload-msg" class="gw-msg" role="status"></div>'
)


def _area_picker(areas: list[dict], chosen: dict | None) -> str:
    """The area filter's select (:func:`maps.shell.area_options`)."""
    return f'<br>区域 area <select name="area">{area_options(areas, chosen)}</select> '


def thinned_note(track: dict) -> str:
    """What the page says of a track drawn from a sample of its day's fixes (``thinned``,
    :func:`geo.map_data._drawn_fixes`): a line that looks coarse is not a coarse walk, and
    the numbers still come from every fix."""
    tid, n = int(track["id"]), int(track["n_points"])
    return (
        f"轨迹 {tid} 当天有 {n:,} 个定位点，过多无法全部绘制：图上的线和回放只用按时间均匀抽取的"
        f"约 {TRACK_DRAW_FIXES:,} 个；覆盖和报表仍按全部定位点计算 "
        f"track {tid} has {n:,} fixes this day, too many to draw: the line and the playback "
        f"use about {TRACK_DRAW_FIXES:,} of them, taken evenly in time; coverage and reports "
        "count every fix"
    )


def flags_note(track: dict) -> str:
    """What the page says of a flagged track: ⚠, the track, whose walk, who uploaded it when
    not the walker, its flags' messages and that it is credited as before: all the Chinese,
    then all the English (T53 N10: each message "zh en" joined read zh en；zh en)."""
    tid = int(track["id"])
    who = f"（{track['person']}）" if track.get("person") else ""
    by = f"，上传人 {track['uploader']}" if track.get("uploader") else ""
    said, said_en = flags_said([str(m) for m in track.get("flags") or []])
    return (
        f"⚠ 轨迹 {tid}{who}{by}：{said}（仍计入巡查，请核实；确属作弊可撤回） "
        f"track {tid}: doubtful, still credited; check it, and withdraw a cheat"
        + (f": {said_en}" if said_en else "")
    )


def restored_note(track: dict, events: list[dict[str, Any]]) -> str:
    """What the page says of a walk withdrawn and restored (evaluators' pages only): the
    track, whose walk, when, by whom and why it was withdrawn and restored, all the Chinese
    then all the English. WHY (T69 #4): drawn as any other walk, nothing told that its
    credit was once taken away."""
    tid = int(track["id"])
    who = f"（{track['person']}）" if track.get("person") else ""
    zh, en = restored_words(events)
    return f"↺ 轨迹 {tid}{who}{zh} track {tid}: {en}"


def person_words(person: dict[str, Any], registry_id: str | None) -> str:
    """The person the page is about, as the people list and the CLI name them: 李静（DEMO0002）.
    WHY (T71 #34): 「李静 (#2)」 gave the system id, which means nothing to a steward; only a
    person without a registry id falls back to it, said as such."""
    ident = esc(registry_id) if registry_id else f"系统编号 id:{int(person['id'])}"
    return f"{esc(person['name'])}（{ident}）"


def headline(n_all: int, done: int, pending: int) -> str:
    """The panel's first count line: every duty of the view, patrolled and (today) pending.
    No rate: the daily report gives stewards' and street chiefs' rates apart, and the 57 %
    of both together the page gave was in no report (T65 F7); the lines per role carry the
    rates. Today with duties pending, it is what is done so far of all that is due: the
    rate alone (pending left out) read 100 % beside 49 alleys still to walk (T65 F2)."""
    if not pending:
        return (
            f'<p class="gw-note">责任街巷 assigned alleys/streets: <b id="gw-alleys">{n_all}</b>，'
            f'已巡 patrolled: <b id="gw-done">{done}</b></p>'
        )
    return (
        f'<p class="gw-note" id="gw-so-far">责任街巷 assigned alleys/streets: '
        f'<b id="gw-alleys">{n_all}</b>；今天截至目前已巡 patrolled so far today: '
        f'<b id="gw-done">{done}</b> / {n_all}（{rate_text(done, n_all)}）；待巡 pending: '
        f'<b id="gw-pending">{pending}</b>（{RUNNING_NOTE_ZH} {RUNNING_NOTE_EN}）</p>'
    )


def role_line(role: str, alleys: int, done: int, pending: int) -> str:
    """One role's line, with the rate its rows of the daily report give (one decimal, as its
    XLSX: 62.5 %, not 62 %: T65 F7): patrolled / (duties − pending). Today with duties
    pending, what is done so far of all due, and a dash for the rate: pending left out, it
    counted only what was done and read 100.0 % beside 5 / 86 (T71 #17)."""
    label = esc(ROLE_COUNTS.get(role, role))
    if pending:
        # the so-far share first; no rate until the day is over (T71 #17)
        counts = (
            f'截至目前已巡 so far <b class="gw-num">{done}</b> / <b class="gw-num">{alleys}</b>'
            f'（<b class="gw-so-far">{rate_text(done, alleys)}</b>），待巡 pending {pending}；'
            f'达标率 compliance <b class="gw-rate">{RUNNING_RATE}</b>'
        )
    else:
        rate = f'达标率 compliance <b class="gw-rate">{rate_text(done, alleys - pending)}</b>'
        counts = (
            f'已巡 patrolled <b class="gw-num">{done}</b> / <b class="gw-num">{alleys}</b>，{rate}'
        )
    return f'<div class="gw-role" data-role="{esc(role)}">{label}: {counts}</div>'


def role_charts(compliance: list[dict[str, Any]], roles: list[str]) -> str:
    """The compliance chart of each role with a duty on a day of the chart (alley stewards'
    alleys, street chiefs' streets), each day's bar from that day's report: one chart of
    both together drew a rate no report has (T65 F7: 57 % where the report gives 66.3 %
    and 0 %). No duty on any day: one empty chart."""
    held = [r for r in roles if any(c["roles"].get(r, {}).get("alleys") for c in compliance)]
    days = [c["day"] for c in compliance]
    if not held:
        return compliance_chart(days, [0] * len(days), [0] * len(days))
    out = []
    for role in held:
        counts = [c["roles"].get(role, {}) for c in compliance]
        out.append(
            f'<p class="gw-note gw-chart-role" data-role="{esc(role)}">'
            f"<b>{esc(ROLE_COUNTS.get(role, role))}</b></p>"
            + compliance_chart(
                days,
                [int(k.get("patrolled", 0)) for k in counts],
                [int(k.get("alleys", 0)) for k in counts],
                [int((c.get("pending_roles") or {}).get(role, 0)) for c in compliance],
                key=role,
            )
        )
    return "".join(out)


def build_patrol_map(
    data: PatrolData,
    bounds: tuple[float, float, float, float],
    tile_url: str | None = None,
    tz: str = "Asia/Shanghai",
    upload: bool = False,
    today: dt.date | None = None,
    user: str | None = None,
    areas: list[dict] | None = None,
    latest: bool = False,
    restored: dict[int, list[dict[str, Any]]] | None = None,
    registry_id: str | None = None,
) -> str:
    """The patrol map page as HTML; ``upload`` adds the form that uploads track files from a
    phone or PC (POST /tracks) for those allowed to; ``today`` (the city's) is the last day
    the date input offers (a later one is refused); ``areas`` (code, name, level) fill the
    area picker, the filter ``data.area`` chose selected. ``latest``: no day was asked for
    and the page opened on the latest day with patrols (said when it is not today).
    ``restored``: the withdrawals and restores of the day's walks that were withdrawn and
    restored (:func:`geo.track_history.restored_walks`; evaluators' pages), each said.
    ``registry_id``: the 人员编号 of ``data.person``, the id the panel names them by."""
    restored = restored or {}
    m = base_map(bounds, "巡查图 patrol map", tile_url, page_js=PAGE_JS)
    n_all = sum(c["alleys"] for c in data.counts.values())
    done = sum(c["patrolled"] for c in data.counts.values())
    who = person_words(data.person, registry_id) if data.person else "全部人员 everyone"
    where = (
        f"{esc(data.area['name'] or '')} {LEVEL_ZH.get(str(data.area['level']), '')} "
        f"{esc(data.area['code'])}"
        if data.area
        else "全市 whole city"
    )
    options = "".join(
        f'<option value="{int(t["id"])}">{"⚠ " if t.get("flags") else ""}轨迹 track {int(t["id"])}'
        f"{' · ' + esc(t['person']) if t['person'] else ''}"
        f"{' · 上传人 uploaded by ' + esc(t['uploader']) if t.get('uploader') else ''}"
        f"{' · 已抽稀 thinned' if t.get('thinned') else ''}"
        f"{' · 曾撤回 once withdrawn' if int(t['id']) in restored else ''}</option>"
        for t in data.tracks
    )
    # a walk withdrawn and restored: when, by whom, why (T69 #4), as text under the list
    once_withdrawn = "".join(
        f'<p class="gw-note gw-restored" data-track="{int(t["id"])}">'
        f"{esc(restored_note(t, restored[int(t['id'])]))}</p>"
        for t in data.tracks
        if int(t["id"]) in restored
    )
    # the flags of each doubtful walk, as text under the list (T52 #12): only in an
    # evaluator's data (patrols_of_day(flags=True)), never on a steward's own page
    flagged = "".join(
        f'<p class="gw-note gw-flags" data-track="{int(t["id"])}">{esc(flags_note(t))}</p>'
        for t in data.tracks
        if t.get("flags")
    )
    # a track too long to draw whole (a week-long recording) is drawn from a sample: said
    thinned = "".join(
        f'<p class="gw-note gw-thinned" data-track="{int(t["id"])}">{esc(thinned_note(t))}</p>'
        for t in data.tracks
        if t.get("thinned")
    )
    playback = (
        (
            f'<select id="gw-track">{options}</select><br>'
            '<button id="gw-play" class="gw-btn" type="button">▶ 播放 play</button> '
            '<input id="gw-time" type="range" min="0" max="0" value="0" style="width:60%"> '
            '<span id="gw-clock" class="gw-num"></span>'
        )
        if data.tracks
        else '<p class="gw-note">当日无轨迹 no tracks this day</p>'
    )
    legend = "".join(
        f'<div><span class="gw-swatch" style="background:{WALKED[k]}"></span>{label}</div>'
        for k, label in (
            ("done", f"已巡 patrolled (≥ {data.threshold:.0%})"),
            ("part", "部分走过 partly walked"),
            # the hover's word first, the colour's meaning beside it (T71 #34)
            ("none", "未巡（未走）not walked"),
        )
    ) + (
        # dashed as the lines are (patrol_map.js): today's duties not done yet
        '<div id="gw-legend-pending"><span class="gw-swatch" style="background:'
        f"repeating-linear-gradient(90deg, {WALKED['pending']} 0 5px, transparent 5px 8px)"
        '"></span>待巡 pending（今天尚未完成，不计入达标率 not done yet today, in no rate）</div>'
        if data.pending
        else ""
    )
    by_role = "".join(
        role_line(role, c["alleys"], c["patrolled"], data.pending_roles.get(role, 0))
        for role, c in sorted(data.counts.items())
    )
    panel = (
        title_block("巡查图", "Patrols")
        + f'<form method="get" class="gw-note">日期 date <input name="date" type="date" '
        f'value="{data.day.isoformat()}" min="{EARLIEST_DAY.isoformat()}" '
        f'max="{(today or data.day).isoformat()}"> '
        # the people.id as id:N: ?person= takes registry ids too, and a bare number that is
        # also someone's 人员编号 named two people (admin: 422; the steward herself: 403) (T39 M3)
        + (
            f'<input name="person" type="hidden" value="id:{int(data.person["id"])}">'
            if data.person
            else ""
        )
        + _area_picker(areas or [], data.area)
        + '<button class="gw-btn" type="submit">查看 show</button></form>'
        + (
            f'<p class="gw-note" id="gw-latest">今天（{today.isoformat()}）尚无巡查，显示最近'
            f"有巡查的一天 {data.day.isoformat()} no patrols yet today ({today.isoformat()}): "
            f"showing the latest day with patrols, {data.day.isoformat()}</p>"
            if latest and today is not None and data.day != today
            else ""
        )
        + f'<p class="gw-note">人员 person：{who}；区域 area：<b id="gw-area">{where}</b></p>'
        + (
            '<p class="gw-note" id="gw-none-here">此人在本区域无责任街巷 '
            "this person holds no alley or street in this area</p>"
            if data.person and data.area and not n_all
            else ""
        )
        + headline(n_all, done, data.pending)
        + (f'<div class="gw-note gw-roles">{by_role}</div>' if by_role else "")
        + '<p class="gw-note">按日巡报表口径：只算责任人自己走过的长度 · as the daily report: '
        "only the assigned steward's or chief's own walking counts</p>"
        + (
            '<p class="gw-note">共管街巷：整条街巷已巡且本人走到应分的一份（达标线÷责任人数）'
            "才计入本人；图上为本人所走 · shared alleys: this person is credited only when the "
            "alley is patrolled and they walked their own part (share ÷ holders); the map "
            "shows their own walking</p>"
            if data.person
            else ""
        )
        + f'<h2>图例 Legend</h2><div class="gw-legend">{legend}</div>'
        + "<h2>回放 Playback</h2>"
        # a busy day draws only the latest tracks, and says so (T44 #3)
        + (
            f'<p class="gw-note" id="gw-tracks-note">{esc(data.tracks_note)}</p>'
            if data.tracks_note
            else ""
        )
        + playback
        + flagged
        + once_withdrawn
        + thinned
        + "<h2>达标率 Compliance</h2>"
        + role_charts(data.compliance, list(ROLE_COUNTS))
        + CHART_NOTE
        + (UPLOAD_FORM if upload else "")
    )
    add_panel(m, panel, user)
    add_script(
        m,
        _JS,
        {
            "alleys": data.alleys,
            "tracks": data.tracks,
            "threshold": data.threshold,
            "colors": WALKED,
            "tz": tz,
            # one person's day: the tooltips say their own walking beside the alley's
            "person": bool(data.person),
            # an admin or planner viewing one steward's day uploads in that steward's name
            "uploadPerson": int(data.person["id"]) if upload and data.person else None,
        },
    )
    return render(m)

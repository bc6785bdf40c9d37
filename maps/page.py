"""The skeleton every map page shares: a folium map with local assets, an optional basemap,
a side panel, page data handed to JavaScript safely, and the page's own script.

Why not folium's defaults: folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs,
which do not load offline (offices, CI). Every page here loads only files served by the app
under ``/maps/static`` (vendored by ``maps/vendor_assets.py``), and the basemap is drawn only
when a tile URL is configured; the vector layers never need it.
"""

from __future__ import annotations

import json
from typing import Any

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from maps.shell import STATIC, esc, top_bar  # esc: the pages import it from here

LEAFLET_JS = [("leaflet", f"{STATIC}/vendor/leaflet/leaflet.js")]
LEAFLET_CSS = [
    ("leaflet_css", f"{STATIC}/vendor/leaflet/leaflet.css"),
    ("gridward_css", f"{STATIC}/gridward.css"),
]
DRAW_JS = [("leaflet_draw_js", f"{STATIC}/vendor/leaflet-draw/leaflet.draw.js")]
DRAW_CSS = [("leaflet_draw_css", f"{STATIC}/vendor/leaflet-draw/leaflet.draw.css")]
PANEL_WIDTH = 34  # per cent of the page, beside the map
# Leaflet's controls as the users read them (T71 #11): its zoom buttons said "Zoom in" /
# "Zoom out" only and its scale bar gave feet under the metres ("100 m" over "500 ft"), which
# no Chinese office measures in. Chinese-first titles, a metric bar written in 米 / 公里, and
# the attribution's tooltip in Chinese too. (The layer list's "Layers": gridward.js.)
LEAFLET_CONTROLS_JS = (
    'L.control.zoom({zoomInTitle: "放大 Zoom in", zoomOutTitle: "缩小 Zoom out"}).addTo({map});\n'
    "(new (L.Control.Scale.extend({_updateMetric: function (maxMeters) {\n"
    "  var m = this._getRoundNum(maxMeters);\n"
    '  this._updateScale(this._mScale, m < 1000 ? m + " 米" : m / 1000 + " 公里", m / maxMeters);\n'
    "}}))({imperial: false, metric: true})).addTo({map});\n"
    "if ({map}.attributionControl) {map}.attributionControl.setPrefix("
    # no link: a page names no outside host but the tiles (offline intranets; test_maps_pages)
    "'<span title=\"Leaflet：交互式地图程序库 "
    "a JavaScript library for interactive maps\">Leaflet</span>');"
)


def js_data(value: Any) -> str:
    """JSON safe to place inside a <script> element: '<', '>' and '&' are escaped, so no
    string (a name like ``</script><script>…``) can end the element."""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


class Html(Element):
    """A piece of HTML placed in the page as it is.

    WHY not ``branca.element.Element(html)``: branca compiles its argument as a Jinja
    template, so a person's or an area's name inside it (``{{ … }}``) ran as template code on
    the server when the page was drawn: commands as the server's user, script in other
    people's browsers, a 500 for everyone (outside tester T42, HIGH). Here the template is a
    constant and the HTML only its variable, never compiled."""

    _template = Template("{{ this.html }}")

    def __init__(self, html: str) -> None:
        super().__init__()
        self._name = "GridwardHtml"
        self.html = html


class _Script(MacroElement):
    """A script run after the map exists; ``{map}`` in the code names the Leaflet map.

    WHY its own ``render``: branca's ``MacroElement.render`` wraps the macro's output in an
    ``Element``, compiling it as a template, and the code holds the page's data (names): the
    same hole as in :class:`Html` (T42). The code goes into the page's script as it is."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "GridwardScript"
        self.code = code

    def render(self, **kwargs: Any) -> None:
        self.get_root().script.add_child(Html(self.code), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


def base_map(
    bounds: tuple[float, float, float, float],
    title: str,
    tile_url: str | None,
    tile_attribution: str | None = None,
    page_js: str | None = None,
) -> folium.Map:
    """A folium map fitted to ``bounds`` (minlon, minlat, maxlon, maxlat), local assets only,
    the basemap only when ``tile_url`` is set, room on the right for the side panel, and the
    page's own script ``page_js`` (a file in maps/static)."""
    minx, miny, maxx, maxy = bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=15,
        tiles=None,
        width=f"{100 - PANEL_WIDTH}%",
        # Leaflet's own zoom and scale controls speak English and feet; the page adds its
        # own (LEAFLET_CONTROLS_JS) instead
        control_scale=False,
        zoom_control=False,
        prefer_canvas=False,
        # fits land between whole zoom levels: on a phone's narrow map a whole level is
        # often the difference between the city filling the map and half of it
        zoom_snap=0.25,
    )
    m.default_js = list(LEAFLET_JS)
    m.default_css = list(LEAFLET_CSS)
    if tile_url:
        folium.TileLayer(
            tiles=tile_url,
            attr=tile_attribution or "basemap 底图",
            name="底图 basemap",
            overlay=False,
            control=False,
            # the pages' Referrer-Policy is same-origin; a tile service whose key is bound
            # to a domain (天地图 and most Chinese providers) checks the Referer, so tiles
            # alone send this site's origin (never its paths or queries)
            referrer_policy="strict-origin-when-cross-origin",
        ).add_to(m)
    # fitted at once, not animated: Leaflet drops a fit asked for while a zoom animation
    # runs, so the page's own fit (to what it draws) was lost on a phone and the page
    # opened a zoom level out, the city in a third of the map (tester)
    m.add_child(_Script(LEAFLET_CONTROLS_JS.replace("{map}", m.get_name())))
    fit = js_data([[miny, minx], [maxy, maxx]])
    m.add_child(_Script(f"{m.get_name()}.fitBounds({fit}, {{animate: false}});"))
    root = m.get_root()
    root.header.add_child(Html(f"<title>{esc(title)}</title>"), name="title")
    root.header.add_child(
        Html('<link rel="icon" href="data:,">'), name="favicon"
    )  # no /favicon.ico request, so no 404 in the browser console
    for js in ("gridward.js", page_js):
        if js:
            root.header.add_child(Html(f'<script src="{STATIC}/{js}"></script>'), name=js)
    return m


def add_panel(m: folium.Map, inner_html: str, user: str | None = None) -> None:
    """The side panel beside the map (title, legend, charts, controls), under the bar with
    the map index and 退出 sign out (``user``: the name signed in, shown in the bar)."""
    m.get_root().html.add_child(
        Html(
            f'<aside id="gw-panel" class="gw-panel" style="width:{PANEL_WIDTH}%">'
            f"{top_bar(user)}{inner_html}</aside>"
        )
    )


def add_script(m: folium.Map, code: str, data: dict[str, Any] | None = None) -> None:
    """Run ``code`` once the map exists, with ``map`` (the Leaflet map) and ``DATA`` bound."""
    body = (
        "(function(){\n"
        f"var map = {m.get_name()};\nwindow.gwMap = map;\n"
        f"var DATA = {js_data(data or {})};\n"
        f"{code}\n}})();"
    )
    m.add_child(_Script(body))


def render(m: folium.Map) -> str:
    """The page as one HTML string."""
    return m.get_root().render()


def title_block(zh: str, en: str, note: str = "") -> str:
    """Panel header: Chinese first, English second."""
    extra = f'<p class="gw-note">{note}</p>' if note else ""
    return f'<h1>{esc(zh)} <span class="gw-en">{esc(en)}</span></h1>{extra}'

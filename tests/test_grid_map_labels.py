"""The grid map's labels (/maps/grids), built on the server: every grid is labelled alike.

T38 L15: the page read 「清华园东北 005」 and then bare 006, 007, 008 of the same community:
the community's short name went only before a grid number that repeated on the map. Now on
a map of several communities every label is short name + number, on one community's map
every label is the number; the panel says what a label is, the hover names the community.
"""

from __future__ import annotations

import json
import re

from maps.grid_map import build_grid_map, grid_labels

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [0.001, 0], [0.001, 0.001], [0, 0]]]}
COMMUNITIES = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "geometry": SQUARE, "properties": {"code": c, "name": n}}
        for c, n in (("110108015001", "清华园西北社区"), ("110108015002", "清华园东北社区"))
    ],
}


def _grids(*codes: str) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": SQUARE,
                "properties": {"code": c, "community": c[:12], "households": 400},
            }
            for c in codes
        ],
    }


def _page(grids: dict) -> tuple[str, dict]:
    html = build_grid_map(grids, (0, 0, 0.001, 0.001), 300, 500, communities=COMMUNITIES)
    m = re.search(r"var DATA = (\{.*?\});\n", html, re.S)
    assert m, "no DATA on the page"
    return html, json.loads(m.group(1))


def test_every_grid_of_a_map_of_several_communities_has_its_community() -> None:
    grids = _grids(
        "110108015001001", "110108015002001", "110108015002005", "110108015002006",
        "110108015002007",
    )  # fmt: skip
    html, data = _page(grids)
    labels = {f["properties"]["code"]: f["properties"]["label"] for f in data["grids"]["features"]}
    assert labels == {
        "110108015001001": "西北 001",
        "110108015002001": "东北 001",
        "110108015002005": "东北 005",
        "110108015002006": "东北 006",  # was a bare 006: 005 repeated elsewhere, 006 did not
        "110108015002007": "东北 007",
    }
    names = {f["properties"]["community_name"] for f in data["grids"]["features"]}
    assert names == {"清华园西北社区", "清华园东北社区"}  # the hover's full name
    note = re.search(r'<p id="gw-label-note"[^>]*>(.*?)</p>', html, re.S)
    assert note and note.group(1).startswith(
        "网格标注：社区简称和网格编号（编码末 3 位），如“西北 001”"
    )
    assert "hover for the full code and community" in note.group(1)


def test_one_communitys_map_labels_every_grid_by_its_number() -> None:
    html, data = _page(_grids("110108015002005", "110108015002006"))
    assert [f["properties"]["label"] for f in data["grids"]["features"]] == ["005", "006"]
    note = re.search(r'<p id="gw-label-note"[^>]*>(.*?)</p>', html, re.S)
    assert note and "均属社区 清华园东北社区" in note.group(1), html


def test_a_grid_whose_community_has_no_outline_keeps_its_full_code() -> None:
    labels = grid_labels(_grids("110108015001001", "110108015009001"), {"110108015001": "西北"})
    assert labels == {"110108015001001": "西北 001", "110108015009001": "110108015009001"}


def test_the_map_script_takes_the_servers_label() -> None:
    from pathlib import Path

    js = (Path(__file__).resolve().parents[1] / "maps/static/grid_map.js").read_text()
    assert "function label(p) { return p.label || p.code; }" in js
    assert "seen[n] > 1" not in js  # the rule that named repeated numbers only


def test_a_bent_grids_label_point_is_inside_it_where_its_box_centre_is_not() -> None:
    """T65 F3: the label went to the bounding box's centre, which lies outside an L- or
    U-shaped grid (in the neighbour it wraps round): now the centre of its widest circle."""
    from shapely.geometry import Point, shape

    from maps.grid_map import label_point, label_spots

    ell = [[116, 40], [116.003, 40], [116.003, 40.0005], [116.0005, 40.0005], [116.0005, 40.003]]
    you = [[116, 40], [116.003, 40], [116.003, 40.003], [116.0025, 40.003], [116.0025, 40.0005]]
    you += [[116.0005, 40.0005], [116.0005, 40.003], [116, 40.003]]
    for ring in (ell + [[116, 40.003]], you):
        poly = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        geom = shape(poly)
        assert not geom.contains(geom.envelope.centroid)
        lat, lon = label_point(poly)
        assert geom.contains(Point(lon, lat))
        # a community's name: every spot it may take is inside, the first is the label point
        spots = label_spots(poly)
        assert spots[0] == [lat, lon] and len(spots) > 3
        assert all(geom.contains(Point(x, y)) for y, x in spots)

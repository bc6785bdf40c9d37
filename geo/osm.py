"""Read OpenStreetMap files (XML ``.osm`` and PBF ``.osm.pbf``) into GeoDataFrames.

Pure reading, no database: the importer stores what this returns. pyosmium does the parsing
(one streaming pass, C++), node-location caching and multipolygon-relation assembly; the way
geometries are built here with vectorised shapely from the cached coordinates so that every
closed ``building=*`` way yields a footprint (osmium's assembler silently drops invalid rings;
we repair them with ``make_valid`` instead, so no building goes missing).

What is read (WHY each choice):

* ``ways`` — the walkable ``highway=*`` ways (see :func:`geo.network.is_walkable`): the
  network stewards patrol. Node ids are kept so segments can be split at shared nodes.
  Nodes whose location is missing from the file (cut extracts) are dropped from the way;
  ways left with fewer than two distinct nodes are skipped.
* ``buildings`` — closed ``building=*`` ways (``building=no`` is not a building) and
  ``type=multipolygon`` relations with a ``building`` tag. ``type=building`` relations
  (3D building groupings) are not footprints and are skipped.
* ``compounds`` — ``landuse=residential`` closed ways and multipolygon relations (小区).

Building use: a plain ``building=yes`` says nothing about who lives there, and the household
estimate gives it half a residential building's share. Where OSM says more, its
``building_type`` is that use, so the estimate gives it no households (a use is not in the
residential table):

* its own tags: ``amenity``, ``tourism``, ``healthcare`` or ``leisure`` (the value:
  ``kindergarten``, ``restaurant``, ``hotel``, ``fitness_centre``), ``shop`` (``retail``),
  ``office`` (``office``), ``sport`` (``sports_hall``); WHY leisure and sport (T70 #5): a
  campus's 体育馆 tagged leisure=fitness_centre was given 272 households;
* else the area it stands in (inner point): ``amenity`` = kindergarten, school, hospital,
  clinic, police, fire_station, townhall, courthouse, prison, place_of_worship,
  research_institute or marketplace, or ``landuse`` = commercial, retail, industrial,
  military or railway. Universities and colleges are left out on purpose: Beijing campuses
  (大院) hold staff housing tagged ``building=yes``. Such a building is marked ``campus``
  instead (unless its name says homes: 学生公寓, 宿舍, :data:`HOME_WORDS`), so that the import
  names the largest of their estimates to be checked (T70 #5: a library, Teaching Building 3
  and three 教学楼 were estimated as homes, and the planner had to find them by name).

A building tagged ``residential``, ``apartments`` and so on keeps its type whatever else it
carries (flats over a ground-floor shop).

Household tags: ``households_tag`` is the first integer found in ``households``, then
``addr:households``, then ``building:flats`` (all three count dwellings). ``units_tag`` (单元,
stairwell entrances) comes from ``building:units``, then ``units``. Unparseable values
("约100", "10-20") give <NA> rather than a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import osmium.filter
import pandas as pd
import shapely

from geo.errors import InputError
from geo.network import is_walkable

WGS84 = "EPSG:4326"
_UNDEFINED = 2147483647  # libosmium's undefined fixed-point coordinate (missing node)
HOUSEHOLD_TAGS = ("households", "addr:households", "building:flats")
UNIT_TAGS = ("building:units", "units")
_INT_RE = re.compile(r"^\s*(\d+)\s*$")
_NUM_RE = re.compile(r"\d+(?:\.\d+)?")
#: a building=yes's own tags naming its use: key → the use written (None: the tag's value)
USE_KEYS: dict[str, str | None] = {
    "amenity": None,
    "tourism": None,
    "healthcare": None,
    "leisure": None,
    "shop": "retail",
    "office": "office",
    "sport": "sports_hall",
}
#: words of a name that say homes (学生公寓, 教工宿舍, 家属楼): a building so named is explained
HOME_WORDS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("公寓", "宿舍", "住宅", "家属", "小区", "住房", "新村", "公馆", "寓所"),
    ("dorm", "dorms", "dormitory", "dormitories", "apartment", "apartments", "residence",
     "residences", "residential", "housing", "flats", "homes"),
)  # fmt: skip
NAME_KEYS = ("name", "name:zh", "name:en")
#: the grounds whose buildings=yes stay homes but are marked ``campus`` (see the docstring)
CAMPUS_AMENITY = frozenset({"university", "college"})
#: areas whose buildings=yes are not dwellings (see the module docstring for why not campuses)
NONRESIDENTIAL_AMENITY = frozenset(
    {
        "kindergarten",
        "school",
        "hospital",
        "clinic",
        "police",
        "fire_station",
        "townhall",
        "courthouse",
        "prison",
        "place_of_worship",
        "research_institute",
        "marketplace",
    }
)
NONRESIDENTIAL_LANDUSE = frozenset({"commercial", "retail", "industrial", "military", "railway"})


@dataclass
class OsmLayers:
    """The layers gridward takes from one OSM file, all in EPSG:4326."""

    ways: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    bounds: tuple[float, float, float, float] | None


def _sniff_format(path: Path) -> str:
    """Format from the content, not the name (uploads arrive under temporary names)."""
    with path.open("rb") as fh:
        head = fh.read(64)
    if head[:2] == b"\x1f\x8b":
        return "osm.gz"
    if head[:3] == b"BZh":
        return "osm.bz2"
    if len(head) >= 8 and b"OSMHeader" in head[:32]:
        return "pbf"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "osm"
    raise InputError(
        f"文件 {path.name} 不是 OSM 文件（应为 OSM XML 或 PBF） "
        f"{path.name} is not an OSM file (expected OSM XML or PBF)"
    )


def _first_int(tags: dict[str, str], keys: tuple[str, ...]) -> int | None:
    for k in keys:
        v = tags.get(k)
        if v is not None:
            m = _INT_RE.match(v)
            if m:
                return int(m.group(1))
    return None


def parse_levels(value: str | None) -> float:
    """``building:levels`` as a number: the largest number in the value ("3;6" -> 6), NaN if
    none or not positive (0 levels is a tagging error, not a fact)."""
    if not value:
        return math.nan
    nums = [float(x) for x in _NUM_RE.findall(value)]
    if not nums or max(nums) <= 0:
        return math.nan
    return max(nums)


def building_use(tags: dict[str, str]) -> str | None:
    """What a ``building=yes`` is used for, from its own tags (None: not said)."""
    for key, written in USE_KEYS.items():
        v = tags.get(key)
        if v and v.strip() and v.strip() != "no":
            return written or v.strip()
    return None


def _words_re(words: tuple[str, ...]) -> re.Pattern[str]:
    """English words as whole words, any case ("Teaching Building 3", not "Labrador")."""
    return re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)


_HOME_RE = (HOME_WORDS[0], _words_re(HOME_WORDS[1]))


def _says_homes(names: list[str | None]) -> bool:
    """Whether a building's names say it holds homes (:data:`HOME_WORDS`)."""
    text = " ".join(n.strip() for n in names if n and n.strip())
    zh, en = _HOME_RE
    return any(w in text for w in zh) or en.search(text) is not None


def campus_area(tags: Any) -> bool:
    """Whether an area is a university's or college's grounds (not a building)."""
    return tags.get("building", "no") == "no" and tags.get("amenity") in CAMPUS_AMENITY


def area_use(tags: Any) -> str | None:
    """The use of a non-residential area (a school's grounds), None for any other area."""
    if tags.get("building", "no") != "no":
        return None
    amenity = tags.get("amenity")
    if amenity in NONRESIDENTIAL_AMENITY:
        return amenity
    landuse = tags.get("landuse")
    return landuse if landuse in NONRESIDENTIAL_LANDUSE else None


def _name(tags: dict[str, str]) -> str | None:
    v = tags.get("name") or tags.get("name:zh")
    return v.strip() if v and v.strip() else None


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Make polygons valid and keep only their areal part (make_valid may add lines)."""
    geoms = np.asarray(geoms, dtype=object)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        fixed = shapely.make_valid(geoms[bad])
        out = []
        for g in fixed:
            if g.geom_type in ("Polygon", "MultiPolygon"):
                out.append(g)
                continue
            parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
            out.append(shapely.union_all(parts) if parts else shapely.Polygon())
        repaired = np.empty(len(out), dtype=object)  # not np.array(out): keep the geometries
        repaired[:] = out
        geoms = geoms.copy()
        geoms[bad] = repaired
    return geoms


class _Collector:
    """Accumulates flat arrays during the single pass over the file."""

    def __init__(self) -> None:
        self.hw_rows: list[tuple[int, str, str | None]] = []
        self.hw_nodes: list[tuple[int, ...]] = []
        self.hw_x: list[tuple[int, ...]] = []
        self.hw_y: list[tuple[int, ...]] = []
        self.bw_rows: list[dict] = []  # building ways
        self.bw_x: list[tuple[int, ...]] = []
        self.bw_y: list[tuple[int, ...]] = []
        self.cw_rows: list[dict] = []  # compound ways
        self.cw_x: list[tuple[int, ...]] = []
        self.cw_y: list[tuple[int, ...]] = []
        self.uw_use: list[str] = []  # non-residential area ways (a school's grounds)
        self.uw_x: list[tuple[int, ...]] = []
        self.uw_y: list[tuple[int, ...]] = []
        self.campus_x: list[tuple[int, ...]] = []  # university and college grounds
        self.campus_y: list[tuple[int, ...]] = []
        self.rel_rows: list[dict] = []  # assembled multipolygon relations
        self.rel_wkb: list[bytes] = []
        self.wkb = osmium.geom.WKBFactory()

    def way(self, w: osmium.osm.Way) -> None:
        t = w.tags  # targeted look-ups: copying every tag list to a dict costs ~20 µs a way
        nodes = w.nodes
        hw = t.get("highway")
        if hw is not None:
            small = {"highway": hw, "area": t.get("area"), "foot": t.get("foot")}
            if is_walkable(small):
                name = _name({"name": t.get("name"), "name:zh": t.get("name:zh")})
                self.hw_rows.append((w.id, hw, name))
                # one pass over the node refs: building each NodeRef object is the costly part
                refs, xs, ys = zip(*[(n.ref, n.x, n.y) for n in nodes], strict=True)
                self.hw_nodes.append(refs)
                self.hw_x.append(xs)  # fixed-point 1e-7°, undefined if the node is missing
                self.hw_y.append(ys)
        is_building = t.get("building", "no") != "no"
        is_compound = t.get("landuse") == "residential"
        use = None if is_building or is_compound else area_use(t)
        campus = not (is_building or is_compound or use) and campus_area(t)
        closed = len(nodes) >= 4 and nodes[0].ref == nodes[-1].ref
        if (is_building or is_compound or use or campus) and closed:
            xs, ys = zip(*[(n.x, n.y) for n in nodes], strict=True)
            if _UNDEFINED in xs:
                return  # an incomplete ring cannot be a footprint
            if campus:
                self.campus_x.append(xs)
                self.campus_y.append(ys)
                return
            if use:
                self.uw_use.append(use)
                self.uw_x.append(xs)
                self.uw_y.append(ys)
                return
            tags = dict(t)
            row = {"osm_id": w.id, "osm_type": "way", "tags": tags}
            if is_building:
                self.bw_rows.append(row)
                self.bw_x.append(xs)
                self.bw_y.append(ys)
            if is_compound:
                self.cw_rows.append(row)
                self.cw_x.append(xs)
                self.cw_y.append(ys)

    def area(self, a: osmium.osm.Area) -> None:
        if a.from_way():
            return  # closed ways are built in way(), including invalid ones
        tags = dict(a.tags)
        if (
            tags.get("building", "no") == "no"
            and tags.get("landuse") != "residential"
            and area_use(tags) is None
            and not campus_area(tags)
        ):
            return
        try:
            wkb = self.wkb.create_multipolygon(a)
        except RuntimeError:
            return  # relation could not be assembled (members missing from the file)
        self.rel_rows.append({"osm_id": a.orig_id(), "osm_type": "relation", "tags": tags})
        self.rel_wkb.append(bytes.fromhex(wkb) if isinstance(wkb, str) else wkb)


def _rings_to_polygons(xs: list[tuple[int, ...]], ys: list[tuple[int, ...]]) -> np.ndarray:
    if not xs:
        return np.array([], dtype=object)
    counts = np.fromiter((len(x) for x in xs), dtype=np.int64, count=len(xs))
    coords = np.column_stack(
        [
            np.fromiter((v for x in xs for v in x), dtype=np.float64) / 1e7,
            np.fromiter((v for y in ys for v in y), dtype=np.float64) / 1e7,
        ]
    )
    idx = np.repeat(np.arange(len(xs)), counts)
    rings = shapely.linearrings(coords, indices=idx)
    return polygonal(shapely.polygons(rings))


def _ways_frame(c: _Collector) -> gpd.GeoDataFrame:
    cols = ["osm_id", "highway", "name", "node_ids"]
    if not c.hw_rows:
        return gpd.GeoDataFrame(
            {k: pd.Series(dtype="int64" if k == "osm_id" else object) for k in cols},
            geometry=gpd.GeoSeries([], crs=WGS84),
            crs=WGS84,
        )
    # one flat array of all vertices (vectorised: a per-way numpy loop costs ~20 µs a way)
    counts = np.fromiter((len(x) for x in c.hw_nodes), dtype=np.int64, count=len(c.hw_nodes))
    way_of = np.repeat(np.arange(len(counts)), counts)
    ids = np.fromiter((v for x in c.hw_nodes for v in x), dtype=np.int64, count=counts.sum())
    xs = np.fromiter((v for x in c.hw_x for v in x), dtype=np.int64, count=counts.sum())
    ys = np.fromiter((v for x in c.hw_y for v in x), dtype=np.int64, count=counts.sum())
    keep = xs != _UNDEFINED  # nodes missing from the file (cut extracts)
    ids, xs, ys, way_of = ids[keep], xs[keep], ys[keep], way_of[keep]
    # drop consecutive repeats of a node within a way (a tagging glitch)
    rep = np.zeros(len(ids), bool)
    rep[1:] = (ids[1:] == ids[:-1]) & (way_of[1:] == way_of[:-1])
    ids, xs, ys, way_of = ids[~rep], xs[~rep], ys[~rep], way_of[~rep]
    # with no consecutive repeats, two vertices mean two distinct nodes
    per_way = np.bincount(way_of, minlength=len(counts))
    ok_way = per_way >= 2
    if not ok_way.any():
        c.hw_rows = []
        return _ways_frame(c)
    v_ok = ok_way[way_of]
    ids, xs, ys, way_of = ids[v_ok], xs[v_ok], ys[v_ok], way_of[v_ok]
    kept = np.flatnonzero(ok_way)
    coords = np.column_stack([xs / 1e7, ys / 1e7])
    _, dense = np.unique(way_of, return_inverse=True)
    lines = shapely.linestrings(coords, indices=dense)
    node_lists = [a.tolist() for a in np.split(ids, np.cumsum(per_way[kept])[:-1])]
    rows = [c.hw_rows[i] for i in kept]
    df = pd.DataFrame(
        {
            "osm_id": pd.Series([r[0] for r in rows], dtype="int64"),
            "highway": pd.Series([r[1] for r in rows], dtype=object),
            "name": pd.Series([r[2] for r in rows], dtype=object),  # None, not NaN
            "node_ids": pd.Series(node_lists, dtype=object),
        }
    )
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(lines, crs=WGS84), crs=WGS84)


def _area_rows(rows: list[dict], geoms: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "source_key": [
                f"osm:{'w' if r['osm_type'] == 'way' else 'r'}{r['osm_id']}" for r in rows
            ],
            "osm_id": pd.Series([r["osm_id"] for r in rows], dtype="int64"),
            "osm_type": pd.Series([r["osm_type"] for r in rows], dtype=object),
            "name": pd.Series([_name(r["tags"]) for r in rows], dtype=object),
        }
    )
    df["geometry"] = geoms
    return df


def _buildings_frame(c: _Collector) -> gpd.GeoDataFrame:
    rel_idx = [i for i, r in enumerate(c.rel_rows) if r["tags"].get("building", "no") != "no"]
    rows = c.bw_rows + [c.rel_rows[i] for i in rel_idx]
    rel_geoms = polygonal(shapely.from_wkb([c.rel_wkb[i] for i in rel_idx]))
    geoms = np.concatenate([_rings_to_polygons(c.bw_x, c.bw_y), rel_geoms]).astype(object)
    df = _area_rows(rows, geoms)
    types = [
        (building_use(r["tags"]) or "yes")
        if r["tags"]["building"] == "yes"
        else r["tags"]["building"]
        for r in rows
    ]
    types = _within_use(c, geoms, types)
    df.insert(4, "building_type", pd.Series(types, dtype=object))
    df.insert(5, "levels", [parse_levels(r["tags"].get("building:levels")) for r in rows])
    df["levels"] = df["levels"].astype("float64")
    df.insert(
        6,
        "households_tag",
        pd.array([_first_int(r["tags"], HOUSEHOLD_TAGS) for r in rows], dtype="Int64"),
    )
    df.insert(
        7, "units_tag", pd.array([_first_int(r["tags"], UNIT_TAGS) for r in rows], dtype="Int64")
    )
    # a plain yes nothing explains: no use found, and no name saying homes (学生公寓二号楼)
    unexplained = [
        t == "yes" and not _says_homes([r["tags"].get(k) for k in NAME_KEYS])
        for t, r in zip(types, rows, strict=True)
    ]
    df["campus"] = _on_campus(c, geoms, np.asarray(unexplained, dtype=bool))
    gdf = gpd.GeoDataFrame(df, geometry="geometry", crs=WGS84)
    return gdf[~gdf.geometry.is_empty].reset_index(drop=True)


def _on_campus(c: _Collector, footprints: np.ndarray, unexplained: np.ndarray) -> np.ndarray:
    """Per building, whether it is ``unexplained`` (a plain yes whose use nothing says) and
    its inner point lies on a university's or college's grounds: kept as homes (staff
    housing), but its estimate is a guess the import asks to check (T70 #5)."""
    out = np.zeros(len(unexplained), dtype=bool)
    rel_idx = [i for i, r in enumerate(c.rel_rows) if campus_area(r["tags"])]
    plain = np.flatnonzero(unexplained)
    if not (c.campus_x or rel_idx) or not len(plain):
        return out
    grounds = np.concatenate(
        [
            _rings_to_polygons(c.campus_x, c.campus_y),
            polygonal(shapely.from_wkb([c.rel_wkb[i] for i in rel_idx])),
        ]
    ).astype(object)
    points = shapely.point_on_surface(np.asarray(footprints, dtype=object)[plain])
    hit = shapely.STRtree(grounds).query(points, predicate="within")[0]
    out[plain[np.unique(hit)]] = True
    return out


def _within_use(c: _Collector, footprints: np.ndarray, types: list[str]) -> list[str]:
    """``types`` with each ``yes`` still unexplained given the use of the non-residential
    area its inner point lies in (the first such area read)."""
    rel_idx = [i for i, r in enumerate(c.rel_rows) if area_use(r["tags"])]
    uses = c.uw_use + [area_use(c.rel_rows[i]["tags"]) for i in rel_idx]
    plain = np.flatnonzero(np.asarray(types, dtype=object) == "yes")
    if not uses or not len(plain):
        return types
    areas = np.concatenate(
        [
            _rings_to_polygons(c.uw_x, c.uw_y),
            polygonal(shapely.from_wkb([c.rel_wkb[i] for i in rel_idx])),
        ]
    ).astype(object)
    points = shapely.point_on_surface(np.asarray(footprints, dtype=object)[plain])
    pt, area = shapely.STRtree(areas).query(points, predicate="within")
    out = list(types)
    for i, a in zip(pt[::-1], area[::-1], strict=True):  # reversed: the first area wins
        out[int(plain[i])] = str(uses[int(a)])
    return out


def _compounds_frame(c: _Collector) -> gpd.GeoDataFrame:
    rel_idx = [i for i, r in enumerate(c.rel_rows) if r["tags"].get("landuse") == "residential"]
    rows = c.cw_rows + [c.rel_rows[i] for i in rel_idx]
    rel_geoms = polygonal(shapely.from_wkb([c.rel_wkb[i] for i in rel_idx]))
    geoms = np.concatenate([_rings_to_polygons(c.cw_x, c.cw_y), rel_geoms]).astype(object)
    gdf = gpd.GeoDataFrame(_area_rows(rows, geoms), geometry="geometry", crs=WGS84)
    gdf = gdf[~gdf.geometry.is_empty].reset_index(drop=True)
    return gdf[["source_key", "osm_id", "osm_type", "name", "geometry"]]


def read_osm(path: str | Path) -> OsmLayers:
    """Read walkable ways, building footprints and residential compounds from an OSM file.

    Raises InputError (one line) for a missing, empty, truncated/corrupt or non-OSM file.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"OSM 文件 {p} 不存在 OSM file not found: {p}")
    if not p.is_file():
        raise InputError(f"{p} 不是文件 not a file: {p}")
    if p.stat().st_size == 0:
        raise InputError(f"OSM 文件 {p.name} 是空的 OSM file is empty: {p.name}")
    fmt = _sniff_format(p)
    c = _Collector()
    bounds = None
    n_objects = 0
    try:
        fp = (
            osmium.FileProcessor(osmium.io.File(str(p), fmt))
            .with_locations()
            .with_areas(osmium.filter.KeyFilter("building", "landuse", "amenity"))
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY | osmium.osm.AREA))
            .with_filter(osmium.filter.KeyFilter("highway", "building", "landuse", "amenity"))
        )
        box = fp.header.box()
        if box.valid():
            bl, tr = box.bottom_left, box.top_right
            bounds = (bl.lon, bl.lat, tr.lon, tr.lat)
        for obj in fp:
            n_objects += 1
            if obj.is_way():
                c.way(obj)
            elif obj.is_area():
                c.area(obj)
        has_nodes = n_objects > 0 or _has_any_node(p, fmt)
    except RuntimeError as exc:  # osmium reports parse errors as RuntimeError
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _unreadable(p.name, msg) from None
    if not has_nodes:
        raise InputError(f"文件 {p.name} 没有 OSM 数据 OSM file {p.name} contains no OSM data")
    return OsmLayers(
        ways=_ways_frame(c),
        buildings=_buildings_frame(c),
        compounds=_compounds_frame(c),
        bounds=bounds,
    )


_WAYS_UNSORTED = re.compile(r"Way IDs out of order: (\d+)")
_XML_ERROR = re.compile(r"XML parsing error at line (\d+), column (\d+)")


# where the osmium command of a remedy comes from: pyosmium (the importer's library) brings
# none, and a server has it only when installed (T45 #13)
_OSMIUM_FROM = "（osmium 命令来自 osmium-tool：apt install osmium-tool）"
_OSMIUM_FROM_EN = " (the osmium command comes with osmium-tool: apt install osmium-tool)"


def _unreadable(name: str, msg: str) -> InputError:
    """The error for a file osmium could not read (its message ``msg``), with the cause and
    the remedy in Chinese first (T43 #12: "Way IDs out of order" was given in English only,
    with no remedy). The English keeps osmium's words after "cannot read OSM file NAME:"."""
    if m := _WAYS_UNSORTED.match(msg):
        # osmium reads a file in one pass and needs its ways in id order, as OSM files are
        # written; a script or an editor that appends new ways at the end breaks it
        base, dot, ext = name.partition(".")
        out = f"{base}-sorted{dot}{ext}"
        way = m.group(1)
        return InputError(
            f"无法读取 OSM 文件 {name}（{msg}）：文件中的路（way）未按编号排序，"
            f"way {way} 排在编号更大的路之后；请先排序再导入：osmium sort {name} -o {out}，"
            f"然后导入 {out}{_OSMIUM_FROM} "
            f"cannot read OSM file {name}: {msg}; the ways are not sorted by id (way {way} "
            f"comes after a larger id): sort the file first with osmium sort {name} -o {out}, "
            f"then import {out}{_OSMIUM_FROM_EN}"
        )
    if msg.startswith("Way ID twice in input"):
        return InputError(
            f"无法读取 OSM 文件 {name}（{msg}）：同一条路（way）在文件中出现了两次。"
            "这可能是历史文件或变更文件（.osc），或是把几个提取文件直接拼接在了一起；"
            "请导入普通的提取文件，几个提取文件请先用 osmium sort 各自排序，"
            f"再用 osmium merge A.osm B.osm -o AB.osm 合并{_OSMIUM_FROM} "
            f"cannot read OSM file {name}: {msg}; a way appears twice: this may be a history "
            "or change file, or extracts joined by copying them together. Import a plain "
            "extract; join extracts by sorting each with osmium sort, then osmium merge "
            f"A.osm B.osm -o AB.osm{_OSMIUM_FROM_EN}"
        )
    if m := _XML_ERROR.match(msg):
        line, column = m.group(1), m.group(2)
        return InputError(
            f"无法读取 OSM 文件 {name}（{msg}）：XML 格式有误，在第 {line} 行第 {column} 列；"
            "文件可能不完整（下载或复制中断）或已损坏，请重新下载或导出 "
            f"cannot read OSM file {name}: {msg}; the file may be cut short (an interrupted "
            "download or copy) or damaged: download or export it again"
        )
    return InputError(f"无法读取 OSM 文件 {name}（{msg}） cannot read OSM file {name}: {msg}")


def _has_any_node(p: Path, fmt: str) -> bool:
    """Whether the file holds any node (cheap: stops at the first one)."""
    fp = osmium.FileProcessor(osmium.io.File(str(p), fmt), osmium.osm.NODE)
    return any(True for _ in fp)

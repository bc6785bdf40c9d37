"""OSM ingestion (pure, no database): real Haidian extracts, checked against independent counts.

Buildings are checked against GDAL's OSM driver (pyogrio ``multipolygons`` layer), segments
against a plain-XML recomputation, lengths against two other length methods, and the
fixtures against a fresh run of their script.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo.errors import InputError
from geo.households import HouseholdParams, estimate_households
from geo.network import EXCLUDED_HIGHWAYS, classify_kind, split_segments
from geo.osm import read_osm

EXTRACTS = ["tsinghua_wudaokou_2017.osm", "cau_xueqinglu_2026.osm"]
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
GEOD = Geod(ellps="WGS84")

_cache: dict[str, object] = {}


def _layers(path: Path):
    key = str(path)
    if key not in _cache:
        layers = read_osm(path)
        _cache[key] = (layers, split_segments(layers.ways))
    return _cache[key]


@pytest.fixture(params=EXTRACTS)
def extract(request, shared_data) -> Path:
    return shared_data / "osm_beijing_haidian" / request.param


# --- buildings ------------------------------------------------------------------------------


def test_buildings_match_gdal(extract):
    layers, _ = _layers(extract)
    gdal = pyogrio.read_dataframe(
        extract, layer="multipolygons", columns=["osm_id", "osm_way_id", "building", "landuse"]
    )
    gb = gdal[gdal["building"].notna() & (gdal["building"] != "no")]
    expected = {f"osm:w{w}" for w in gb["osm_way_id"].dropna()} | {
        f"osm:r{r}" for r in gb["osm_id"].dropna()
    }
    b = layers.buildings
    assert len(b) == len(gb) > 200
    assert set(b["source_key"]) == expected
    assert b["source_key"].is_unique
    # same footprints: total area agrees with GDAL's geometry (both measured in UTM)
    utm = "EPSG:32650"
    ours = b.to_crs(utm).area.sum()
    theirs = gpd.GeoSeries(gb.geometry.values, crs="EPSG:4326").to_crs(utm).area.sum()
    assert ours == pytest.approx(theirs, rel=1e-3)
    # residential compounds too
    gl = gdal[gdal["landuse"] == "residential"]
    assert len(layers.compounds) == len(gl)


def test_building_columns_and_validity(extract):
    layers, _ = _layers(extract)
    b = layers.buildings
    assert b.crs.to_epsg() == 4326
    assert b.geometry.is_valid.all()
    assert set(b.geom_type) <= {"Polygon", "MultiPolygon"}
    assert not b.geometry.is_empty.any()
    assert str(b["households_tag"].dtype) == "Int64"
    assert str(b["units_tag"].dtype) == "Int64"
    assert b["levels"].dtype == np.float64
    assert set(b["osm_type"]) <= {"way", "relation"}
    assert (b["source_key"].str[5:].astype("int64") == b["osm_id"]).all()
    # levels come from building:levels where tagged: count those tags in the raw XML
    root = ET.parse(extract).getroot()
    tagged = sum(
        1
        for w in root.iter("way")
        if any(t.get("k") == "building" for t in w.iter("tag"))
        and any(t.get("k") == "building:levels" for t in w.iter("tag"))
    )
    assert b["levels"].notna().sum() == tagged > 0
    # every building type in the raw XML is kept with its value, except that a plain
    # building=yes may be given its use (its own amenity/shop/office tags, or its grounds)
    raw = {
        int(w.get("id")): t.get("v")
        for w in root.iter("way")
        for t in w.iter("tag")
        if t.get("k") == "building"
    }
    ours = b[b["osm_type"] == "way"].set_index("osm_id")["building_type"]
    assert set(ours.index) == set(raw)
    told = {i: t for i, t in ours.items() if raw[i] != "yes"}
    assert told == {i: raw[i] for i in told}
    given_use = [i for i, t in ours.items() if raw[i] == "yes" and t != "yes"]
    assert 10 <= len(given_use) < 0.2 * len(ours)


# --- ways and segments -------------------------------------------------------------------


def _walkable_xml(path: Path) -> tuple[dict[int, list[int]], dict[int, str]]:
    """Walkable ways from a plain XML parse (the documented rule, re-implemented)."""
    root = ET.parse(path).getroot()
    ways, classes = {}, {}
    for w in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in w.iter("tag")}
        hw = tags.get("highway")
        if hw is None or hw in EXCLUDED_HIGHWAYS or tags.get("area") == "yes":
            continue
        if tags.get("foot") == "no":
            continue
        nds = [int(n.get("ref")) for n in w.iter("nd")]
        nds = [n for i, n in enumerate(nds) if i == 0 or n != nds[i - 1]]
        ways[int(w.get("id"))] = nds
        classes[int(w.get("id"))] = hw
    return ways, classes


def _expected_segments(ways: dict[int, list[int]]) -> collections.Counter:
    """(way, from, to) of every segment: split where a node is used twice or more."""
    use = collections.Counter(n for nds in ways.values() for n in nds)
    out = collections.Counter()
    for wid, nds in ways.items():
        start = 0
        for i in range(1, len(nds)):
            if i == len(nds) - 1 or use[nds[i]] >= 2:
                out[(wid, nds[start], nds[i])] += 1
                start = i
    return out


def test_segments_match_plain_xml(extract):
    layers, seg = _layers(extract)
    ways, classes = _walkable_xml(extract)
    assert len(layers.ways) == len(ways)
    expected = _expected_segments(ways)
    got = collections.Counter(
        zip(
            seg["osm_way_id"].tolist(),
            seg["from_node"].tolist(),
            seg["to_node"].tolist(),
            strict=True,
        )
    )
    assert sum(expected.values()) == len(seg) > len(layers.ways)
    assert got == expected
    assert seg["uid"].is_unique
    # the source really has excluded classes, and none of them came through
    assert set(classes.values()) & EXCLUDED_HIGHWAYS == set()
    root = ET.parse(extract).getroot()
    raw = {t.get("v") for t in root.iter("tag") if t.get("k") == "highway"}
    assert raw & {"platform", "motorway", "construction"}
    assert not set(seg["highway"]) & EXCLUDED_HIGHWAYS
    assert not set(layers.ways["highway"]) & EXCLUDED_HIGHWAYS


def test_segment_lengths_and_geometry(extract):
    _, seg = _layers(extract)
    assert seg.crs.to_epsg() == 4326
    assert seg.geometry.is_valid.all()
    assert (seg.geom_type == "LineString").all()
    geod = np.array([GEOD.geometry_length(g) for g in seg.geometry])
    assert np.allclose(seg["length_m"], geod, rtol=0.01)
    utm = seg.to_crs("EPSG:32650").length.to_numpy()  # projected, a different method
    assert np.allclose(seg["length_m"], utm, rtol=0.01)
    assert (seg["length_m"] > 0).all()
    # segment ends are its from/to nodes: first/last vertex equals the node's coordinates
    root = ET.parse(extract).getroot()
    loc = {int(n.get("id")): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    first = shapely.get_coordinates(shapely.get_point(seg.geometry.values, 0))
    last = shapely.get_coordinates(shapely.get_point(seg.geometry.values, -1))
    assert np.allclose(first, [loc[n] for n in seg["from_node"]], atol=1e-7)
    assert np.allclose(last, [loc[n] for n in seg["to_node"]], atol=1e-7)


def test_segment_keys_and_kinds(extract):
    _, seg = _layers(extract)
    assert set(seg["kind"]) == {"street", "alley"}
    named = seg["name"].notna()
    expected_key = "name:" + seg.loc[named, "kind"] + ":" + seg.loc[named, "name"]
    assert (seg.loc[named, "street_key"] == expected_key).all() and named.any()
    unnamed_key = "way:" + seg.loc[~named, "osm_way_id"].astype(str)
    assert (seg.loc[~named, "street_key"] == unnamed_key).all()
    assert seg.apply(lambda r: classify_kind(r["highway"], r["name"]) == r["kind"], axis=1).all()
    # the uid is built from OSM identity
    for row in seg.itertuples():
        assert row.uid.split("#")[0] == f"w{row.osm_way_id}:{row.from_node}-{row.to_node}"


def test_uids_stable_across_reads_and_formats(shared_data, tmp_path):
    src = shared_data / "osm_beijing_haidian" / "cau_xueqinglu_2026.osm"
    _, seg = _layers(src)
    pbf = tmp_path / "cau.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    layers2 = read_osm(pbf)
    seg2 = split_segments(layers2.ways)
    assert seg2["uid"].tolist() == seg["uid"].tolist()
    assert len(layers2.buildings) == len(_layers(src)[0].buildings)
    # a copy with a non-OSM file name is read by content
    odd = tmp_path / "upload.bin"
    odd.write_bytes(src.read_bytes())
    assert split_segments(read_osm(odd).ways)["uid"].tolist() == seg["uid"].tolist()


# --- synthetic networks (hypothesis) ---------------------------------------------------------


@st.composite
def _networks(draw):
    n_nodes = draw(st.integers(3, 12))
    ways = draw(
        st.lists(
            st.lists(st.integers(0, n_nodes - 1), min_size=2, max_size=8),
            min_size=1,
            max_size=6,
        )
    )
    clean = []
    for nds in ways:
        nds = [n for i, n in enumerate(nds) if i == 0 or n != nds[i - 1]]
        if len(set(nds)) >= 2:
            clean.append(nds)
    return n_nodes, clean


@settings(max_examples=150, deadline=None)
@given(_networks())
def test_split_segments_synthetic(net):
    n_nodes, ways = net
    rng = np.random.default_rng(n_nodes)
    xy = 116.3 + rng.random((n_nodes, 2)) * 0.01
    xy[:, 1] -= 76.3  # latitudes near 40
    if not ways:
        assert len(split_segments(gpd.GeoDataFrame(geometry=[], crs=4326))) == 0
        return
    node_ids = [[1000 + n for n in nds] for nds in ways]
    gdf = gpd.GeoDataFrame(
        {
            "osm_id": np.arange(1, len(ways) + 1, dtype=np.int64),
            "highway": "service",
            "name": [None] * len(ways),
            "node_ids": node_ids,
        },
        geometry=[shapely.LineString(xy[nds]) for nds in ways],
        crs="EPSG:4326",
    )
    seg = split_segments(gdf)
    expected = _expected_segments({i + 1: nds for i, nds in enumerate(node_ids)})
    got = collections.Counter(
        zip(
            seg["osm_way_id"].tolist(),
            seg["from_node"].tolist(),
            seg["to_node"].tolist(),
            strict=True,
        )
    )
    assert got == expected
    assert seg["uid"].is_unique
    # the segments of a way, end to end, give back the way's vertices
    for i, nds in enumerate(ways):
        parts = seg[seg["osm_way_id"] == i + 1].geometry.tolist()
        coords = [parts[0].coords[0]] + [c for p in parts for c in p.coords[1:]]
        assert np.allclose(coords, xy[nds])
    assert np.allclose(seg["length_m"], [GEOD.geometry_length(g) for g in seg.geometry], rtol=1e-6)


# --- bad input ---------------------------------------------------------------------------------


def _one_line_error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_osm(path)
    msg = info.value.message
    assert "\n" not in msg and msg
    return msg


def test_bad_files_give_input_error(shared_data, tmp_path):
    src = (shared_data / "osm_beijing_haidian" / "cau_xueqinglu_2026.osm").read_bytes()
    assert "not found" in _one_line_error(tmp_path / "nope.osm")
    (tmp_path / "empty.osm").write_bytes(b"")
    assert "empty" in _one_line_error(tmp_path / "empty.osm")
    (tmp_path / "cut.osm").write_bytes(src[: len(src) // 2])  # mid-element
    assert "cannot read" in _one_line_error(tmp_path / "cut.osm")
    line_cut = src[: src.index(b"\n", len(src) // 3) + 1]  # at a line boundary
    (tmp_path / "cut2.osm").write_bytes(line_cut)
    _one_line_error(tmp_path / "cut2.osm")
    garbage = bytearray(src)
    garbage[5000:5200] = b"\x00<<>>&&" * 28 + b"\x00\x00\x00\x00"
    (tmp_path / "garbled.osm").write_bytes(bytes(garbage))
    _one_line_error(tmp_path / "garbled.osm")
    gpx = shared_data / "gpx_samples" / "gpxpy_test_files" / "Mojstrovka.gpx"
    assert "cannot read" in _one_line_error(gpx)
    (tmp_path / "a.osm").write_text('{"type": "FeatureCollection"}')
    assert "not an OSM file" in _one_line_error(tmp_path / "a.osm")
    (tmp_path / "b.osm.pbf").write_bytes(b"\x00\x00\x00\x0dOSMHeader" + b"\x01" * 40)
    _one_line_error(tmp_path / "b.osm.pbf")
    (tmp_path / "c.osm").write_text('<?xml version="1.0"?><osm version="0.6"></osm>')
    assert "no OSM data" in _one_line_error(tmp_path / "c.osm")
    _one_line_error(tmp_path)  # a folder


# --- street vs alley -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("highway", "name", "kind"),
    [
        ("residential", "南锣鼓巷", "alley"),
        ("residential", "菊儿胡同", "alley"),
        ("service", None, "alley"),
        ("living_street", "成府路", "alley"),
        ("footway", None, "alley"),
        ("steps", None, "alley"),
        ("tertiary", "大栅栏西街", "street"),
        ("residential", "中关村北二街", "street"),
        ("unclassified", None, "street"),
        ("tertiary_link", None, "street"),
        ("tertiary", "东四十二条", "alley"),
        ("residential", "史家胡同（东段）", "alley"),
        ("unclassified", "石板房夹道", "alley"),
        ("residential", "延庆里", "alley"),
        ("residential", "田子坊弄", "alley"),
        ("primary", "东四十条", "street"),  # arterial wins over the name
        ("secondary_link", "某某里", "street"),
        ("trunk", None, "street"),
        ("corridor", None, "alley"),
        ("bridleway", None, "alley"),
    ],
)
def test_classify_kind(highway, name, kind):
    assert classify_kind(highway, name) == kind


# --- households --------------------------------------------------------------------------------


def test_households_on_real_buildings(extract):
    layers, _ = _layers(extract)
    p = HouseholdParams()
    b = estimate_households(layers.buildings, p)
    assert len(b) == len(layers.buildings)
    assert "area_m2" not in layers.buildings.columns  # a copy
    res = b["building_type"].isin(["residential", "apartments", "dormitory"])
    assert res.sum() > 0 and (b.loc[res, "households"] > 0).all()
    nonres = b["building_type"].isin(["school", "commercial", "university"])
    assert nonres.sum() > 0 and (b.loc[nonres, "households"] == 0).all()
    assert (b["household_source"] == "estimated").all()
    assert b["households"].dtype == np.int64
    # the formula, with the area measured independently on the ellipsoid
    area = np.array([abs(GEOD.geometry_area_perimeter(g)[0]) for g in b.geometry])
    assert np.allclose(b["area_m2"], area, rtol=0.005)
    levels = np.where(
        b["levels"].notna(),
        b["levels"],
        [p.default_levels.get(t, p.fallback_levels) for t in b["building_type"]],
    )
    share = np.array([p.residential_share.get(t, 0.0) for t in b["building_type"]])
    expect = area * levels * share / p.dwelling_size_m2
    assert np.all(np.abs(b["households"] - expect) <= 0.5 + 0.005 * expect)


def test_given_households_win(extract):
    layers, _ = _layers(extract)
    b = layers.buildings.copy()
    school = b.index[b["building_type"] == "school"][0]
    resid = b.index[b["building_type"] == "residential"][0]
    b["households_tag"] = pd.array([pd.NA] * len(b), dtype="Int64")
    b.loc[school, "households_tag"] = 7
    b.loc[resid, "households_tag"] = 123
    out = estimate_households(b)
    assert out.loc[resid, "households"] == 123
    assert out.loc[school, "households"] == 7
    assert out.loc[[resid, school], "household_source"].tolist() == ["given", "given"]
    assert (out.drop(index=[resid, school])["household_source"] == "estimated").all()
    # more dwelling space per household → fewer estimated households
    big = estimate_households(layers.buildings, HouseholdParams(dwelling_size_m2=180.0))
    small = estimate_households(layers.buildings)
    assert big["households"].sum() < small["households"].sum()


def test_household_tags_are_read(tmp_path):
    osm = tmp_path / "t.osm"
    nodes = "".join(
        f'<node id="{i}" version="1" lat="{40 + (i in (2, 3)) * 0.001}" '
        f'lon="{116 + (i in (3, 4)) * 0.001}"/>'
        for i in range(1, 5)
    )
    nd = "".join(f'<nd ref="{i}"/>' for i in (1, 2, 3, 4, 1))
    ways = (
        f'<way id="10" version="1">{nd}<tag k="building" v="residential"/>'
        '<tag k="building:flats" v="40"/><tag k="building:levels" v="6"/>'
        '<tag k="building:units" v="3"/></way>'
        f'<way id="11" version="1">{nd}<tag k="building" v="apartments"/>'
        '<tag k="households" v="约100"/><tag k="building:levels" v="0"/></way>'
    )
    osm.write_text(f'<?xml version="1.0"?><osm version="0.6">{nodes}{ways}</osm>')
    b = read_osm(osm).buildings.set_index("osm_id")
    assert b.loc[10, "households_tag"] == 40 and b.loc[10, "units_tag"] == 3
    assert b.loc[10, "levels"] == 6.0
    assert pd.isna(b.loc[11, "households_tag"]) and np.isnan(b.loc[11, "levels"])
    out = estimate_households(b).loc[[10, 11]]
    assert out["household_source"].tolist() == ["given", "estimated"]
    assert out.loc[11, "levels_used"] == 12  # apartments default


def test_building_use_from_its_tags_and_its_grounds(tmp_path):
    """A plain building=yes that OSM says is a kindergarten (its own tags), or that stands on
    a school's grounds, gets no estimated households; a campus (大院 staff housing) and a
    residential building with a shop keep theirs."""
    nodes, ways, nid = [], [], [0]

    def square(wid: int, x: float, y: float, size: float, tags: dict[str, str]) -> None:
        ids = []
        for dx, dy in ((0, 0), (0, size), (size, size), (size, 0)):
            nid[0] += 1
            nodes.append(f'<node id="{nid[0]}" version="1" lat="{y + dy}" lon="{x + dx}"/>')
            ids.append(nid[0])
        nd = "".join(f'<nd ref="{i}"/>' for i in [*ids, ids[0]])
        tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        ways.append(f'<way id="{wid}" version="1">{nd}{tag}</way>')

    square(1, 116.000, 40.000, 0.004, {"amenity": "school"})  # a school's grounds
    square(2, 116.010, 40.000, 0.004, {"amenity": "university"})  # a campus
    square(3, 116.020, 40.000, 0.004, {"landuse": "retail"})
    square(10, 116.001, 40.001, 0.0005, {"building": "yes"})  # on the school's grounds
    square(11, 116.011, 40.001, 0.0005, {"building": "yes"})  # on the campus
    square(12, 116.021, 40.001, 0.0005, {"building": "yes"})  # on retail land
    square(13, 116.030, 40.001, 0.0005, {"building": "yes", "amenity": "kindergarten"})
    square(14, 116.031, 40.001, 0.0005, {"building": "yes", "shop": "books"})
    square(15, 116.032, 40.001, 0.0005, {"building": "residential", "shop": "books"})
    square(16, 116.033, 40.001, 0.0005, {"building": "yes"})  # nothing said
    square(17, 116.0015, 40.0015, 0.0005, {"building": "dormitory"})  # its own type wins
    osm = tmp_path / "use.osm"
    osm.write_text(f'<?xml version="1.0"?><osm version="0.6">{"".join(nodes + ways)}</osm>')
    b = read_osm(osm).buildings.set_index("osm_id")
    assert b["building_type"].to_dict() == {
        10: "school",
        11: "yes",
        12: "retail",
        13: "kindergarten",
        14: "retail",
        15: "residential",
        16: "yes",
        17: "dormitory",
    }
    hh = estimate_households(b)["households"]
    assert (hh.loc[[10, 12, 13, 14]] == 0).all()
    assert (hh.loc[[11, 15, 16, 17]] > 0).all()


def test_params_from_settings():
    from geo.settings import Settings

    s = Settings(dwelling_size_m2=70.0)
    p = HouseholdParams.from_settings(s)
    assert p.dwelling_size_m2 == 70.0
    assert p.default_levels == {k: float(v) for k, v in s.default_levels.items()}
    assert p.residential_share == s.residential_share
    assert HouseholdParams() == HouseholdParams.from_settings(Settings())
    with pytest.raises(InputError):
        HouseholdParams(dwelling_size_m2=0)


# --- fixtures -------------------------------------------------------------------------------


def test_fixture_rereads_and_communities_tile():
    layers = read_osm(FIXTURES / "haidian_demo.osm")
    assert len(layers.ways) > 50 and len(layers.buildings) > 50
    assert (FIXTURES / "haidian_demo.osm").stat().st_size < 1_000_000
    head = (FIXTURES / "haidian_demo.osm").read_text("utf-8")[:1000]
    assert "odbl" in head.lower() and "OpenStreetMap contributors" in head
    seg = split_segments(layers.ways)
    assert set(seg["kind"]) == {"street", "alley"}
    est = estimate_households(layers.buildings)
    assert est["households"].sum() > 0

    comm = gpd.read_file(FIXTURES / "communities.geojson")
    assert 3 <= len(comm) <= 6
    assert comm.geometry.is_valid.all() and (comm.geom_type == "Polygon").all()
    utm = comm.to_crs("EPSG:32650")
    area = shapely.box(*layers.bounds)
    area_m2 = gpd.GeoSeries([area], crs=4326).to_crs("EPSG:32650").area.iloc[0]
    assert utm.area.sum() == pytest.approx(area_m2, rel=1e-4)
    union = shapely.union_all(comm.geometry.values)
    assert shapely.symmetric_difference(union, area).area / area.area < 1e-4
    g = utm.geometry.values
    for i in range(len(g)):
        for j in range(i + 1, len(g)):
            assert g[i].intersection(g[j]).area < 1.0  # m²: shared edges only
    assert comm["code"].str.fullmatch(r"\d{12}").all() and comm["code"].is_unique
    assert (comm["code"].str[:9] == comm["subdistrict_code"]).all()
    assert (comm["district_code"] == "110108").all() and (comm["level"] == "community").all()
    assert comm["name"].str.endswith("社区").all() and comm["name"].is_unique
    # every building of the cut lies in exactly one community
    pts = est.geometry.representative_point()
    hits = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), comm, predicate="within")
    assert hits.index.is_unique and len(hits) == len(est)


def test_fixture_script_is_deterministic(shared_data, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "OUT_OSM", tmp_path / "haidian_demo.osm")
    monkeypatch.setattr(mod, "OUT_COMMUNITIES", tmp_path / "communities.geojson")
    monkeypatch.setattr(mod, "REPO", tmp_path)
    mod.main()
    assert (tmp_path / "haidian_demo.osm").read_bytes() == (
        FIXTURES / "haidian_demo.osm"
    ).read_bytes()
    assert json.loads((tmp_path / "communities.geojson").read_text("utf-8")) == json.loads(
        (FIXTURES / "communities.geojson").read_text("utf-8")
    )


def test_odd_ways_are_handled(tmp_path):
    """Missing nodes, repeated nodes, open or non-building rings: no crash, documented rule."""
    coords = {1: (116.0, 40.0), 2: (116.001, 40.0), 3: (116.001, 40.001), 4: (116.0, 40.001)}
    nodes = "".join(
        f'<node id="{i}" version="1" lat="{lat}" lon="{lon}"/>' for i, (lon, lat) in coords.items()
    )

    def way(wid: int, refs: list[int], **tags: str) -> str:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tg = "".join(f'<tag k="{k.replace("_", ":")}" v="{v}"/>' for k, v in tags.items())
        return f'<way id="{wid}" version="1">{nds}{tg}</way>'

    ways = [
        way(10, [1, 99, 2, 2, 3], highway="service"),  # node 99 missing, 2 repeated
        way(11, [1, 99], highway="footway"),  # one node left: skipped
        way(12, [3, 3], highway="path"),  # one distinct node: skipped
        way(13, [1, 2, 3, 4, 1], highway="pedestrian", area="yes"),  # a square, not a way
        way(14, [3, 4], highway="footway", foot="no"),  # pedestrians banned
        way(15, [1, 4], highway="platform"),  # excluded class
        way(16, [1, 2, 3, 4], building="yes"),  # open ring: not a footprint
        way(17, [1, 2, 3, 4, 1], building="no"),  # explicitly not a building
        way(18, [1, 3, 2, 4, 1], building="residential"),  # bow-tie: repaired, kept
        way(19, [4, 1], highway="residential", name="某某里"),
    ]
    osm = tmp_path / "odd.osm"
    osm.write_text(f'<?xml version="1.0"?><osm version="0.6">{nodes}{"".join(ways)}</osm>')
    layers = read_osm(osm)
    w = layers.ways.set_index("osm_id")
    assert sorted(w.index) == [10, 19]
    assert w.loc[10, "node_ids"] == [1, 2, 3]
    assert len(w.loc[10, "geometry"].coords) == 3
    assert layers.bounds is None
    b = layers.buildings
    assert b["source_key"].tolist() == ["osm:w18"]
    assert b.geometry.is_valid.all() and b.geometry.iloc[0].area > 0
    seg = split_segments(layers.ways)
    # node 1 is shared by ways 10 and 19: both end there, so no extra split
    assert sorted(seg["uid"]) == ["w10:1-3", "w19:4-1"]
    assert seg.set_index("osm_way_id").loc[19, "kind"] == "alley"

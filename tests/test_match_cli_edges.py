"""`gridward match` at its edges, as an outside tester met them: an --out naming an input,
--max-mb beyond any file, ids that cannot name an edge or mix types, library warnings on
stderr, and the output file's own form (RFC 7946 GeoJSON, GeoPackage datetimes)."""

from __future__ import annotations

import json
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import wgs84_to_gcj02
from tests.test_assign_cli import run, run_inproc  # noqa: F401 (fixtures)
from tests.test_tracks_cli import WALKED, _one_error
from tests.test_tracks_match import _csv, _grid_network, _walk


@pytest.fixture
def gw(run_inproc):  # noqa: F811 (the imported fixture)
    """`gridward` in-process, paths as text (as tests.test_tracks_cli runs it)."""
    return lambda *args: run_inproc(*map(str, args))


@pytest.fixture
def files(tmp_path):
    """A WGS-84 grid network near Beijing (string ids) and a walk along it as CSV."""
    net = tmp_path / "network.geojson"
    _grid_network(3).to_file(net, driver="GeoJSON")
    pts = _walk(np.array([(0, 0), (300, 0), (300, 100)]), noise=3.0)
    track = tmp_path / "track.csv"
    track.write_bytes(_csv(pts, pts["lon"], pts["lat"]))
    return tmp_path, net, track, pts


def _with_ids(net, ids: dict[str, object], name: str):
    """A copy of the network file with some edge_id values replaced (the JSON as written)."""
    fc = json.loads(net.read_text())
    for f in fc["features"]:
        old = f["properties"]["edge_id"]
        f["properties"]["edge_id"] = ids.get(old, old)
    path = net.with_name(name)
    path.write_text(json.dumps(fc))
    return path


# -- D7: --out naming an input


@pytest.mark.parametrize("which", ["network", "track", "network-via-link", "track-via-dotdot"])
def test_out_naming_an_input_is_refused_and_the_input_kept(gw, files, which):
    tmp, net, track, _ = files
    (tmp / "sub").mkdir()
    target = net if which.startswith("network") else track
    out = {
        "network": net,
        "track": track,
        "network-via-link": tmp / "link.geojson",
        "track-via-dotdot": tmp / "sub" / ".." / "track.csv",
    }[which]
    if which == "network-via-link":
        out.symlink_to(net)
    before = target.read_bytes()
    r = gw("match", "--network", net, "--track", track, "--out", out)
    what = which.split("-")[0]
    _one_error(r, f"is the {what} file", "choose another output path")
    assert r.stdout == ""  # refused before any work
    assert target.read_bytes() == before
    assert not [p for p in tmp.iterdir() if "partial" in p.name]


# -- D8: --max-mb beyond any file


@pytest.mark.parametrize("value", ["inf", "1e400", "2e6"])
def test_max_mb_beyond_any_file_is_one_error(gw, files, value):
    tmp, net, track, _ = files
    out = tmp / "m.geojson"
    r = gw("match", "--network", net, "--track", track, "--out", out, "--max-mb", value)
    _one_error(r, "--max-mb must be at most")
    assert not out.exists()
    r = gw("match", "--network", net, "--track", track, "--out", out, "--max-mb", "1000")
    assert r.returncode == 0 and out.exists(), r.stderr  # a large, finite limit still works


# -- D8, D9: ids that cannot name an edge


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([1, 2], ("must be a number or a string", "feature 2 has a list")),
        ({"a": 1}, ("must be a number or a string", "feature 2 has an object")),
        (True, ("must be a number or a string", "feature 2 has true/false")),
        ("", ("without 'edge_id'", "feature 2 has an empty string")),
        ("  ", ("without 'edge_id'", "feature 2 has an empty string")),
    ],
)
def test_an_id_that_cannot_name_an_edge_is_one_error(gw, files, value, words):
    tmp, net, track, _ = files
    bad = _with_ids(net, {"v0_0": value}, "bad.geojson")  # the second feature
    out = tmp / "m.geojson"
    r = gw("match", "--network", bad, "--track", track, "--out", out)
    _one_error(r, *words)
    assert not out.exists()


def test_a_number_and_a_string_that_read_alike_are_not_unique(gw, files):
    tmp, net, track, _ = files
    dup = _with_ids(net, {"h0_0": 5, "h0_1": "5"}, "dup.geojson")
    r = gw("match", "--network", dup, "--track", track, "--out", tmp / "m.geojson")
    _one_error(r, "not unique", "5 and '5'")


# -- D9, D11: ids keep their type; no library warnings; warnings on stderr as `warning:`


def test_mixed_int_and_string_ids_keep_their_types_without_library_warnings(files):
    tmp, net, track, _ = files
    mixed = _with_ids(net, {"h0_0": 7, "h0_2": 12}, "mixed.geojson")
    out = tmp / "m.geojson"
    r = run("match", "--network", str(mixed), "--track", str(track), "--out", str(out))
    assert r.returncode == 0 and r.stderr == "", r.stderr  # no pyogrio/geopandas UserWarning
    got = {f["properties"]["edge_id"] for f in json.loads(out.read_text())["features"]}
    assert {7, "h0_1", 12, "v3_0"} <= got and not {"7", "12"} & got
    # a GeoPackage column holds one type: said in one warning line, not silently
    r = run("match", "--network", str(mixed), "--track", str(track), "--out", str(tmp / "m.gpkg"))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "as text" in lines[0], lines


def test_a_gpx_given_as_network_is_one_error_line(files):
    tmp, _, track, _ = files
    gpx = tmp / "walk.gpx"
    gpx.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="t" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        '<trkpt lat="40.0" lon="116.3"><time>2026-03-02T00:00:00Z</time></trkpt>'
        '<trkpt lat="40.001" lon="116.3"><time>2026-03-02T00:01:00Z</time></trkpt>'
        "</trkseg></trk></gpx>"
    )
    out = tmp / "m.geojson"
    r = run("match", "--network", str(gpx), "--track", str(track), "--out", str(out))
    _one_error(r)  # no "UserWarning: More than one layer found" lines before it
    assert not out.exists()


def test_every_warning_is_on_stderr_with_one_prefix(gw, files):
    tmp, net, _, pts = files
    # GCJ-02 coordinates read as WGS 84 (the datum hint) and one fix without a time (parse)
    lon, lat = wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy())
    lines = _csv(pts, lon, lat).decode().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ","
    track = tmp / "amap.csv"
    track.write_text("\n".join(lines) + "\n")
    r = gw("match", "--network", net, "--track", track, "--out", tmp / "m.geojson")
    assert r.returncode == 0, r.stderr
    assert not [ln for ln in r.stdout.splitlines() if "warning" in ln.split(" ")[0]], r.stdout
    assert "警告" not in r.stdout, r.stdout
    warns = r.stderr.strip().splitlines()
    assert len(warns) == 2 and all(w.startswith("warning: ") for w in warns), warns
    assert any("without time" in w for w in warns) and any("GCJ-02" in w for w in warns)


def test_segment_ends_that_nearly_meet_are_named_in_a_warning(gw, files):
    """Segment ends 1 m apart are not joined (0.5 m): routes cannot pass there and recall
    falls (an outside tester: 0.86 instead of 1.00) with nothing said. Now a warning counts
    them (both ends of the moved edge and the two they miss); the exactly joined network
    gets none."""
    tmp, net, track, _ = files
    segs = gpd.read_file(net).to_crs("EPSG:32650")
    moved = segs.geometry.translate(1.0, 0.0).where(segs["edge_id"] == "v3_0", segs.geometry)
    gap = tmp / "gap.geojson"
    segs.set_geometry(moved).to_crs(4326).to_file(gap, driver="GeoJSON")
    r = gw("match", "--network", gap, "--track", track, "--out", tmp / "g.geojson")
    assert r.returncode == 0, r.stderr
    assert "warning: 有 4 个路段端点与另一端点相距不到 3 米却未相接" in r.stderr, r.stderr
    assert "4 segment ends lie within 3 m of another end" in r.stderr, r.stderr
    r = gw("match", "--network", net, "--track", track, "--out", tmp / "n.geojson")
    assert "segment ends" not in r.stderr, r.stderr


def test_whole_ways_not_split_at_their_junctions_are_named_in_a_warning(gw, files):
    """Outside tester: on raw OSM ways (one way ending on another's middle, no node there) a
    walk lost 7–25 % of its metres with nothing said. Merging the grid's rows into whole
    ways leaves the columns' ends on the rows' middles: a warning counts them."""
    tmp, net, track, _ = files
    segs = gpd.read_file(net)
    rows = segs[segs["edge_id"].str.startswith("h")].copy()
    rows["row"] = rows["edge_id"].str.split("_").str[0]
    ways = rows.dissolve("row").reset_index()
    ways["geometry"] = shapely.line_merge(ways.geometry.to_numpy())
    whole = pd.concat(
        [ways.assign(edge_id=ways["row"])[["edge_id", "geometry"]],
         segs[segs["edge_id"].str.startswith("v")][["edge_id", "geometry"]]],
        ignore_index=True,
    )  # fmt: skip
    path = tmp / "ways.geojson"
    gpd.GeoDataFrame(whole, crs=4326).to_file(path, driver="GeoJSON")
    r = gw("match", "--network", path, "--track", track, "--out", tmp / "w.geojson")
    assert r.returncode == 0, r.stderr
    # the 2 inner columns end on the middles of the 4 rows' ways (3x3 blocks: 4 rows, 4
    # columns; the outer columns end at the rows' ends): 2 × 4 = 8 nodes
    assert "warning: 有 8 个路段端点与另一路段中部相距不到 3 米" in r.stderr, r.stderr
    assert "8 segment ends lie within 3 m of another segment's middle" in r.stderr


# -- D10: the output's own form


def test_geojson_output_is_rfc7946_and_named_after_its_layer(gw, files):
    tmp, net, track, _ = files
    out = tmp / "m.geojson"
    r = gw("match", "--network", net, "--track", track, "--out", out)
    assert r.returncode == 0, r.stderr
    fc = json.loads(out.read_text())
    assert "crs" not in fc and fc["name"] == "matched", {k: fc[k] for k in fc if k != "features"}
    assert "partial" not in out.read_text()
    assert {f["properties"]["edge_id"] for f in fc["features"]} >= WALKED
    xy = np.array([c for f in fc["features"] for c in f["geometry"]["coordinates"]])
    assert (np.abs(xy - xy.round(7)) < 1e-12).all()  # 7 decimals: about 1 cm
    assert ((np.abs(xy[:, 0] - 116.3) < 0.1) & (np.abs(xy[:, 1] - 40) < 0.1)).all()  # lon/lat
    segs = gpd.read_file(net).set_index("edge_id").geometry
    for f in fc["features"]:
        exact = segs[f["properties"]["edge_id"]]
        assert shapely.geometry.shape(f["geometry"]).equals_exact(exact, 1e-7)


def test_gpkg_output_stores_times_as_datetimes(gw, files):
    tmp, net, track, _ = files
    r = gw("match", "--network", net, "--track", track, "--out", tmp / "m.gpkg")
    assert r.returncode == 0, r.stderr
    assert (
        gw("match", "--network", net, "--track", track, "--out", tmp / "m.geojson").returncode == 0
    )
    with sqlite3.connect(tmp / "m.gpkg") as db:
        (ddl,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'matched'").fetchone()
    assert '"first_time" DATETIME' in ddl and '"last_time" DATETIME' in ddl, ddl
    gpkg = gpd.read_file(tmp / "m.gpkg")
    geo = gpd.read_file(tmp / "m.geojson")
    assert str(gpkg["first_time"].dt.tz) == "UTC"
    want = pd.to_datetime(geo["first_time"].astype(str), utc=True)
    assert (gpkg["first_time"].to_numpy() == want.to_numpy()).all()


def test_write_vector_geojson_names_the_layer_and_keeps_mixed_types(tmp_path):
    """The other caller (`gridward export`) gets the same RFC 7946 file, named after its
    layer; a column mixing strings and numbers keeps each value's type."""
    from geo.vector_io import write_vector

    sq = shapely.box(116.3, 40.0, 116.301, 40.001)
    gdf = gpd.GeoDataFrame(
        {"code": ["a", 2, np.int64(3)], "n": [1, 2, 3]}, geometry=[sq] * 3, crs="EPSG:4326"
    )
    path = write_vector(gdf, tmp_path / "grids.geojson", layer="grids")
    fc = json.loads(path.read_text())
    assert fc["name"] == "grids" and "crs" not in fc
    assert [f["properties"]["code"] for f in fc["features"]] == ["a", 2, 3]
    assert [f["properties"]["n"] for f in fc["features"]] == [1, 2, 3]
    back = gpd.read_file(path, columns=["n"])  # GDAL reads the mixed column as text
    assert back.crs.to_epsg() == 4326 and back.geometry.geom_equals_exact(sq, 1e-7).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grids.geojson"]


def test_a_datum_hint_with_nothing_matched_says_nothing_was_matched(gw, files):
    """T41 #4: 8 GCJ-02 fixes read as WGS-84 matched no segment, yet the datum hint said
    "匹配出的街巷多半不是您走过的 … the alleys matched are most likely not the ones walked".
    With none matched it says so, as an upload crediting none does; stdout is unchanged."""
    tmp, net, _, pts = files
    # the walk's first fixes, written as an Amap phone writes them: some 500 m off the streets
    lon, lat = wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy())
    track = tmp / "gcj_short.csv"
    track.write_bytes(_csv(pts.iloc[:8], lon[:8], lat[:8]))
    r = gw("match", "--network", net, "--track", track, "--out", tmp / "m.geojson")
    assert r.returncode == 0, r.stderr
    assert "· edges 路段 0 ·" in r.stdout and "warning" not in r.stdout, r.stdout
    hint = [w for w in r.stderr.splitlines() if "GCJ-02" in w]
    assert len(hint) == 1, r.stderr
    assert "；本次未匹配到任何路段：请用 --crs gcj02 重新匹配 the fixes look like" in hint[0]
    assert hint[0].endswith("; nothing was matched: match it again with --crs gcj02"), hint
    assert "多半不是您走过的" not in hint[0] and "most likely" not in hint[0], hint

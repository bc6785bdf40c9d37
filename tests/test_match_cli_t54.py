"""`gridward match` after an outside tester's certification (T54): --out onto a FIFO or a
symbolic link (#4), a network file drawn in GCJ-02 (#3), shuffled times (#9), nothing credited
(#10, --require-match), streets drawn twice (#8), and the small ones (#11–#13: a trailing /,
GDAL's English in the Chinese, the size limit in MB). Networks: the generated grid of
tests.test_tracks_match and the demo city (fixtures/haidian_demo.osm)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import gcj02_to_bd09, wgs84_to_gcj02
from geo.errors import InputError
from tests.test_assign_cli import run_inproc  # noqa: F401 (fixture)
from tests.test_match_cli_edges import files, gw  # noqa: F401 (fixtures)
from tests.test_tracks_cli import _one_error, settings_env  # noqa: F401 (fixture)
from tests.test_tracks_match import _csv

DEMO_OSM = Path(__file__).resolve().parents[1] / "fixtures" / "haidian_demo.osm"


def _edges(path: Path) -> dict[object, list]:
    fc = json.loads(path.read_text())
    return {f["properties"]["edge_id"]: f["geometry"]["coordinates"] for f in fc["features"]}


def _no_partials(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if "partial" in p.name], list(folder.iterdir())


# -- #4: --out onto a FIFO or a symbolic link


def test_out_onto_a_fifo_is_refused_and_the_fifo_kept(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    fifo = tmp / "pipe.geojson"
    os.mkfifo(fifo)
    r = gw("match", "--network", net, "--track", track, "--out", fifo)
    _one_error(r, "命名管道（FIFO）", "is a named pipe (FIFO), not a regular file", str(fifo))
    assert r.stderr.index("命名管道") < r.stderr.index("named pipe")  # Chinese first
    assert r.stdout == ""  # before any work
    assert fifo.is_fifo()
    _no_partials(tmp)


def test_out_onto_a_symlink_is_refused_and_link_and_target_kept(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    target = tmp / "target.geojson"
    target.write_text("keep me")
    link = tmp / "link.geojson"
    link.symlink_to(target)
    r = gw("match", "--network", net, "--track", track, "--out", link)
    _one_error(r, "符号链接", "is a symbolic link, not a regular file", "choose another output")
    assert link.is_symlink() and target.read_text() == "keep me"
    _no_partials(tmp)


def test_atomic_file_refuses_what_is_not_a_regular_file(tmp_path):
    """The rename every --out goes through (exports, reports, partition, assign, match):
    refused before the block runs, nothing written beside it; a regular file is replaced."""
    from geo.vector_io import atomic_file

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "nowhere.csv")  # dangling: still a link, still refused
    (tmp_path / "folder.csv").mkdir()
    for path, kind in [
        (fifo, "FIFO"),
        (link, "symbolic link"),
        (tmp_path / "folder.csv", "folder"),
    ]:
        ran = []
        with pytest.raises(InputError, match=kind), atomic_file(path) as tmp:
            ran.append(tmp)
        assert ran == []
    assert fifo.is_fifo() and link.is_symlink() and (tmp_path / "folder.csv").is_dir()
    regular = tmp_path / "old.csv"
    regular.write_text("old")
    with atomic_file(regular) as tmp:
        tmp.write_text("new")
    assert regular.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder.csv", "link.csv", "old.csv", "pipe.csv"
    ]  # fmt: skip


# -- #3: a network drawn in GCJ-02 (or BD-09), an honest WGS-84 track


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo city as a WGS-84 network file and as the same network drawn in GCJ-02 and in
    BD-09 (as 高德/百度-based tools write them), and a 5 m-noise walk on it as a GPS CSV."""
    from geo.network import split_segments
    from geo.osm import read_osm
    from geo.tracks.network import WalkNetwork
    from geo.tracks.simulate import SimParams, simulate_patrol

    tmp = tmp_path_factory.mktemp("t54_demo")
    segs = split_segments(read_osm(DEMO_OSM).ways).rename(columns={"uid": "edge_id"})
    segs = gpd.GeoDataFrame(segs[["edge_id"]], geometry=segs.geometry.values, crs=4326)
    paths = {"wgs84": tmp / "net_wgs84.geojson"}
    segs.to_file(paths["wgs84"], driver="GeoJSON")

    def gcj(xy):
        return np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))

    def bd(xy):
        return np.column_stack(gcj02_to_bd09(*gcj(xy).T))

    for name, move in (("gcj02", gcj), ("bd09", bd)):
        paths[name] = tmp / f"net_{name}.geojson"
        moved = shapely.transform(segs.geometry.to_numpy(), move)
        segs.set_geometry(gpd.GeoSeries(moved, crs=4326)).to_file(paths[name], driver="GeoJSON")
    net = WalkNetwork.from_segments(segs)
    sp = SimParams(length_m=1500, noise_m=5.0, dt_s=2.0, stops=0, uturns=0)
    pts, _ = simulate_patrol(net, np.random.default_rng(54), sp)
    track = tmp / "gps.csv"
    track.write_bytes(_csv(pts, pts["lon"], pts["lat"]))
    return tmp, paths, track


def test_a_gcj02_network_is_named_and_read_right_with_network_crs(gw, demo):  # noqa: F811
    tmp, nets, track = demo
    r = gw("match", "--network", nets["wgs84"], "--track", track, "--out", tmp / "w.geojson")
    assert r.returncode == 0 and "--network-crs" not in r.stderr, r.stderr
    right = _edges(tmp / "w.geojson")
    assert len(right) >= 5

    r = gw("match", "--network", nets["gcj02"], "--track", track, "--out", tmp / "g.geojson")
    assert r.returncode == 0, r.stderr  # a warning, not a refusal: the output as asked
    hint = [w for w in r.stderr.splitlines() if "--network-crs" in w]
    assert len(hint) == 1 and hint[0].startswith("warning: 路网坐标像是 GCJ-02"), r.stderr
    assert "请用 --network-crs gcj02 重新匹配" in hint[0]
    assert hint[0].endswith("match it again with --network-crs gcj02"), hint[0]
    assert "--crs gcj02" not in r.stderr  # the track is right: no track hint

    for datum in ("gcj02", "bd09"):
        out = tmp / f"fixed_{datum}.geojson"
        r = gw("match", "--network", nets[datum], "--track", track, "--out", out,
               "--network-crs", datum)  # fmt: skip
        assert r.returncode == 0 and "--network-crs" not in r.stderr, r.stderr
        fixed = _edges(out)
        assert set(fixed) == set(right), (datum, set(fixed) ^ set(right))
        for e, coords in fixed.items():  # written in WGS-84 (RFC 7946), as the true network
            assert np.abs(np.array(coords) - np.array(right[e])).max() < 2e-6, e


def test_a_gps_network_declared_gcj02_gets_both_remedies(gw, demo):  # noqa: F811
    tmp, nets, track = demo
    out = tmp / "back.geojson"
    r = gw("match", "--network", nets["wgs84"], "--track", track, "--out", out,
           "--network-crs", "gcj02")  # fmt: skip
    assert r.returncode == 0, r.stderr
    # the fixes 540 m from a network read as GCJ-02: a GCJ-02 track or a GPS network, the
    # same shift; one warning with both remedies
    hint = [w for w in r.stderr.splitlines() if "GCJ-02" in w]
    assert len(hint) == 1, r.stderr
    assert (
        "请用 --crs gcj02 重新匹配；若是路网画在 WGS-84 (GPS) 中，则请改用 --network-crs wgs84"
        in hint[0]
    )
    assert hint[0].endswith(
        "match it again with --crs gcj02; or, if the network is the one drawn in WGS-84 "
        "(GPS), with --network-crs wgs84"
    ), hint[0]


def test_network_crs_takes_only_map_datums_and_not_with_a_projected_file(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    r = gw("match", "--network", net, "--track", track, "--out", tmp / "x.geojson",
           "--network-crs", "EPSG:4548")  # fmt: skip
    _one_error(r, "--network-crs EPSG:4548", "use wgs84, gcj02 or bd09")
    metric = tmp / "metric.geojson"
    gpd.read_file(net).to_crs("EPSG:4548").to_file(metric, driver="GeoJSON")
    r = gw("match", "--network", metric, "--track", track, "--out", tmp / "m.geojson")
    assert r.returncode == 0, r.stderr  # as before: the file's crs member is read
    r = gw("match", "--network", metric, "--track", track, "--out", tmp / "m.geojson",
           "--network-crs", "gcj02")  # fmt: skip
    _one_error(r, "declares its CRS", "leave it out")


# -- #9: shuffled times, refused as upload refuses them


def test_shuffled_times_are_refused_with_uploads_words(gw, files):  # noqa: F811
    tmp, net, _, pts = files
    rows = _csv(pts, pts["lon"], pts["lat"]).decode().splitlines()
    body = rows[1:]
    order = np.random.default_rng(9).permutation(len(body))
    track = tmp / "shuffled.csv"
    track.write_text("\n".join([rows[0], *(body[i] for i in order)]) + "\n")
    out = tmp / "s.geojson"
    r = gw("match", "--network", net, "--track", track, "--out", out)
    _one_error(r, "定位点时间顺序混乱", "timestamps out of order")
    assert not out.exists()
    checked = gw("tracks", "check", track)
    said = r.stderr.strip().removeprefix("error: ")
    assert checked.returncode == 2 and said in checked.stdout, (said, checked.stdout)


# -- #10: nothing credited, --require-match


def test_require_match_exits_3_writing_nothing_when_nothing_is_credited(gw, files):  # noqa: F811
    tmp, net, _, pts = files
    one = tmp / "one_fix.csv"
    one.write_bytes(_csv(pts.iloc[:1], pts["lon"][:1], pts["lat"][:1]))
    far = tmp / "far.csv"
    far.write_bytes(_csv(pts, pts["lon"] + 1.0, pts["lat"]))  # 1° east of the network
    for track in (one, far):
        out = tmp / f"{track.stem}.geojson"
        r = gw("match", "--network", net, "--track", track, "--out", out)
        assert r.returncode == 0 and out.exists(), r.stderr  # the default, as scripts know it
        out.unlink()
        r = gw("match", "--network", net, "--track", track, "--out", out, "--require-match")
        assert r.returncode == 3, (r.returncode, r.stderr)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1 and r.stderr.strip().splitlines()[-1] == errors[0], r.stderr
        assert "未计入任何路段（--require-match）" in errors[0], errors
        assert "nothing was credited (--require-match)" in errors[0], errors
        assert "warning: " in r.stderr  # why, as without the option
        assert not out.exists() and "wrote" not in r.stdout
        _no_partials(tmp)
    out = tmp / "walked.geojson"
    r = gw("match", "--network", net, "--track", files[2], "--out", out, "--require-match")
    assert r.returncode == 0 and out.exists() and f"wrote {out}" in r.stdout, r.stderr


def test_help_names_the_exit_codes_and_the_new_options(gw):  # noqa: F811
    r = gw("match", "--help")
    flat = " ".join(r.stdout.split())
    assert "退出码 Exit codes: 0 written" in flat and "3 nothing credited with" in flat, flat
    assert "--require-match" in flat and "--network-crs" in flat


# -- #8: streets drawn twice


def test_segments_drawn_twice_are_named_in_one_warning(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    segs = gpd.read_file(net)
    twice = segs[segs["edge_id"].isin(["h0_0", "v1_1", "h2_2"])].copy()
    twice["edge_id"] = twice["edge_id"] + "-r"
    twice["geometry"] = shapely.reverse(twice.geometry.to_numpy())
    path = tmp / "twice.geojson"
    gpd.GeoDataFrame(
        pd.concat([segs, twice], ignore_index=True), crs=4326
    ).to_file(path, driver="GeoJSON")  # fmt: skip
    r = gw("match", "--network", path, "--track", track, "--out", tmp / "t.geojson")
    assert r.returncode == 0, r.stderr
    lines = [w for w in r.stderr.splitlines() if "same geometry" in w]
    assert len(lines) == 1 and lines[0].startswith("warning: 有 3 对路段几何相同"), r.stderr
    assert "3 pairs of segments have the same geometry" in lines[0]
    assert "h0_0 与 h0_0-r" in lines[0] and "h0_0 & h0_0-r" in lines[0], lines[0]
    r = gw("match", "--network", net, "--track", track, "--out", tmp / "n.geojson")
    assert "same geometry" not in r.stderr, r.stderr


def test_segments_one_metre_apart_are_not_drawn_twice(files):  # noqa: F811
    from api.cli_tracks import duplicate_edges
    from geo.tracks.network import WalkNetwork

    _, net, _, _ = files
    segs = gpd.read_file(net).to_crs("EPSG:32650")
    near = segs[segs["edge_id"] == "h1_1"].copy()
    near["edge_id"] = "near"
    a, b = shapely.get_coordinates(segs.set_index("edge_id").geometry["h1_1"])
    near["geometry"] = shapely.LineString([a, (a + b) / 2 + [0, 1.0], b])  # bowed 1 m
    both = gpd.GeoDataFrame(pd.concat([segs, near]), crs=segs.crs).to_crs(4326)
    assert duplicate_edges(WalkNetwork.from_segments(both)) == []


# -- #11–#13


def test_out_ending_in_a_slash_is_refused_and_a_missing_folder_made(gw, files):  # noqa: F811
    tmp, net, track, _ = files
    r = gw("match", "--network", net, "--track", track, "--out", f"{tmp}/as_folder.geojson/")
    _one_error(r, "以 / 结尾", "ends in /, naming a folder")
    assert not (tmp / "as_folder.geojson").exists()
    out = tmp / "new" / "deeper" / "m.geojson"  # as every file-mode --out: folders made
    r = gw("match", "--network", net, "--track", track, "--out", out)
    assert r.returncode == 0 and out.is_file(), r.stderr


def test_an_unreadable_network_says_why_in_chinese_first(gw, files):  # noqa: F811
    tmp, _, track, _ = files
    text = tmp / "not_json.geojson"
    text.write_text("this is not json\n")
    r = gw("match", "--network", text, "--track", track, "--out", tmp / "x.geojson")
    _one_error(r, "不是 GeoJSON、GeoPackage 等可识别的矢量格式", "cannot read network")
    chinese = r.stderr.split(" cannot read network")[0]
    assert "recognized" not in chinese and "driver" not in chinese, chinese
    table = tmp / "net.csv"
    table.write_text("edge_id,wkt\n1,LINESTRING(116.31 40, 116.311 40)\n")
    r = gw("match", "--network", table, "--track", track, "--out", tmp / "x.geojson")
    _one_error(r, "是 CSV 表格，不是 GeoJSON 或 GeoPackage", "is not GeoJSON or GeoPackage")
    assert "without geometry" not in r.stderr


def test_too_large_names_the_limit_in_mb_and_max_mb(gw, files, settings_env):  # noqa: F811
    tmp, net, track, _ = files
    settings_env(GRIDWARD_MAX_UPLOAD_BYTES=str(1024 * 1024))
    big = tmp / "big.csv"
    rows = track.read_bytes()
    big.write_bytes(rows * (2 * 1024 * 1024 // len(rows) + 1))
    r = gw("match", "--network", net, "--track", big, "--out", tmp / "b.geojson")
    _one_error(r, "文件过大", "file too large: more than 1,048,576 bytes (limit)", "1 MB",
               "--max-mb 3")  # fmt: skip
    assert r.stderr.index("--max-mb") < r.stderr.index("file too large")  # said in Chinese too


def test_every_file_mode_out_refuses_a_link_before_any_work(tmp_path):
    """The shared check of a file-mode ``--out`` (partition, assign, report) refuses a FIFO or
    a symbolic link before the command's work, not only at the final rename."""
    from api.out_files import check_out

    target = tmp_path / "target.csv"
    target.write_text("kept\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for out in (link, fifo):
        with pytest.raises(InputError) as err:
            check_out(out, (".csv",), {})
        assert "不是普通文件" in err.value.message and "not a regular file" in err.value.message
    assert link.is_symlink() and target.read_text() == "kept\n"
    check_out(tmp_path / "new.csv", (".csv",), {})  # a new path is fine


def test_a_shapefile_export_refuses_a_linked_or_special_sidecar(tmp_path):
    """T56 #7: a symlinked .dbf (or a FIFO .shx) beside the .shp was replaced by a regular
    file; only the .shp itself was checked. Every sidecar is checked before anything is
    written, and the link and its target stay as they were."""
    from geo.export import write_shapefile

    gdf = gpd.GeoDataFrame({"name": ["甲"]}, geometry=[shapely.Point(116.3, 40.0)], crs=4326)
    target = tmp_path / "elsewhere.dbf"
    target.write_bytes(b"kept")
    (tmp_path / "grids.dbf").symlink_to(target)
    with pytest.raises(InputError) as err:
        write_shapefile(gdf, tmp_path / "grids.shp")
    assert "grids.dbf" in err.value.message and "not a regular file" in err.value.message
    assert (tmp_path / "grids.dbf").is_symlink() and target.read_bytes() == b"kept"
    assert not (tmp_path / "grids.shp").exists()
    (tmp_path / "grids.dbf").unlink()
    os.mkfifo(tmp_path / "grids.shx")
    with pytest.raises(InputError):
        write_shapefile(gdf, tmp_path / "grids.shp")
    assert not (tmp_path / "grids.shp").exists()

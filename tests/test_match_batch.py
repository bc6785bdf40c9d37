"""`gridward match` with several tracks (outside tester T54, #14: 50 walks in a loop paid the
start-up and the network 50 times): --track given again or a folder, --out-dir, the network's
warnings said once, a failing track not stopping the others, summary.csv, the exit codes.
Network: the demo city (fixtures/haidian_demo.osm), as tests.test_match_cli_t54 builds it."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from tests.test_assign_cli import run_inproc  # noqa: F401 (fixture)
from tests.test_match_cli_edges import gw  # noqa: F401 (fixture)
from tests.test_tracks_cli import _one_error
from tests.test_tracks_match import _csv

DEMO_OSM = Path(__file__).resolve().parents[1] / "fixtures" / "haidian_demo.osm"
NEAR_MISS = "segment ends lie within 3 m of another end without meeting it"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo network file and three 5 m-noise walks on it as GPS CSVs (walks/w0..w2.csv)."""
    from geo.network import split_segments
    from geo.osm import read_osm
    from geo.tracks.network import WalkNetwork
    from geo.tracks.simulate import SimParams, simulate_patrol

    tmp = tmp_path_factory.mktemp("match_batch")
    segs = split_segments(read_osm(DEMO_OSM).ways).rename(columns={"uid": "edge_id"})
    segs = gpd.GeoDataFrame(segs[["edge_id"]], geometry=segs.geometry.values, crs=4326)
    net_path = tmp / "net.geojson"
    segs.to_file(net_path, driver="GeoJSON")
    net = WalkNetwork.from_segments(segs)
    walks = tmp / "walks"
    walks.mkdir()
    rng = np.random.default_rng(58)
    sp = SimParams(length_m=800, noise_m=5.0, dt_s=3.0, stops=0, uturns=0)
    for i in range(3):
        pts, _ = simulate_patrol(net, rng, sp)
        (walks / f"w{i}.csv").write_bytes(_csv(pts, pts["lon"], pts["lat"]))
    # far from every street: matches nothing
    far = pts.assign(lon=pts["lon"] + 0.2)
    (tmp / "far.csv").write_bytes(_csv(far, far["lon"], far["lat"]))
    return tmp, net_path, sorted(walks.iterdir())


def _rows(path: Path) -> list[tuple]:
    fc = json.loads(path.read_text())
    return [
        (f["properties"]["edge_id"], f["properties"]["seq"], f["properties"]["covered_fraction"])
        for f in fc["features"]
    ]


def _summary(folder: Path) -> list[dict[str, str]]:
    with (folder / "summary.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_batch_writes_what_single_runs_write_and_warns_of_the_network_once(gw, demo):  # noqa: F811
    tmp, net, walks = demo
    single = tmp / "single"
    for w in walks:
        r = gw("match", "--network", net, "--track", w, "--out", single / f"{w.stem}.geojson")
        assert r.returncode == 0, r.stderr
        assert r.stderr.count(NEAR_MISS) == 1  # the demo network has ends that nearly meet

    out = tmp / "batch"
    args = [a for w in walks for a in ("--track", w)]
    r = gw("match", "--network", net, *args, "--out-dir", out)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(NEAR_MISS) == 1, r.stderr  # once, not once per track
    for w in walks:
        assert _rows(out / f"{w.stem}.matched.geojson") == _rows(single / f"{w.stem}.geojson")
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == [w.name for w in walks]
    first = gw("match", "--network", net, "--track", walks[0], "--out", tmp / "one.geojson")
    figures = first.stdout.splitlines()[0]
    assert lines[0] == f"{walks[0].name} {figures}"  # the single mode's figures
    assert lines[3] == (
        "轨迹 3 条 · 已写入 3 · 失败 0 · 未计入任何路段 0 "
        "3 tracks · written 3 · failed 0 · nothing credited 0"
    )
    assert lines[4] == f"已写入汇总 {out / 'summary.csv'} wrote {out / 'summary.csv'}"
    rows = _summary(out)
    assert [row["track"] for row in rows] == [str(w) for w in walks]
    assert {row["status"] for row in rows} == {"written"}
    assert rows[0]["out"] == str(out / "w0.matched.geojson")
    assert rows[0]["edges"] == str(len(_rows(out / "w0.matched.geojson")))
    assert list(rows[0]) == ["track", "out", "status", "points", "matched", "edges",
                             "walked_m", "sigma_m", "reason", "warnings"]  # fmt: skip


def test_a_folder_as_track_takes_its_track_files_by_name(gw, demo):  # noqa: F811
    tmp, net, walks = demo
    folder = tmp / "folder"
    folder.mkdir()
    for w in reversed(walks):
        (folder / w.name).write_bytes(w.read_bytes())
    (folder / "notes.txt").write_text("not a track")
    (folder / ".hidden.csv").write_text("editor junk")
    out = tmp / "folder_out"
    r = gw("match", "--network", net, "--track", folder, "--out-dir", out, "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert [row["track"] for row in _summary(out)] == [str(folder / w.name) for w in walks]
    assert sorted(p.name for p in out.iterdir()) == [
        "summary.csv", "w0.matched.csv", "w1.matched.csv", "w2.matched.csv"
    ]  # fmt: skip

    empty = tmp / "empty_folder"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    r = gw("match", "--network", net, "--track", empty, "--out-dir", tmp / "never")
    _one_error(r, f"no track files (.csv, .gpx, .geojson, .json) in the folder {empty}")
    assert not (tmp / "never").exists()

    r = gw("match", "--network", net, "--track", folder, "--out-dir", folder)
    _one_error(r, "is the track folder", "choose another folder")


def test_a_bad_track_fails_alone_and_summary_says_why(gw, demo):  # noqa: F811
    tmp, net, walks = demo
    bad = tmp / "bad" / "broken.csv"
    bad.parent.mkdir()
    bad.write_text("lon,lat,time\n116.3,39.99,not a time\n")
    alone = gw("match", "--network", net, "--track", bad, "--out", tmp / "bad.geojson")
    assert alone.returncode == 2
    said = alone.stderr.strip().removeprefix("error: ")

    out = tmp / "with_bad"
    r = gw("match", "--network", net, "--track", walks[0], "--track", bad,
           "--track", walks[1], "--out-dir", out)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert f"broken.csv 失败，未写入：{said} (failed, not written)" in r.stdout.splitlines()
    assert "3 tracks · written 2 · failed 1 · nothing credited 0" in r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 3 条轨迹中有 1 条失败") and "1 of 3 tracks failed" in last
    assert sorted(p.name for p in out.iterdir()) == [
        "summary.csv", "w0.matched.geojson", "w1.matched.geojson"
    ]  # fmt: skip
    rows = {row["track"]: row for row in _summary(out)}
    assert rows[str(bad)]["status"] == "failed"
    assert rows[str(bad)]["reason"] == said
    assert rows[str(bad)]["out"] == "" and rows[str(bad)]["edges"] == ""
    assert rows[str(walks[1])]["status"] == "written"


def test_require_match_with_a_track_that_credits_nothing_exits_3(gw, demo):  # noqa: F811
    tmp, net, walks = demo
    far = tmp / "far.csv"
    out = tmp / "required"
    r = gw("match", "--network", net, "--track", walks[0], "--track", far, "--out-dir", out,
           "--require-match")  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert not (out / "far.matched.geojson").exists()
    assert (out / "w0.matched.geojson").exists()
    assert any(
        line.startswith("warning: far.csv: ") and "no street or alley within" in line
        for line in r.stderr.splitlines()
    ), r.stderr
    assert "nothing credited: not written (--require-match)" in r.stdout
    row = {row["track"]: row for row in _summary(out)}[str(far)]
    assert row["status"] == "empty" and row["out"] == "" and "no street" in row["reason"]

    # without it: the empty file is written, exit 0, as for one track
    out = tmp / "not_required"
    r = gw("match", "--network", net, "--track", walks[0], "--track", far, "--out-dir", out)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "far.matched.geojson").read_text())["features"] == []
    assert "2 tracks · written 1 · failed 0 · nothing credited 1" in r.stdout


def test_tracks_sharing_a_name_are_refused_before_any_work(gw, demo):  # noqa: F811
    tmp, net, walks = demo
    gpx = tmp / "clash" / "w0.gpx"
    gpx.parent.mkdir()
    gpx.write_text("<gpx/>")
    out = tmp / "clash_out"
    r = gw("match", "--network", net, "--track", walks[0], "--track", gpx, "--out-dir", out)
    _one_error(r, f"tracks {walks[0]} and {gpx} share a name", "rename one")
    assert r.stdout == "" and not out.exists()


def test_out_where_a_folder_is_wanted_says_which_to_use(gw, demo):  # noqa: F811
    tmp, net, walks = demo
    r = gw("match", "--network", net, "--track", walks[0], "--track", walks[1],
           "--out", tmp / "two.geojson")  # fmt: skip
    _one_error(r, "2 --track given", "use --out-dir for a folder, one file per track")
    assert r.stderr.index("请用 --out-dir") < r.stderr.index("use --out-dir")
    r = gw("match", "--network", net, "--track", walks[0], "--out", tmp / "a.geojson",
           "--out-dir", tmp / "d")  # fmt: skip
    _one_error(r, "give one, --out for one track's file, --out-dir for several tracks")
    r = gw("match", "--network", net, "--track", walks[0])
    _one_error(r, "missing output: give --out for one track's file, or --out-dir")
    r = gw("match", "--network", net, "--track", walks[0], "--out", tmp / "a.geojson",
           "--format", "csv")  # fmt: skip
    _one_error(r, "--format csv goes with --out-dir")
    r = gw("match", "--network", net, "--track", walks[0], "--out-dir", tmp / "d",
           "--format", "shp")  # fmt: skip
    _one_error(r, "--format shp is not supported: use geojson, gpkg or csv")
    assert not (tmp / "a.geojson").exists() and not (tmp / "d").exists()
    # one track into a folder is fine
    r = gw("match", "--network", net, "--track", walks[0], "--out-dir", tmp / "d")
    assert r.returncode == 0 and (tmp / "d" / "w0.matched.geojson").exists(), r.stderr


def test_outputs_are_checked_before_any_matching(gw, demo):  # noqa: F811
    tmp, net, walks = demo
    args = [a for w in walks for a in ("--track", w)]
    a_file = tmp / "a_file"
    a_file.write_text("keep")
    r = gw("match", "--network", net, *args, "--out-dir", a_file)
    _one_error(r, f"--out-dir {a_file} exists and is not a folder")
    r = gw("match", "--network", net, *args, "--out-dir", "/dev/null")
    _one_error(r, "--out-dir /dev/null exists and is not a folder")

    out = tmp / "checked"
    out.mkdir()
    os.mkfifo(out / "w1.matched.geojson")
    r = gw("match", "--network", net, *args, "--out-dir", out)
    _one_error(r, "is a named pipe (FIFO), not a regular file", str(out / "w1.matched.geojson"))
    # it names the option given (--out-dir), not an --out never typed, and the remedy
    _one_error(r, f"--out-dir output {out / 'w1.matched.geojson'} is a named pipe", "--out-dir")
    assert "choose another --out-dir" in r.stderr and "请换一个输出文件夹" in r.stderr, r.stderr
    assert r.stdout == "" and sorted(p.name for p in out.iterdir()) == ["w1.matched.geojson"]
    os.unlink(out / "w1.matched.geojson")

    # an output that is an input (here through a hard link): named as that input
    os.link(walks[2], out / "w0.matched.geojson")
    r = gw("match", "--network", net, *args, "--out-dir", out)
    _one_error(r, f"--out-dir output {out / 'w0.matched.geojson'} is the track file; choose "
               "another --out-dir", "就是轨迹文件，请换一个输出文件夹")  # fmt: skip
    assert "--out " not in r.stderr  # the option given, not --out (H1)
    assert (out / "w0.matched.geojson").read_bytes() == walks[2].read_bytes()
    assert r.stdout == ""


def test_a_folder_skips_what_a_batch_wrote_there(gw, demo):  # noqa: F811
    """T58 F6: --out-dir the folder of the --track files (given one by one) is accepted; the
    next run reading that folder skips the outputs and summary.csv, saying how many."""
    tmp, net, walks = demo
    folder = tmp / "polluted"
    folder.mkdir()
    for w in walks[:2]:
        (folder / w.name).write_bytes(w.read_bytes())
    args = [a for w in walks[:2] for a in ("--track", folder / w.name)]
    r = gw("match", "--network", net, *args, "--out-dir", folder, "--format", "csv")
    assert r.returncode == 0, r.stderr
    r = gw("match", "--network", net, "--track", folder, "--out-dir", tmp / "polluted_out")
    assert r.returncode == 0, r.stderr
    assert "2 tracks · written 2 · failed 0" in r.stdout
    assert [row["track"] for row in _summary(tmp / "polluted_out")] == [
        str(folder / w.name) for w in walks[:2]
    ]
    said = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert said == [
        f"warning: 文件夹 {folder} 中有 3 个文件是批量匹配写出的（*.matched.*、summary.csv），"
        f"未当作轨迹读入 skipped 3 file(s) in {folder} that a batch match writes "
        "(*.matched.*, summary.csv): not read as tracks"
    ]


def test_summary_cells_are_no_formulas(gw, demo, monkeypatch):  # noqa: F811
    """T58 F7: a track named like a formula is written with a leading ' in summary.csv, as
    the report CSVs write it."""
    tmp, net, walks = demo
    inj = tmp / "inj"
    inj.mkdir()
    names = ['=HYPERLINK("http:x","y").csv', "+SUM(1,2).csv", "@cmd.csv"]
    for name in names:
        (inj / name).write_bytes(walks[0].read_bytes())
    monkeypatch.chdir(inj)
    args = [a for name in names for a in ("--track", name)]
    r = gw("match", "--network", net, *args, "--out-dir", "=out")
    assert r.returncode == 0, r.stderr
    rows = _summary(inj / "=out")
    assert [row["track"] for row in rows] == ["'" + name for name in names]
    assert rows[0]["out"] == '\'=out/=HYPERLINK("http:x","y").matched.geojson'
    assert rows[0]["walked_m"] == str(float(rows[0]["walked_m"]))  # figures as they were
    raw = (inj / "=out" / "summary.csv").read_text(encoding="utf-8-sig")
    assert "\n=" not in raw and ',"=' not in raw and ",=" not in raw


@pytest.mark.parametrize("place", ["/proc/1", "/sys/kernel"])
def test_an_out_dir_that_takes_no_file_is_refused_before_matching(gw, demo, place):  # noqa: F811
    """T58 F9, F10: a place the file system refuses (even to root, which os.access lets
    through) is told before any matching, naming --out-dir."""
    if not Path(place).is_dir():
        pytest.skip(f"no {place} here")
    tmp, net, walks = demo
    args = [a for w in walks for a in ("--track", w)]
    r = gw("match", "--network", net, *args, "--out-dir", place)
    _one_error(r, f"无法写入输出文件夹 --out-dir {place}", f"cannot write in --out-dir {place}")
    assert "--out " not in r.stderr and r.stdout == ""
    r = gw("match", "--network", net, *args, "--out-dir", f"{place}/new/folder")
    _one_error(r, f"cannot write in --out-dir {place}/new/folder", f"made in {place} (")
    assert r.stdout == ""


def test_one_file_given_twice_is_matched_once_with_a_warning(gw, demo):  # noqa: F811
    """T58 F11: the same file twice (or again through its folder) is no name clash."""
    tmp, net, walks = demo
    out = tmp / "twice"
    r = gw("match", "--network", net, "--track", walks[0], "--track", walks[0],
           "--track", walks[0].parent, "--out-dir", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    warned = f"warning: 轨迹文件 {walks[0]} 重复给出，只匹配一次 track file {walks[0]} given "
    assert r.stderr.count(warned + "more than once: matched once") == 2, r.stderr
    assert [row["track"] for row in _summary(out)] == [str(w) for w in walks]
    assert "3 tracks · written 3" in r.stdout


def test_a_name_with_a_line_break_is_refused_before_matching(gw, demo):  # noqa: F811
    """T58 F12: GDAL cannot write an output named after it: refused up front, not after
    the other tracks were matched (leaving a partial file)."""
    tmp, net, walks = demo
    weird = tmp / "weird"
    weird.mkdir()
    (weird / "line\nbreak.csv").write_bytes(walks[0].read_bytes())
    (weird / "ok.csv").write_bytes(walks[1].read_bytes())
    out = tmp / "weird_out"
    r = gw("match", "--network", net, "--track", weird, "--out-dir", out)
    _one_error(r, "track file name 'line\\nbreak.csv' in", "rename it", "轨迹文件名")
    assert r.stdout == "" and not out.exists()
    r = gw("match", "--network", net, "--track", walks[0], "--out-dir", tmp / "a\nb")
    _one_error(r, "--out-dir", "holds a control character")
    assert r.stdout == ""

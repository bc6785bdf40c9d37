"""Bad input to the track commands, as a user types it: exit code 2 and one `error:` line,
never a traceback, and nothing written (`gridward match`, `tracks check`, `tracks upload`)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo.crs import wgs84_to_gcj02
from tests.test_assign_cli import Result, run_inproc  # noqa: F401 (a fixture)
from tests.test_tracks_match import _csv, _grid_network, _walk

WALKED = {"h0_0", "h0_1", "h0_2", "v3_0"}


@pytest.fixture
def gw(run_inproc):  # noqa: F811 (the imported fixture)
    """The console entry point in-process (tests.test_assign_cli's runner), paths as text."""
    return lambda *args: run_inproc(*map(str, args))


@pytest.fixture
def files(tmp_path):
    """A WGS-84 grid network, a walk along it as CSV, and the same walk as a GCJ-02 app
    writes it."""
    segs = _grid_network(3)
    net = tmp_path / "network.geojson"
    segs.to_file(net, driver="GeoJSON")
    pts = _walk(np.array([(0, 0), (300, 0), (300, 100)]), noise=3.0)
    track = tmp_path / "track.csv"
    track.write_bytes(_csv(pts, pts["lon"], pts["lat"]))
    gcj = tmp_path / "amap.csv"
    gcj.write_bytes(_csv(pts, *wgs84_to_gcj02(pts["lon"].to_numpy(), pts["lat"].to_numpy())))
    return tmp_path, segs, pts, net, track, gcj


def _one_error(r: Result, *words: str) -> None:
    """Exit 2 and exactly one stderr line, `error: …`, containing each of ``words``."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _edges(path) -> set[str]:
    fc = json.loads(path.read_text())
    return {f["properties"]["edge_id"] for f in fc["features"]}


# -- 1. coordinates that are not longitude/latitude


def test_network_in_metres_without_crs_member_is_one_error(gw, files):
    tmp, segs, _, _, track, _ = files
    net = tmp / "utm.geojson"
    fc = json.loads(segs.to_crs("EPSG:32650").to_json())
    del fc["crs"]  # without a "crs" member a GeoJSON is WGS 84 (RFC 7946)
    net.write_text(json.dumps(fc))
    out = tmp / "m.geojson"
    r = gw("match", "--network", net, "--track", track, "--out", out)
    _one_error(r, "not longitude/latitude", "x=441000", '"crs"', "WGS 84")
    assert not out.exists()


def test_network_in_metres_with_crs_member_matches(gw, files):
    tmp, segs, _, _, track, _ = files
    net = tmp / "utm.gpkg"
    segs.to_crs("EPSG:32650").to_file(net, driver="GPKG")
    out = tmp / "m.geojson"
    r = gw("match", "--network", net, "--track", track, "--out", out)
    assert r.returncode == 0, r.stderr
    assert _edges(out) >= WALKED


def test_track_in_metres_needs_its_crs(gw, files):
    tmp, _, pts, net, lonlat, _ = files
    p = gpd.GeoSeries(gpd.points_from_xy(pts["lon"], pts["lat"]), crs=4326).to_crs(32650)
    track = tmp / "utm.csv"
    track.write_bytes(_csv(pts, p.x, p.y))
    out = tmp / "m.geojson"
    r = gw("match", "--network", net, "--track", track, "--out", out)
    _one_error(r, "not longitude/latitude", "EPSG")
    assert not out.exists()
    r = gw("match", "--network", net, "--track", track, "--out", out, "--crs", "EPSG:32650")
    assert r.returncode == 0, r.stderr
    assert _edges(out) >= WALKED
    # degrees declared as metres: refused, not matched somewhere near the equator
    r = gw("match", "--network", net, "--track", lonlat, "--out", out, "--crs", "EPSG:32650")
    _one_error(r, "look like longitude/latitude", "EPSG:32650")


# -- 2. --out


@pytest.mark.parametrize("name", ["folder", "folder/", "/proc/x.geojson", "m.txt"])
def test_bad_out_is_one_error_before_any_work(gw, files, name):
    tmp, _, _, net, track, _ = files
    (tmp / "folder").mkdir()
    out = name if name.startswith("/") else str(tmp / name)
    r = gw("match", "--network", net, "--track", track, "--out", out)
    _one_error(r, "--out" if name != "/proc/x.geojson" else "/proc/x.geojson")
    assert r.stdout == ""  # refused before matching
    assert sorted(p.name for p in tmp.iterdir()) == [
        "amap.csv",
        "folder",
        "network.geojson",
        "track.csv",
    ]


def test_out_writes_what_its_extension_says(gw, files):
    from geo.vector_io import read_vector

    tmp, _, _, net, track, _ = files
    for name in ("m.geojson", "m.gpkg", "m.csv", "m"):
        r = gw("match", "--network", net, "--track", track, "--out", tmp / name)
        assert r.returncode == 0, r.stderr
    geo = gpd.read_file(tmp / "m.geojson")
    # no suffix: GeoJSON, as the command wrote before it learned other formats
    bare = gpd.read_file(tmp / "m")
    assert list(bare["edge_id"]) == list(geo["edge_id"])
    gpkg = gpd.read_file(tmp / "m.gpkg")
    csv = read_vector(tmp / "m.csv")  # the WKT geometry column reads back
    assert (tmp / "m.csv").read_bytes()[:3] == b"\xef\xbb\xbf"  # a BOM: Excel reads UTF-8
    for g in (gpkg, csv):
        assert list(g["edge_id"].astype(str)) == list(geo["edge_id"])
        assert g.geometry.geom_equals_exact(geo.geometry, 1e-7).all()
    assert not [p for p in tmp.iterdir() if "partial" in p.name]


# -- 3. datum


def test_gcj02_track_read_as_wgs84_warns_on_stderr(gw, files):
    tmp, _, _, net, track, gcj = files
    out = tmp / "m.geojson"
    r = gw("match", "--network", net, "--track", gcj, "--out", out)
    assert r.returncode == 0, r.stderr
    warn = [w for w in r.stderr.splitlines() if w.startswith("warning: ")]
    assert len(warn) == 1 and "GCJ-02" in warn[0] and "--crs gcj02" in warn[0], r.stderr
    # this command's remedy, once in each language; not the API's crs= (T37 F14)
    assert "请用 --crs gcj02 重新匹配" in warn[0] and warn[0].count("--crs gcj02") == 2, warn
    assert "crs=" not in warn[0] and warn[0].endswith("match it again with --crs gcj02"), warn
    assert not _edges(out) & WALKED  # matched as asked (wgs84): not silently corrected
    r = gw("match", "--network", net, "--track", gcj, "--out", out, "--crs", "gcj02")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert _edges(out) >= WALKED
    r = gw("match", "--network", net, "--track", track, "--out", out)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_match_refuses_an_unknown_crs(gw, files):
    tmp, _, _, net, track, _ = files
    r = gw("match", "--network", net, "--track", track, "--out", tmp / "m.geojson", "--crs", "xx")
    _one_error(r, "unknown CRS 'xx'")


# -- 4. folders


def test_a_folder_is_named_as_a_folder(gw, files):
    tmp, _, _, net, track, _ = files
    out = tmp / "m.geojson"
    _one_error(gw("match", "--network", net, "--track", tmp, "--out", out), "is a folder", "*.gpx")
    _one_error(gw("match", "--network", tmp, "--track", track, "--out", out), "is a folder")
    r = gw("tracks", "check", tmp)
    assert (
        r.returncode == 2
        and f"不能上传 ERROR {tmp}: {tmp} 是文件夹，请给出其中的文件" in r.stdout
        and f"{tmp} is a folder: pass the files" in r.stdout
    ), r.stdout


# -- 6. messages and help


def test_duplicate_ids_of_mixed_types_print_the_plain_value(gw, files):
    tmp, _, _, net, track, _ = files
    fc = json.loads(net.read_text())
    for i, f in enumerate(fc["features"]):
        f["properties"]["edge_id"] = i
    fc["features"][2]["properties"]["edge_id"] = "1"  # GDAL reads the column as integers
    dup = tmp / "dup.geojson"
    dup.write_text(json.dumps(fc))
    r = gw("match", "--network", dup, "--track", track, "--out", tmp / "m.geojson")
    _one_error(r, "not unique (e.g. 1)")
    assert "np." not in r.stderr


def test_help_names_every_tracks_command_and_epsg(gw):
    flat = " ".join(gw("tracks", "--help").stdout.split())
    for cmd in ("check", "upload", "worker", "rematch", "drop-fixes"):
        assert cmd in flat
        assert cmd in flat[: flat.index("Options")]  # in the group's description too
    for args in (("match", "--help"), ("tracks", "check", "--help")):
        assert "EPSG" in " ".join(gw(*args).stdout.split())


# -- 4, 5, 6 for `tracks upload` (api/cli_patrol.py, with the helpers of api/cli_tracks.py)


def test_upload_names_a_folder_and_prints_one_line_per_file(pg_url, tmp_path):
    from tests.test_import import run_cli

    bad = tmp_path / f"{'steward_walk_' * 6}truncated.gpx"  # a long name: > 80 columns
    bad.write_text("<gpx><trk><trkseg><trkpt lat='40' lon='116'>")
    res = run_cli(["tracks", "upload", str(tmp_path), str(bad)], pg_url)  # stdout is a pipe
    assert res.returncode == 2, res.stderr
    lines = res.stdout.splitlines()
    assert f"{tmp_path} is a folder: pass the files" in res.stdout, res.stdout
    line = next(x for x in lines if x.startswith(bad.name))
    assert "malformed or truncated XML" in line and "no element found" in line, res.stdout
    # no bar where nobody watches: in a log (2>&1) it ran into a file's line (T62 #6)
    assert "uploading" not in res.stderr and "━" not in res.stderr, res.stderr


def test_upload_help_lists_epsg_codes(gw):
    assert "EPSG" in " ".join(gw("tracks", "upload", "--help").stdout.split())


# -- 7. `tracks check` says OK exactly when `tracks upload` would store the file


@pytest.fixture
def settings_env(monkeypatch):
    """Set GRIDWARD_* variables for one test: the cached settings are read again, before and
    after (monkeypatch restores the environment)."""
    from geo.settings import get_settings

    def set_env(**env: str) -> None:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()

    get_settings.cache_clear()
    yield set_env
    get_settings.cache_clear()


def _local_csv(tmp_path, name: str, first: pd.Timestamp, n: int = 20) -> Path:
    """A short walk with zone-less wall-clock times from ``first`` (5 s apart)."""
    rows = "\n".join(
        f"{116.3160 + i * 0.00005:.7f},{39.9950:.7f},"
        f"{(first + pd.Timedelta(seconds=5 * i)).strftime('%Y-%m-%d %H:%M:%S')}"
        for i in range(n)
    )
    path = tmp_path / name
    path.write_text(f"lon,lat,time\n{rows}\n")
    return path


def test_check_refuses_future_and_out_of_order_times_as_upload_does(gw, files):
    tmp = files[0]
    now = pd.Timestamp.now(tz="Asia/Shanghai").tz_localize(None).floor("s")
    future = _local_csv(tmp, "future.csv", now + pd.Timedelta(days=2))
    later = _local_csv(tmp, "later.csv", now + pd.Timedelta(hours=1))  # dated ahead to claim
    fine = _local_csv(tmp, "fine.csv", now - pd.Timedelta(hours=2))
    # Beijing clock times of a walk just done, marked as UTC: 8 h ahead
    marked = tmp / "marked.csv"
    head_, *rows_ = (
        _local_csv(tmp, "m.csv", now - pd.Timedelta(minutes=30)).read_text().splitlines()
    )
    marked.write_text("\n".join([head_, *(r.replace(" ", "T") + "Z" for r in rows_)]) + "\n")
    text = fine.read_text().splitlines()
    swapped = tmp / "swapped.csv"  # two blocks in the wrong order (back 100 s once): sorted
    swapped.write_text("\n".join([text[0], *text[11:], *text[1:11]]) + "\n")
    rows = _local_csv(tmp, "long.csv", now - pd.Timedelta(hours=3), n=40).read_text()
    head, *body = rows.splitlines()
    shuffled = tmp / "shuffled.csv"  # five blocks of 8 in reverse: back 75 s four times
    blocks = [body[i : i + 8] for i in range(0, 40, 8)][::-1]
    shuffled.write_text("\n".join([head, *(r for b in blocks for r in b)]) + "\n")
    r = gw("tracks", "check", future, later, marked, shuffled, swapped, fine)
    assert r.returncode == 2, r.stdout
    lines = {x.split(": ", 1)[0].split()[-1]: x for x in r.stdout.splitlines()}
    assert lines[str(future)].startswith(f"不能上传 ERROR {future}: 轨迹时间晚于当前时间："), lines
    assert "比现在晚" in lines[str(future)] and "the walk ends in the future" in r.stdout
    assert f"ERROR {later}: 轨迹时间晚于当前时间" in r.stdout, r.stdout
    assert f"ERROR {marked}: 轨迹时间晚于当前时间" in r.stdout, r.stdout
    assert "the city's UTC offset (+8 h): local clock times read as UTC" in r.stdout
    # the Chinese says it all too: the local end, how far ahead, the cause and the remedy
    marked_line = lines[str(marked)]
    zh = marked_line[: marked_line.index(" the walk ends in the future")]
    assert "本地时间" in zh and "小时" in zh, zh
    assert "本市与 UTC 的时差（+8 小时）" in zh and "没有写时区" in zh and "当作 UTC" in zh, zh
    assert "+08:00" in zh and "带时区导出" in zh, zh
    future_zh = lines[str(future)][: lines[str(future)].index(" the walk ends")]
    assert "设备时钟" in future_zh and "时差" not in future_zh, future_zh
    assert (
        f"ERROR {shuffled}: 定位点时间顺序混乱，文件像是被打乱：有 4 处" in r.stdout
        and "timestamps out of order" in r.stdout
    ), r.stdout
    for ok in (swapped, fine):
        assert f"可上传 OK    {ok}: csv，20 个定位点" in r.stdout, r.stdout
        assert "csv, 20 points" in lines[str(ok)], r.stdout
    assert "4 of 6 track file(s) rejected" in r.stderr


def test_check_reads_times_in_the_configured_time_zone(gw, files, settings_env):
    """Zone-less times are GRIDWARD_TIMEZONE's: 6 h ahead of UTC on the wall clock is 2 h
    ago in Beijing but 18 h ahead at UTC-12 (the future)."""
    tmp = files[0]
    wall = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s") + pd.Timedelta(hours=6)
    track = _local_csv(tmp, "wall.csv", wall)
    assert gw("tracks", "check", track).returncode == 0
    settings_env(GRIDWARD_TIMEZONE="Etc/GMT+12")  # POSIX sign: UTC-12
    r = gw("tracks", "check", track)
    assert r.returncode == 2 and "the walk ends in the future" in r.stdout, r.stdout


def test_check_and_match_use_the_configured_upload_limit(gw, files, settings_env):
    tmp, _, _, net, track, _ = files
    size = track.stat().st_size
    out = tmp / "m.geojson"
    settings_env(GRIDWARD_MAX_UPLOAD_BYTES=str(size - 1))
    r = gw("tracks", "check", track)
    assert r.returncode == 2, r.stdout
    assert (
        f"ERROR {track}: 文件过大：文件超过 {size - 1:,} 字节的上限 "
        f"file too large: more than {size - 1:,} bytes" in r.stdout
    ), r.stdout
    _one_error(gw("match", "--network", net, "--track", track, "--out", out), "file too large")
    assert not out.exists()
    r = gw("match", "--network", net, "--track", track, "--out", out, "--max-mb", "1")
    assert r.returncode == 0 and out.exists(), r.stderr  # --max-mb still overrides it
    _one_error(
        gw("match", "--network", net, "--track", track, "--out", out, "--max-mb", "0"),
        "--max-mb must be more than 0",
    )
    settings_env(GRIDWARD_MAX_UPLOAD_BYTES=str(size))
    assert gw("tracks", "check", track).returncode == 0


def test_check_refuses_an_unknown_mode_as_upload_does(gw, files):
    _one_error(gw("tracks", "check", files[4], "--mode", "car"), "unknown mode 'car'")


def test_a_zoneless_gpx_in_local_time_is_named_so_hours_after_the_walk(gw, tmp_path):
    """A GPX written in Beijing clock time without a zone is read as UTC (GPX's rule): sent
    three hours after the walk it is 5 h "in the future". The refusal named the device clock
    unless the walk had just ended (outside tester T37, F1); it names the missing zone and
    the walk's real end now. The same times with a zone, or in a CSV, are fine."""
    now = pd.Timestamp.now(tz="Asia/Shanghai").tz_localize(None).floor("s")
    start = now - pd.Timedelta(hours=3)
    pts = "".join(
        f'<trkpt lat="{39.999 + k * 1e-4:.6f}" lon="116.32"><time>'
        f"{(start + pd.Timedelta(seconds=10 * k)).isoformat()}{{zone}}</time></trkpt>"
        for k in range(20)
    )
    body = f'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{pts}'
    zoneless, zoned = tmp_path / "local.gpx", tmp_path / "zoned.gpx"
    zoneless.write_text(body.replace("{zone}", "") + "</trkseg></trk></gpx>")
    zoned.write_text(body.replace("{zone}", "+08:00") + "</trkseg></trk></gpx>")
    r = gw("tracks", "check", zoneless, zoned)
    line = next(x for x in r.stdout.splitlines() if str(zoneless) in x)
    zh = line[: line.index(" the walk ends in the future")]
    end = (start + pd.Timedelta(seconds=190)).strftime("%Y-%m-%d %H:%M")
    assert "没有写时区" in zh and f"结束于 {end}" in zh and "+08:00" in zh, zh
    assert "设备时钟" not in zh, zh
    assert f"read as local time the walk ended at {end}" in line, line
    assert f"可上传 OK    {zoned}" in r.stdout, r.stdout


def test_reassign_names_both_people(monkeypatch, capsys) -> None:
    """Outside tester T37, #11: 'tracks reassign' named the new person and gave the old one as
    人员（系统编号 id:194） only. Both are named, with their registry ids."""
    import api.cli_patrol as cli_patrol
    import geo.db
    import geo.track_store
    from api.cli_people import Person

    people = {
        194: Person(194, "T020", "吴离", True),
        "DEMO0032": Person(32, "DEMO0032", "王超", True),
    }
    monkeypatch.setattr(geo.db, "get_engine", lambda: None)
    monkeypatch.setattr(cli_patrol, "resolve_person", lambda _engine, value: people[value])
    monkeypatch.setattr(
        geo.track_store, "set_track_person", lambda *_a: {"before": 194, "changed": True}
    )
    cli_patrol.reassign(track=38, person="DEMO0032")
    assert capsys.readouterr().out.strip() == (
        "轨迹 38：吴离（人员编号 T020，系统编号 id:194） -> 王超（人员编号 DEMO0032，系统编号 "
        "id:32），其巡查记录现计入此人 track 38: 吴离 (person 194) -> 王超 (person 32); its "
        "visits credit them now"
    )

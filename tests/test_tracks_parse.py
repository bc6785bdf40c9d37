"""Parsing uploads: each shared GPX sample parses or fails with the reason the README gives."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.crs import wgs84_to_gcj02
from geo.errors import InputError
from geo.tracks.clean import CleanParams, clean_track
from geo.tracks.parse import parse_track, read_limited

# Outcome per file, from /work/shared/data/README.md section 4 (None = parses).
EXPECTED = {
    "derived_malformed/250808726_truncated_at_15000_bytes.gpx": "truncated",
    "garmin_connect_beijing/220267559.gpx": None,
    "garmin_connect_beijing/250808726.gpx": None,
    "garmin_connect_beijing/86794602.gpx": None,
    "gpxpy_test_files/cerknicko-jezero.gpx": None,
    "gpxpy_test_files/cerknicko-jezero-no-creator.gpx": None,
    "gpxpy_test_files/cerknicko-without-times.gpx": "no times",
    "gpxpy_test_files/track-with-extremes.gpx": "no times",
    "gpxpy_test_files/gpx_with_garmin_extension.gpx": "only waypoints",
    "gpxpy_test_files/unicode.gpx": "only waypoints",
    "gpxpy_test_files/unicode_with_bom.gpx": "only waypoints",
    "gpxpy_test_files/unicode_with_bom_noencoding.gpx": "only waypoints",
    "gpxpy_test_files/gpx1.1_with_extensions.gpx": "only waypoints",
    "gpxpy_test_files/route.gpx": "no times",
    "gpxpy_test_files/korita-zbevnica.gpx": None,
    "gpxpy_test_files/track-with-empty-segment.gpx": None,
    "gpxpy_test_files/around-visnjan-with-car.gpx": None,
}


def test_every_gpx_sample_parses_or_says_why(shared_data):
    files = sorted((shared_data / "gpx_samples").rglob("*.gpx"))
    assert len(files) == 25
    for f in files:
        rel = f.relative_to(shared_data / "gpx_samples").as_posix()
        try:
            p = parse_track(f.read_bytes(), f.name)
        except InputError as exc:
            assert exc.message and len(exc.message) > 15
            if rel in EXPECTED:
                assert EXPECTED[rel] is not None, f"{rel} should parse: {exc.message}"
                assert EXPECTED[rel] in exc.message, (rel, exc.message)
            continue
        assert EXPECTED.get(rel) is None, f"{rel} should fail with {EXPECTED[rel]}"
        pts = p.points
        assert len(pts) >= 1
        assert str(pts["time"].dt.tz) == "UTC"
        assert pts["time"].is_monotonic_increasing
        assert pts["lon"].between(-180, 180).all() and pts["lat"].between(-90, 90).all()


def test_garmin_track_is_in_beijing(shared_data):
    f = shared_data / "gpx_samples/garmin_connect_beijing/220267559.gpx"
    p = parse_track(f.read_bytes(), f.name)
    assert p.format == "gpx" and len(p.points) == 3126  # README: 3,126 points
    assert p.points["lon"].between(116, 117).all() and p.points["lat"].between(39.5, 40.5).all()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<gpx><trk><trkseg><trkpt lat="40" lon="116"><time>&lol3;</time></trkpt></trkseg></trk></gpx>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<gpx><trk><name>&xxe;</name><trkseg><trkpt lat="40" lon="116"><time>2026-01-01T00:00:00Z</time>
</trkpt></trkseg></trk></gpx>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL])
def test_hostile_xml_rejected(payload):
    with pytest.raises(InputError, match="GPX rejected"):
        parse_track(payload, "evil.gpx")


def test_csv_chinese_headers_local_time():
    csv = (
        "经度,纬度,定位时间,精度\n"
        "116.3200,40.0000,2026-03-02 08:00:00,5\n"
        "116.3201,40.0001,2026-03-02 08:00:05,7\n"
    )
    p = parse_track(csv.encode("utf-8"), "巡查.csv")
    assert p.format == "csv"
    # 08:00 Beijing time is 00:00 UTC
    assert p.points["time"].iloc[0] == pd.Timestamp("2026-03-02T00:00:00Z")
    assert list(p.points["accuracy"]) == [5.0, 7.0]
    # GBK-encoded spreadsheets work too
    assert len(parse_track(csv.encode("gb18030"), "x.csv").points) == 2


def test_csv_epoch_and_geojson_point_features():
    csv = "lon,lat,timestamp\n116.32,40.0,1772409600000\n116.3201,40.0,1772409605000\n"
    p = parse_track(csv.encode(), "t.csv")
    assert p.points["time"].iloc[1] - p.points["time"].iloc[0] == pd.Timedelta(seconds=5)
    gj = (
        '{"type":"FeatureCollection","features":['
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[116.32,40.0]},'
        '"properties":{"time":"2026-03-02T00:00:05Z"}},'
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[116.33,40.0]},'
        '"properties":{"time":"2026-03-02T00:00:00Z"}}]}'
    )
    p = parse_track(gj.encode(), "t.geojson")
    assert list(p.points["source_index"]) == [1, 0]  # sorted by time


@pytest.mark.parametrize(
    ("data", "name", "crs", "reason"),
    [
        (b"lon,lat,time\n", "a.csv", "wgs84", "no points"),
        (b"lon,lat\n116,40\n", "a.csv", "wgs84", "no time"),
        (b"lon,lat,time\nnan,40,2026-01-01T00:00:00Z\n", "a.csv", "wgs84", "finite"),
        (b"lon,lat,time\n40,116.3,2026-01-01T00:00:00Z\n", "a.csv", "wgs84", "swapped"),
        (b"lon,lat,time\n116,95,2026-01-01T00:00:00Z\n", "a.csv", "wgs84", "range"),
        (b"lon,lat,time\n116,40,2026-01-01T00:00:00Z\n", "a.csv", "foo-datum", "unknown CRS"),
        (b"\x00\x01\x02PK\x03\x04binary", "a.gpx", "wgs84", "binary"),
        (b"<gpx><trk><trkseg><trkpt lat='40' lon='116'>", "a.gpx", "wgs84", "truncated"),
        (b'{"type": "FeatureCollection", "features": []}', "a.geojson", "wgs84", "no points"),
    ],
)
def test_bad_inputs_name_the_problem(data, name, crs, reason):
    with pytest.raises(InputError, match=reason):
        parse_track(data, name, crs=crs)


def test_size_limit_while_streaming():
    with pytest.raises(InputError, match="too large"):
        read_limited(io.BytesIO(b"x" * 5000), max_bytes=4096)
    assert read_limited(io.BytesIO(b"x" * 100), max_bytes=4096) == b"x" * 100
    with pytest.raises(InputError, match="too large"):
        parse_track(b"x" * 200, "a.csv", max_bytes=100)


@settings(max_examples=30, deadline=None)
@given(
    lon=st.floats(73.7, 134.7),
    lat=st.floats(18.2, 53.4),
    offs=st.lists(st.floats(-0.01, 0.01), min_size=2, max_size=20),
)
def test_gcj02_input_converts_back(lon, lat, offs):
    lons = lon + np.asarray(offs)
    lats = np.full(len(offs), lat)
    glon, glat = wgs84_to_gcj02(lons, lats)
    rows = "\n".join(
        f"{x:.10f},{y:.10f},2026-03-02T00:{i // 60:02d}:{i % 60:02d}Z"
        for i, (x, y) in enumerate(zip(glon, glat, strict=True))
    )
    p = parse_track(f"lon,lat,time\n{rows}\n".encode(), "g.csv", crs="gcj02")
    assert np.allclose(p.points["lon"], lons, atol=1e-7)
    assert np.allclose(p.points["lat"], lats, atol=1e-7)


def test_gap_of_30_minutes_gives_two_pieces():
    t0 = pd.Timestamp("2026-03-02T00:00:00Z")
    times = [t0 + pd.Timedelta(seconds=5 * i) for i in range(40)]
    times += [times[-1] + pd.Timedelta(minutes=30) + pd.Timedelta(seconds=5 * i) for i in range(40)]
    pts = pd.DataFrame(
        {
            "lon": 116.32 + np.arange(80) * 5e-5,
            "lat": 40.0,
            "time": times,
            "accuracy": np.nan,
            "source_index": np.arange(80),
        }
    )
    pieces = clean_track(pts, CleanParams())
    assert len(pieces) == 2
    assert [len(p) for p in pieces] == [40, 40]
    assert list(pieces[1]["piece"].unique()) == [1]


def test_jump_and_duplicate_dropped():
    t0 = pd.Timestamp("2026-03-02T00:00:00Z")
    n = 30
    lon = 116.32 + np.arange(n) * 4e-5  # ~3.4 m per 3 s
    lon[15] += 0.01  # an 850 m jump
    times = [t0 + pd.Timedelta(seconds=3 * i) for i in range(n)]
    times[20] = times[19]
    pts = pd.DataFrame({"lon": lon, "lat": 40.0, "time": times, "accuracy": np.nan})
    from geo.tracks.clean import clean_with_report

    pieces, rep = clean_with_report(pts, CleanParams())
    assert rep.jumps == 1 and rep.duplicate_times == 1
    assert sum(len(p) for p in pieces) == n - 2


def test_a_burst_of_outliers_is_dropped_and_the_walk_round_it_kept():
    """Six fixes in a row 300 m off (multipath near tall buildings), then the walk goes on
    where it was. More than ``max_rejects`` in a row used to be taken as the walker's new
    position: the burst was kept, and the ride rule then dropped 26 good fixes round it and cut
    the track in two (an outside tester)."""
    from geo.tracks.clean import clean_with_report

    n = 140
    t = pd.Timestamp("2026-03-02T00:00:00Z") + pd.to_timedelta(np.arange(n) * 3.0, unit="s")
    x, y = np.arange(n) * 3.9, np.zeros(n)  # 1.3 m/s east
    burst = np.arange(20, 26)
    x[burst] += 240.0
    y[burst] += 180.0
    pts = pd.DataFrame(
        {"lon": 116.32 + x / 85_000, "lat": 40.0 + y / 111_000, "time": t, "accuracy": np.nan}
    )
    pts["source_index"] = np.arange(n)
    pieces, rep = clean_with_report(pts, CleanParams())
    assert (rep.jumps, rep.too_fast, len(pieces)) == (6, 0, 1), rep
    kept = pd.concat(pieces)["source_index"].to_numpy()
    assert sorted(set(range(n)) - set(kept)) == burst.tolist()


def test_noisy_walk_keeps_its_fixes_and_loses_its_outliers():
    """At 20 m phone noise two honest fixes 2 s apart are often 40–60 m apart: the jump
    allowance grows with the track's measured noise, so only the injected 300 m outliers go
    (a fixed 30 m allowance dropped about a quarter of such a walk)."""
    from geo.tracks.clean import clean_with_report

    rng = np.random.default_rng(3)
    n = 600
    t = pd.Timestamp("2026-03-02T00:00:00Z") + pd.to_timedelta(np.arange(n) * 2.0, unit="s")
    x = np.arange(n) * 2.6 + rng.normal(0, 20, n)  # 1.3 m/s east, 20 m noise per axis
    y = rng.normal(0, 20, n)
    bad = np.array([100, 250, 400, 520])
    y[bad] += 300.0
    lon, lat = 116.32 + x / 85_000, 40.0 + y / 111_000
    pts = pd.DataFrame({"lon": lon, "lat": lat, "time": t, "accuracy": np.nan})
    pts["source_index"] = np.arange(n)
    pieces, rep = clean_with_report(pts, CleanParams())
    kept = pd.concat(pieces)["source_index"].to_numpy()
    assert not set(bad) & set(kept)
    assert rep.jumps <= len(bad) + 6, rep
    assert len(kept) >= n - len(bad) - 6


def test_geojson_linestring_with_coord_times_and_gpx_route_with_times():
    gj = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[116.32, 40.0], [116.321, 40.0]]},
        "properties": {"coordTimes": ["2026-03-02T08:00:00+08:00", "2026-03-02T08:00:10+08:00"]},
    }
    import json

    p = parse_track(json.dumps(gj).encode(), "t.geojson")
    assert p.points["time"].iloc[0] == pd.Timestamp("2026-03-02T00:00:00Z")
    gpx = (
        b'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><rte><name>r</name>'
        b'<rtept lat="40" lon="116.3"><time>2026-03-02T00:00:00Z</time></rtept>'
        b'<rtept lat="40.001" lon="116.3"><time>2026-03-02T00:00:10Z</time></rtept></rte></gpx>'
    )
    p = parse_track(gpx, "r.gpx")
    assert p.name == "r" and len(p.points) == 2


def test_cached_network_builds_once():
    from geo.tracks.network import cached_network

    calls = []

    def build():
        calls.append(1)
        return object()

    a = cached_network("test-key-1", build)  # type: ignore[arg-type]
    b = cached_network("test-key-1", build)  # type: ignore[arg-type]
    assert a is b and len(calls) == 1


def test_deeply_nested_json_is_an_input_error():
    with pytest.raises(InputError, match="nested too deeply"):
        parse_track(b"[" * 20_000 + b"]" * 20_000, "deep.geojson")


def test_tracks_check_cli_exit_code(tmp_path, shared_data):
    from typer.testing import CliRunner

    from api.cli import app

    good = shared_data / "gpx_samples/garmin_connect_beijing/250808726.gpx"
    bad = shared_data / "gpx_samples/derived_malformed/250808726_truncated_at_15000_bytes.gpx"
    r = CliRunner().invoke(app, ["tracks", "check", str(good)])
    assert r.exit_code == 0 and "OK" in r.output
    r = CliRunner().invoke(app, ["tracks", "check", str(good), str(bad)])
    assert r.exit_code != 0 and "truncated" in r.output


def _kml(points: pd.DataFrame, placemarks: bool = False) -> bytes:
    """A KML of ``points`` as Google Earth writes a recorded track (gx:Track) or as timed
    Placemark points."""
    times = points["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if placemarks:
        body = "".join(
            f"<Placemark><TimeStamp><when>{t}</when></TimeStamp>"
            f"<Point><coordinates>{x!r},{y!r},0</coordinates></Point></Placemark>"
            for x, y, t in zip(points["lon"], points["lat"], times, strict=True)
        )
    else:
        whens = "".join(f"<when>{t}</when>" for t in times)
        coords = "".join(
            f"<gx:coord>{x!r} {y!r} 50</gx:coord>"
            for x, y in zip(points["lon"], points["lat"], strict=True)
        )
        body = f"<Placemark><name>巡查</name><gx:Track>{whens}{coords}</gx:Track></Placemark>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2" '
        f'xmlns:gx="http://www.google.com/kml/ext/2.2"><Document>{body}</Document></kml>'
    ).encode()


def _zip(files: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_kml_and_kmz_tracks_give_the_points_of_the_gpx(shared_data):
    """A real Beijing walk written as KML (gx:Track), KMZ and timed KML points parses to the
    same fixes as its GPX: 奥维, 两步路 and Google Earth users export these."""
    f = shared_data / "gpx_samples/garmin_connect_beijing/220267559.gpx"
    gpx = parse_track(f.read_bytes(), f.name).points
    for data, name, fmt, n in (
        (_kml(gpx), "walk.kml", "kml", len(gpx)),
        (_zip({"doc.kml": _kml(gpx)}), "walk.kmz", "kmz", len(gpx)),
        (_kml(gpx.iloc[:200], placemarks=True), "points.kml", "kml", 200),
    ):
        p = parse_track(data, name)
        assert p.format == fmt and len(p.points) == n, (name, p.format, len(p.points))
        ref = gpx.iloc[:n]
        assert np.allclose(p.points["lon"], ref["lon"], atol=1e-12)
        assert np.allclose(p.points["lat"], ref["lat"], atol=1e-12)
        assert (p.points["time"].to_numpy() == ref["time"].to_numpy()).all()
    assert parse_track(_kml(gpx), "walk.kml").name == "巡查"


def test_bad_kml_and_kmz_say_why():
    t = pd.Series(pd.to_datetime(["2026-05-01T01:00:00Z", "2026-05-01T01:00:05Z"], utc=True))
    pts = pd.DataFrame({"lon": [116.31, 116.3101], "lat": [39.99, 39.9901], "time": t})
    drawn = (
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><LineString><coordinates>'
        b"116.31,39.99 116.32,39.99</coordinates></LineString></Placemark></kml>"
    )
    mismatched = _kml(pts).replace(b"<when>2026-05-01T01:00:05Z</when>", b"")
    dtd = b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "b">]><kml>&a;</kml>'
    bomb = _zip({"doc.kml": b"<kml>" + b" " * (21 * 1024 * 1024) + b"</kml>"})
    assert len(bomb) < 100_000  # 21 MB packed small
    for data, name, words in (
        (drawn, "route.kml", "without times (a drawn route"),
        (mismatched, "m.kml", "2 coordinates but 1 times"),
        (dtd, "x.kml", "KML rejected: it declares a DTD"),
        (b'<kml xmlns="http://www.opengis.net/kml/2.2"></kml>', "e.kml", "no track"),
        (_zip({"readme.txt": b"hello"}), "x.kmz", "without a .kml file"),
        (_zip({"doc.kml": b'<gpx version="1.1"></gpx>'}), "x.kmz", "not <gpx> or <kml>"),
        (_zip({"doc.kml": _kml(pts)})[:60], "cut.kmz", "broken or unsupported KMZ"),
        (bomb, "bomb.kmz", "KMZ unpacks to more than"),
        (b"<svg></svg>", "x.kml", "not <gpx> or <kml>"),
    ):
        with pytest.raises(InputError) as err:
            parse_track(data, name)
        assert words in err.value.message, (name, err.value.message)


# ------------------------------------------------- acceptance defects (generated inputs)
T0 = pd.Timestamp("2026-11-23T00:00:00Z")  # 08:00 in Beijing


def _walk_csv(times: list[str], header: str = "lon,lat,time", lat_first: bool = False) -> bytes:
    """A CSV of a short walk east, one fix per given time value."""
    rows = [
        f"{40.0 + i * 1e-5:.7f},{116.32 + i * 4e-5:.7f},{t}"
        if lat_first
        else f"{116.32 + i * 4e-5:.7f},{40.0 + i * 1e-5:.7f},{t}"
        for i, t in enumerate(times)
    ]
    return (header + "\n" + "\n".join(rows) + "\n").encode()


def _secs(n: int, fmt: str, start: pd.Timestamp = T0) -> list[str]:
    """``n`` times 5 s apart from ``start`` (UTC) written with ``fmt`` in Beijing time."""
    local = start.tz_convert("Asia/Shanghai")
    return [(local + pd.Timedelta(seconds=5 * i)).strftime(fmt) for i in range(n)]


@pytest.mark.parametrize(
    ("times", "first"),
    [
        (_secs(4, "%Y%m%d%H%M%S"), T0),  # compact local time, not an epoch
        ([str(int(T0.timestamp()) * 10**6 + 5 * 10**6 * i) for i in range(4)], T0),  # µs
        ([str(int(T0.timestamp()) * 10**9 + 5 * 10**9 * i) for i in range(4)], T0),  # ns
        ([str(int(T0.timestamp()) + 5 * i) for i in range(4)], T0),  # s (kept)
        ([str(int(T0.timestamp()) * 1000 + 5000 * i) for i in range(4)], T0),  # ms (kept)
    ],
)
def test_compact_and_epoch_units_by_magnitude(times, first):
    p = parse_track(_walk_csv(times), "t.csv")
    assert p.points["time"].iloc[0] == first
    assert (p.points["time"].diff().dropna() == pd.Timedelta(seconds=5)).all()


def test_gbk_declared_gpx_is_decoded_and_still_safe():
    gpx = (
        '<?xml version="1.0" encoding="GBK"?>\n'
        '<gpx version="1.1" creator="两步路" xmlns="http://www.topografix.com/GPX/1/1">'
        "<trk><name>小巷巡查</name><trkseg>"
        '<trkpt lat="40.0" lon="116.32"><time>2026-11-23T00:00:00Z</time></trkpt>'
        '<trkpt lat="40.0001" lon="116.3201"><time>2026-11-23T00:00:05Z</time></trkpt>'
        "</trkseg></trk></gpx>"
    )
    p = parse_track(gpx.encode("gbk"), "gbk.gpx")
    assert p.name == "小巷巡查" and len(p.points) == 2
    bomb = BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="GBK"?>')
    with pytest.raises(InputError, match="GPX rejected"):
        parse_track(bomb, "evil.gpx")
    with pytest.raises(InputError, match="unknown text encoding"):
        parse_track(gpx.replace("GBK", "x-nonsense").encode("gbk"), "x.gpx")


def test_unexpected_library_error_is_an_input_error(monkeypatch):
    """Whatever pandas or a parser raises on odd data ends as a 4xx InputError, not a 500."""
    import geo.tracks.parse as parse_mod

    def boom(text):
        raise KeyError("something pandas did not expect")

    monkeypatch.setattr(parse_mod, "_parse_csv", boom)
    with pytest.raises(InputError, match="could not be read"):
        parse_track(b"lon,lat,time\n116,40,2026-11-23 08:00:00\n", "a.csv")
    # a geometry that is not an object used to be an AttributeError
    with pytest.raises(InputError, match="no points"):
        parse_track(b'{"type":"Feature","geometry":[1,2],"properties":{}}', "a.geojson")


def test_date_and_time_columns_are_combined():
    rows = "\n".join(f"2026-11-05,09:00:{5 * i:02d},{116.32 + i * 4e-5:.7f},40.0" for i in range(4))
    p = parse_track(f"日期,时间,经度,纬度\n{rows}\n".encode(), "d.csv")
    assert p.points["time"].iloc[0] == pd.Timestamp("2026-11-05T01:00:00Z")
    with pytest.raises(InputError, match="has no date"):
        parse_track(_walk_csv(["09:00:00", "09:00:05"]), "t.csv")


@pytest.mark.parametrize(
    ("times", "first"),
    [
        (["05/11/2026 09:00:00", "23/11/2026 09:00:05"], "2026-11-05T01:00:00Z"),  # day first
        (["11/05/2026 09:00:00", "11/23/2026 09:00:05"], "2026-11-05T01:00:00Z"),  # month first
        (["05/05/2026 09:00:00", "05/05/2026 09:00:05"], "2026-05-05T01:00:00Z"),  # same
        (["2026/05/11 09:00:00", "2026/05/11 09:00:05"], "2026-05-11T01:00:00Z"),  # year first
        (["2026/11/23 8:01:02", "2026/11/23 8:01:07"], "2026-11-23T00:01:02Z"),  # Excel
    ],
)
def test_slash_dates_one_order_per_file(times, first):
    p = parse_track(_walk_csv(times), "t.csv")
    assert p.points["time"].iloc[0] == pd.Timestamp(first)


@pytest.mark.parametrize(
    ("times", "words"),
    [
        (["05/11/2026 09:00:00", "05/11/2026 09:00:05"], "2026-11-05 (day/month) or 2026-05-11"),
        (["23/11/2026 09:00:00", "11/23/2026 09:00:05"], "mix day/month orders"),
    ],
)
def test_undecidable_slash_dates_are_refused(times, words):
    with pytest.raises(InputError) as err:
        parse_track(_walk_csv(times), "t.csv")
    assert words in err.value.message


@pytest.mark.parametrize(
    ("times", "readings"),
    [  # tester X's F4: each was read silently on another day (2022-11-26, 2010-11-26, …)
        (["26/11/22 09:00:00", "26/11/22 09:00:05"], ["2026-11-22", "2022-11-26"]),
        (["26-11-22 09:00:00", "26-11-22 09:00:05"], ["2026-11-22", "2022-11-26"]),
        (["26/11/10 09:00:00", "26/11/10 09:00:05"], ["2026-11-10", "2010-11-26"]),
        (["10/11/26 09:00:00", "10/11/26 09:00:05"], ["2026-11-10", "2026-10-11"]),
        (["5.11.26 09:00:00", "5.11.26 09:00:05"], ["2026-11-05", "2026-05-11"]),
    ],
)
def test_two_digit_year_dates_no_date_orders_are_refused(times, readings):
    with pytest.raises(InputError) as err:
        parse_track(_walk_csv(times, header="经度,纬度,时间"), "t.csv")
    msg = err.value.message
    assert msg.startswith("日期有歧义：如 ") and "请把日期写成 YYYY-MM-DD" in msg
    assert " ambiguous dates such as " in msg and "write dates as yyyy-mm-dd" in msg
    assert all(day in msg for day in readings), msg


@pytest.mark.parametrize(
    ("times", "first", "last"),
    [
        # a day over 12 in the last field and a year over 31 in the first: one order reads them
        (["26/11/10 09:00:00", "26/11/13 09:00:05"], "2026-11-10T01:00:00Z", "2026-11-13"),
        (["99/11/22 09:00:00", "99/11/22 09:00:05"], "1999-11-22T01:00:00Z", "1999-11-22"),
        # day/month/year: 13 can only be the day; year/month/day would span 2010 to 2013
        (["10/11/26 09:00:00", "13/11/26 09:00:05"], "2026-11-10T01:00:00Z", "2026-11-13"),
        # month/day/year: 13 is no month
        (["10/11/26 09:00:00", "10/13/26 09:00:05"], "2026-10-11T01:00:00Z", "2026-10-13"),
        # a walk past midnight: 22 then 23 changes the day, not the year (2022 then 2023)
        (["26/11/22 23:59:55", "26/11/23 00:00:05"], "2026-11-22T15:59:55Z", "2026-11-22"),
        (["26-11-22 09:00:00+08:00", "26-11-30 09:00:05+08:00"], "2026-11-22T01:00:00Z", None),
        (["11/11/11 09:00:00", "11/11/11 09:00:05"], "2011-11-11T01:00:00Z", "2011-11-11"),
    ],
)
def test_two_digit_year_dates_whose_file_tells_the_order_are_read_so(times, first, last):
    p = parse_track(_walk_csv(times, header="经度,纬度,时间"), "t.csv")
    assert p.points["time"].iloc[0] == pd.Timestamp(first)
    if last is not None:
        assert str(p.points["time"].iloc[-1].date()) == last
    # (the walk past midnight, zone-less, is also told it may be UTC: T52 #14)
    assert [w for w in p.warnings if not w.startswith("表格中的时间未注明时区")] == []


def test_two_digit_year_dates_no_one_order_reads_are_refused():
    # year/month/day has no 31 November; day/month/year would put the walk in 2022 and 2031
    with pytest.raises(InputError) as err:
        parse_track(_walk_csv(["26/11/22 09:00:00", "26/11/31 09:00:05"]), "t.csv")
    msg = err.value.message
    assert msg.startswith("日期顺序不一") and "'26/11/31 09:00:05' is not year/month/day" in msg
    assert "day/month/year would span 2022-11-26 to 2031-11-26" in msg


def test_dates_needing_an_order_in_a_headerless_table_get_the_date_refusal():
    """A headerless table's time cells that cannot tell their day/month order alone are still
    time values: the file is refused for its dates, not for having no lon/lat columns."""
    rows = _walk_csv(["05/11/2026 09:00:00", "05/11/2026 09:00:05", "05/11/2026 09:00:10"])
    with pytest.raises(
        InputError, match="^日期有歧义：.* ambiguous dates .*2026-11-05 .*2026-05-11"
    ):
        parse_track(rows.split(b"\n", 1)[1], "t.csv")
    rows = _walk_csv(["26/11/22 23:59:55", "26/11/23 00:00:00", "26/11/23 00:00:05"])
    p = parse_track(rows.split(b"\n", 1)[1], "t.csv")
    assert p.points["time"].iloc[-1] == pd.Timestamp("2026-11-22T16:00:05Z")


def test_a_few_bad_rows_are_dropped_with_warnings():
    times = _secs(40, "%Y-%m-%d %H:%M:%S")
    lines = _walk_csv(times).decode().splitlines()
    lines[5] = f",,{times[4]}"  # no fix: empty lon/lat
    lines[10] = "0,0," + times[9]  # 0,0: the phone had no fix
    lines[15] = lines[15].rsplit(",", 1)[0] + ",1970-01-01 08:00:00"  # clock not yet set
    p = parse_track(("\n".join(lines) + "\n").encode(), "t.csv")
    assert len(p.points) == 37
    assert 4 not in set(p.points["source_index"]) and 14 not in set(p.points["source_index"])
    text = " | ".join(p.warnings)
    for words in ("1 of 40 points without coordinates", "1 of 40 points at 0,0", "before 1990"):
        assert words in text, text


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (lambda i, t: f",,{t}", "not a finite number"),
        (lambda i, t: f"0,0,{t}", r"at 0,0 \(no GPS fix\)"),
        (lambda i, t: f"116.32,40.0,1970-01-01 08:00:{i:02d}", "out of range"),
    ],
)
def test_a_file_of_mostly_bad_rows_is_refused(row, words):
    times = _secs(10, "%Y-%m-%d %H:%M:%S")
    lines = _walk_csv(times).decode().splitlines()
    lines[1:8] = [row(i, times[i]) for i in range(7)]
    with pytest.raises(InputError, match=words):
        parse_track(("\n".join(lines) + "\n").encode(), "t.csv")


def _gpx(*parts: str) -> bytes:
    return (
        '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">' + "".join(parts) + "</gpx>"
    ).encode()


def _trk(start: pd.Timestamp, n: int, tag: str = "trk", timed: bool = True) -> str:
    pt = "trkpt" if tag == "trk" else "rtept"
    pts = "".join(
        f'<{pt} lat="40.0" lon="{116.32 + i * 4e-5:.6f}">'
        + (
            f"<time>{start + pd.Timedelta(seconds=5 * i):%Y-%m-%dT%H:%M:%SZ}</time>"
            if timed
            else ""
        )
        + f"</{pt}>"
        for i in range(n)
    )
    body = f"<trkseg>{pts}</trkseg>" if tag == "trk" else pts
    return f"<{tag}><name>{tag}</name>{body}</{tag}>"


def test_gpx_tracks_out_of_order_are_sorted():
    p = parse_track(_gpx(_trk(T0 + pd.Timedelta(hours=1), 5), _trk(T0, 5)), "r.gpx")
    assert p.points["time"].is_monotonic_increasing
    assert list(p.points["source_index"][:5]) == [5, 6, 7, 8, 9]


def test_untimed_planned_route_next_to_a_recorded_track_is_ignored():
    p = parse_track(_gpx(_trk(T0, 30, "rte", timed=False), _trk(T0, 10)), "plan.gpx")
    assert len(p.points) == 10 and p.name == "trk"
    assert "30 route points without times" in p.warnings[0]
    with pytest.raises(InputError, match="no times"):  # a route alone is still no track
        parse_track(_gpx(_trk(T0, 5, "rte", timed=False)), "plan.gpx")


@pytest.mark.parametrize(
    "route_start",
    [T0 - pd.Timedelta(hours=1), T0 + pd.Timedelta(seconds=2)],  # earlier; interleaved
)
def test_timed_planned_route_next_to_a_recorded_track_is_ignored(route_start):
    """Tester X's F7: a <rte> with times was read as fixes next to the <trk>: the plan
    credited alleys never walked, and with overlapping times the two interleaved."""
    plan = _trk(route_start, 40, "rte").replace('lat="40.0"', 'lat="40.001"')
    p = parse_track(_gpx(plan, _trk(T0, 10), _trk(T0, 3, "rte", timed=False)), "plan.gpx")
    assert len(p.points) == 10 and p.name == "trk"
    assert (p.points["lat"] == 40.0).all() and p.points["time"].iloc[0] == T0
    assert p.warnings == [
        "已忽略计划路线的 43 个路线点（<rte>，计划路线，其中 40 个有时间），文件里另有记录的轨迹"
        "（<trk>），巡查以轨迹为准 "
        "43 route points (<rte>, a planned route; 40 with times) ignored next "
        "to the recorded track (<trk>), the walk"
    ]


def test_timed_routes_alone_are_the_walk():
    """README: GPX tracks and routes are read: a file of timed routes only (no <trk>, or a
    <trk> without times) is the walk; its untimed routes are still left out, as plans."""
    p = parse_track(_gpx(_trk(T0, 12, "rte"), _trk(T0, 4, "rte", timed=False)), "r.gpx")
    assert len(p.points) == 12 and p.name == "rte"
    assert p.warnings == [
        "已忽略计划路线的 4 个路线点（<rte>，计划路线，没有时间） "
        "4 route points without times (<rte>, a planned route) ignored"
    ]


@pytest.mark.parametrize(
    "header",
    [
        "经度,纬度,时间戳",
        "经度,纬度,GPS时间",
        "经度,纬度,上报时间",
        "经度,纬度,记录时间",
        "lon,lat,date time",
        "lng,lat,ts",
        "longitude,latitude,loc_time",
        "经度(度),纬度(度),定位时间",
        "经度(°),纬度(°),时间",
        "经度（度）,纬度（度）,时间",
        " Longitude [deg] , LATITUDE (deg) , Date_Time ",
    ],
)
def test_common_headers_are_recognised(header):
    p = parse_track(_walk_csv(_secs(3, "%Y-%m-%d %H:%M:%S"), header), "h.csv")
    assert len(p.points) == 3 and p.points["time"].iloc[0] == T0
    assert p.points["lon"].iloc[0] == pytest.approx(116.32)


def test_accuracy_header_with_unit():
    times = _secs(3, "%Y-%m-%d %H:%M:%S")
    rows = "\n".join(f"116.32,40.0,{t},{5 + i}" for i, t in enumerate(times))
    for head in ("经度,纬度,时间,精度(米)", "lon,lat,time,accuracy(m)"):
        p = parse_track(f"{head}\n{rows}\n".encode(), "a.csv")
        assert list(p.points["accuracy"]) == [5.0, 6.0, 7.0]


@pytest.mark.parametrize(
    "fmt",
    ["%Y年%m月%d日 %H:%M:%S", "%Y-%m-%dT%H:%M:%S+08", "%Y/%m/%d 上午%I:%M:%S"],
)
def test_chinese_dates_and_hour_offsets(fmt):
    p = parse_track(_walk_csv(_secs(3, fmt)), "t.csv")
    assert p.points["time"].iloc[0] == T0


def test_multipoint_geometry_collection_and_feature_list():
    import json

    coords = [[116.32 + i * 4e-5, 40.0] for i in range(3)]
    times = [f"{T0 + pd.Timedelta(seconds=5 * i):%Y-%m-%dT%H:%M:%SZ}" for i in range(3)]
    mp = {
        "type": "Feature",
        "geometry": {"type": "MultiPoint", "coordinates": coords},
        "properties": {"times": times},
    }
    gc = {
        "type": "GeometryCollection",
        "geometries": [
            {
                "type": "LineString",
                "coordinates": [[*c, 0, t] for c, t in zip(coords, times, strict=True)],
            }
        ],
    }
    pts = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": c},
            "properties": {"time": t},
        }
        for c, t in zip(coords, times, strict=True)
    ]
    for obj in (mp, gc, pts):
        p = parse_track(json.dumps(obj).encode(), "t.geojson")
        assert len(p.points) == 3 and p.points["time"].iloc[0] == T0


def test_stray_epoch_values_are_dropped_not_a_crash():
    """inf or a number past int64 nanoseconds among epoch seconds is one bad row, not a 500."""
    t = int(T0.timestamp())
    for stray in ("inf", "18446744073709551615", "99999999999999999999999"):
        times = [stray] + [str(t + 5 * i) for i in range(1, 6)]
        p = parse_track(_walk_csv(times), "t.csv")
        assert len(p.points) == 5 and p.points["time"].iloc[0] == T0 + pd.Timedelta(seconds=5)
        assert "before 1990 or after 2100" in p.warnings[0]


def test_gpx_times_without_a_zone_are_utc_as_the_standard_says():
    """GPX 1.1: times are UTC. Old code read a zone-less GPX time as Beijing time, putting
    the walk 8 hours early (a walk before 08:00 on the day before); CSV stays local."""
    gpx = (
        b'<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        b"<trk><trkseg>"
        b'<trkpt lat="40.0" lon="116.32"><time>2026-11-22T01:00:00</time></trkpt>'
        b'<trkpt lat="40.0001" lon="116.3201"><time>2026-11-22T01:00:05</time></trkpt>'
        b"</trkseg></trk></gpx>"
    )
    parsed = parse_track(gpx, "a.gpx")
    assert parsed.points["time"].iloc[0] == pd.Timestamp("2026-11-22T01:00:00Z")
    # and says so: local clock times written without a zone would land 8 h late
    assert [w for w in parsed.warnings if "no zone: read as UTC" in w], parsed.warnings
    zoned = parse_track(gpx.replace(b":00</time>", b":00Z</time>"), "b.gpx")
    assert not [w for w in zoned.warnings if "UTC" in w], zoned.warnings
    csv = b"lon,lat,time\n116.32,40.0,2026-11-22 09:00:00\n116.3201,40.0001,2026-11-22 09:00:05\n"
    assert parse_track(csv, "a.csv").points["time"].iloc[0] == pd.Timestamp("2026-11-22T01:00Z")


def test_a_header_naming_utc_reads_its_times_as_utc():
    """Unit brackets are ignored in header names, so "time(UTC)" matched "time" and was read
    in Beijing time, 8 hours early; a header naming UTC (or GMT) now decides the zone."""
    rows = "116.3200,40.0000,2024-05-01 00:00:00\n116.3201,40.0001,2024-05-01 00:00:05\n"
    for header in ("time(UTC)", "utc_time", "GMT时间"):
        t = parse_track(f"lon,lat,{header}\n{rows}".encode(), "a.csv").points["time"]
        assert t.iloc[0] == pd.Timestamp("2024-05-01T00:00:00Z"), header
    local = parse_track(f"lon,lat,时间(北京)\n{rows}".encode(), "a.csv").points["time"]
    assert local.iloc[0] == pd.Timestamp("2024-04-30T16:00:00Z")


def test_crafted_headers_and_xml_declarations_are_refused_or_read():
    """Inputs that made two patterns retry at every position (a long run of spaces in a CSV
    header; "encoding=" repeated without a closing "?>"): a clear answer either way."""
    spaces = b"lon,lat,time,a(" + b" " * 30000 + b"b\n116.3,40.0,2024-05-01 00:00:00\n"
    assert len(parse_track(spaces + b"116.31,40.0,2024-05-01 00:00:05\n", "x.csv").points) == 2
    with pytest.raises(InputError):
        parse_track(b'<?xml encoding="a" ' + b'encoding="a" ' * 20000, "x.gpx")


def _utm_points_geojson(crs_name: str | None) -> tuple[bytes, np.ndarray]:
    """Three timed points as a GeoJSON in UTM 50N metres, with a ``crs`` member naming
    ``crs_name``; and their WGS 84 lon/lat."""
    from pyproj import Transformer

    lon = np.array([116.32, 116.3203, 116.3206])
    lat = np.array([40.0, 40.0001, 40.0002])
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(lon, lat)
    feats = [
        {
            "type": "Feature",
            "properties": {"time": f"2026-03-02T00:00:{10 * i:02d}Z"},
            "geometry": {"type": "Point", "coordinates": [float(x[i]), float(y[i])]},
        }
        for i in range(3)
    ]
    obj: dict = {"type": "FeatureCollection", "features": feats}
    if crs_name is not None:
        obj["crs"] = {"type": "name", "properties": {"name": crs_name}}
    return json.dumps(obj).encode(), np.column_stack([lon, lat])


def test_a_geojson_crs_member_is_honoured():
    """QGIS and GDAL still write the GeoJSON 2008 ``crs`` member for projected data; such a
    track used to be read as longitude/latitude and refused as out of range."""
    for name in ("EPSG:32650", "urn:ogc:def:crs:EPSG::32650"):
        data, lonlat = _utm_points_geojson(name)
        p = parse_track(data, "t.geojson")
        got = p.points[["lon", "lat"]].to_numpy()
        assert np.abs(got - lonlat).max() < 1e-7, name
    # the same metres without the member are not longitude/latitude
    with pytest.raises(InputError):
        parse_track(_utm_points_geojson(None)[0], "t.geojson")


def test_a_geojson_crs_member_that_is_wgs84_unknown_or_contradicted():
    gj = {
        "type": "Feature",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "geometry": {"type": "Point", "coordinates": [116.32, 40.0]},
        "properties": {"time": "2026-03-02T00:00:00Z"},
    }
    p = parse_track(json.dumps(gj).encode(), "t.geojson")
    assert (p.points["lon"].iloc[0], p.points["lat"].iloc[0]) == (116.32, 40.0)
    gj["crs"]["properties"]["name"] = "EPSG:999999"
    with pytest.raises(InputError, match="unknown CRS 'EPSG:999999'"):
        parse_track(json.dumps(gj).encode(), "t.geojson")
    # another planet's CRS (pyproj knows IAU's) is no datum of a phone's fixes
    gj["crs"]["properties"]["name"] = "IAU_2015:49900"
    with pytest.raises(InputError, match="unknown CRS 'IAU_2015:49900'"):
        parse_track(json.dumps(gj).encode(), "t.geojson")
    with pytest.raises(InputError, match="EPSG:32650.*gcj02"):
        parse_track(_utm_points_geojson("EPSG:32650")[0], "t.geojson", crs="gcj02")


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("amap", "gcj02"), ("Gaode", "gcj02"), ("高德", "gcj02"), ("gcj 02", "gcj02"),
     ("GCJ_02", "gcj02"), ("百度", "bd09"), ("bd 09", "bd09"), ("wgs 84", "EPSG:4326")],
)  # fmt: skip
def test_the_apps_names_of_their_datums_are_understood(name, canonical):
    """Outside tester: baidu and "wgs 84" were taken, amap, gaode and "gcj 02" refused."""
    from geo.crs import normalize_crs

    assert normalize_crs(name) == canonical


def test_swapped_headers_are_named_with_their_values():
    """A table whose headers say 纬度,经度 over longitude-first values was told "expected
    lon, lat" (its order already): the refusal names a value of each and says to swap the
    headers (or the values) (outside tester T37, F4)."""
    data = "纬度,经度,时间\n116.31,39.99,2026-01-01T00:00:00Z\n116.32,39.99,2026-01-01T00:01:00Z\n"
    with pytest.raises(InputError) as err:
        parse_track(data.encode(), "a.csv")
    said = err.value.message
    assert said.startswith("经纬度似乎写反：纬度超出范围"), said
    assert "读作纬度的值（如 116.31）像是经度" in said and "（如 39.99）" in said, said
    assert "对调“经度”“纬度”两列的列名" in said and "swap the headers" in said, said


def _said(data: bytes, name: str) -> str:
    with pytest.raises(InputError) as err:
        parse_track(data, name)
    return err.value.message


def test_the_libraries_words_are_chinese_in_the_chinese(shared_data):
    """T37 F13: a truncated GPX read "文件不完整或不是有效的 XML（no element found: line 404,
    column 8）", a time pandas cannot read "无法识别时间值（Unknown datetime string format …）":
    the library's English inside the Chinese. Now the Chinese says it in Chinese, the line,
    column and value kept; the English part is the library's words as before, its column
    counted from 1 as the Chinese counts it (T41 #3)."""
    cut = shared_data / "gpx_samples/derived_malformed/250808726_truncated_at_15000_bytes.gpx"
    assert _said(cut.read_bytes(), cut.name) == (
        "文件不完整或不是有效的 XML：第 404 行第 9 列处文件意外结束（可能被截断） "
        "malformed or truncated XML: no element found: line 404, column 9"
    )
    assert _said(b"<gpx><trk></gpx>", "m.gpx") == (
        "文件不完整或不是有效的 XML：第 1 行第 13 列处标签不匹配（结束标签与开始标签不对应） "
        "malformed or truncated XML: mismatched tag: line 1, column 13"
    )

    def csv(time: str) -> bytes:
        return (
            "time,lon,lat\n2026-05-12 08:00:00,116.40,39.90\n"
            f"{time},116.401,39.901\n2026-05-12 08:02:00,116.402,39.902\n"
        ).encode()

    hint = (
        "：请用 ISO 8601 格式或 epoch 秒数 "
        "time values not understood (use ISO 8601 or epoch seconds): "
    )
    assert _said(csv("soon"), "t.csv") == (
        "无法识别时间值：文件第 3 行的时间 'soon'（soon 的日期时间格式无法识别）"
        + hint
        + "Unknown datetime string format, unable to parse: soon (row 3 of the file: 'soon')"
    )
    assert _said(csv("2026-13-12 08:00"), "t.csv") == (
        "无法识别时间值：文件第 3 行的时间 '2026-13-12 08:00'（月份须在 1 到 12 之间："
        "2026-13-12 08:00）"
        + hint
        + "month must be in 1..12: 2026-13-12 08:00 (row 3 of the file: '2026-13-12 08:00')"
    )
    feats = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.4 + i / 1e3, 39.9]},
         "properties": {"time": t}}
        for i, t in enumerate(["2026-05-12 08:00:00", "2026-02-30 08:01:00"])
    ]  # fmt: skip
    doc = json.dumps({"type": "FeatureCollection", "features": feats}).encode()
    assert _said(doc, "t.geojson").startswith(
        "无法识别时间值：第 2 个定位点的时间 '2026-02-30 08:01:00'（日超出该月的天数："
        "2026-02-30 08:01:00）"
    )
    assert _said(b'{"type": "FeatureCollection", "features": [}', "j.geojson") == (
        "文件不是有效的 JSON：第 1 行第 44 列处缺少值 "
        "malformed JSON: Expecting value: line 1 column 44 (char 43)"
    )
    assert _said(b'time,lon,lat\n"2026-05-12 08:00:00,116.4,39.9\n', "q.csv").startswith(
        "CSV 表格格式有误（第 2 行起的引号没有闭合，文件可能被截断） malformed CSV: "
    )

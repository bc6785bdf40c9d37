"""Parsing uploads: each shared GPX sample parses or fails with the reason the README gives."""

from __future__ import annotations

import io

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

"""Write the hostile-input corpus (files/) and its table (cases.csv). Run: python make_corpus.py

Each case names a channel (``upload``: the track upload route; ``api``: an HTTP request;
``cli``: a gridward command), what to send, the expected outcome and a word the error message
must contain. Expected outcomes: ``4xx`` (HTTP) / ``exit2`` (CLI) = refused with a message;
``ok`` = accepted as harmless text (a filter that simply matches nothing); ``413`` etc. exact.
The over-size upload is generated at test time (not stored in git).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).parent
FILES = HERE / "files"

GPX_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
GPX_OPEN = '<gpx version="1.1" creator="hostile" xmlns="http://www.topografix.com/GPX/1/1">'


def gpx(points: list[tuple[str, str, str | None]], doctype: str = "") -> str:
    pts = "".join(
        f'<trkpt lat="{lat}" lon="{lon}">' + (f"<time>{t}</time>" if t else "") + "</trkpt>"
        for lon, lat, t in points
    )
    return f"{GPX_HEAD}{doctype}{GPX_OPEN}<trk><name>x</name><trkseg>{pts}</trkseg></trk></gpx>\n"


def walk(n: int = 12, year: int = 2026, lon0: float = 116.3200, lat0: float = 39.9990):
    return [
        (f"{lon0 + i * 0.00008:.6f}", f"{lat0 + i * 0.00003:.6f}", f"{year}-05-12T08:{i:02d}:00Z")
        for i in range(n)
    ]


LAUGHS = (
    '<!DOCTYPE gpx [<!ENTITY a "hahahahahahahahahahaha">'
    + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(9))
    + "]>"
)


def square(coords: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": [coords]}


def fc(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def feat(geom: dict | None, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


SQUARE = [[116.32, 39.99], [116.321, 39.99], [116.321, 39.991], [116.32, 39.991], [116.32, 39.99]]
BOWTIE = [[116.32, 39.99], [116.321, 39.991], [116.321, 39.99], [116.32, 39.991], [116.32, 39.99]]
SQL = "x'); DROP TABLE buildings; --"
HTML = '<script>alert("xss")</script><img src=x onerror=alert(1)>'

FILE_CASES: dict[str, str | bytes] = {
    # ---- GPX: XML attacks ----
    "billion_laughs.gpx": gpx(walk(2))
    .replace(GPX_OPEN, LAUGHS + GPX_OPEN)
    .replace("<name>x</name>", "<name>&j;</name>"),
    "xxe_file.gpx": gpx(walk(2))
    .replace(GPX_OPEN, '<!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + GPX_OPEN)
    .replace("<name>x</name>", "<name>&x;</name>"),
    "xxe_http.gpx": gpx(walk(2))
    .replace(GPX_OPEN, '<!DOCTYPE gpx [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>' + GPX_OPEN)
    .replace("<name>x</name>", "<name>&x;</name>"),
    "xxe_parameter.gpx": gpx(walk(2)).replace(
        GPX_OPEN,
        '<!DOCTYPE gpx [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>' + GPX_OPEN,
    ),
    "external_dtd.gpx": gpx(walk(2)).replace(
        GPX_OPEN, '<!DOCTYPE gpx SYSTEM "http://127.0.0.1:9/gpx.dtd">' + GPX_OPEN
    ),
    # ---- GPX: broken files ----
    "truncated.gpx": gpx(walk(12))[:300],
    "binary.gpx": bytes(range(256)) * 8,
    "png_named.gpx": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64,
    "empty.gpx": b"",
    "whitespace.gpx": b"   \n\t\n  ",
    "not_gpx.gpx": GPX_HEAD + "<kml><Placemark/></kml>\n",
    "no_points.gpx": gpx([]),
    # ---- GPX: bad numbers and times ----
    "nan_coords.gpx": gpx([("NaN", "NaN", "2026-05-12T08:00:00Z")] * 3),
    "inf_coords.gpx": gpx([("inf", "-inf", "2026-05-12T08:00:00Z")] * 3),
    "out_of_range.gpx": gpx([(lon, "91.5", t) for lon, _lat, t in walk(5)]),
    "swapped.gpx": gpx([(lat, lon, t) for lon, lat, t in walk(5)]),
    "text_coords.gpx": gpx([("east", "north", "2026-05-12T08:00:00Z")] * 3),
    "no_times.gpx": gpx([(lon, lat, None) for lon, lat, _t in walk(5)]),
    "bad_times.gpx": gpx([(lon, lat, "yesterday-ish") for lon, lat, _t in walk(5)]),
    "ancient_times.gpx": gpx(walk(5, year=1970)),
    "far_future.gpx": gpx(walk(5, year=2150)),
    "next_year.gpx": gpx(walk(5, year=2099)),
    "unsorted_times.gpx": gpx(list(reversed(walk(8)))),
    # ---- GeoJSON / CSV tracks ----
    "truncated.geojson": fc([feat({"type": "LineString", "coordinates": [[116.3, 39.9]]})])[:40],
    "nan_literal.geojson": '{"type":"Feature","properties":{"times":["2026-05-12T08:00:00Z",'
    '"2026-05-12T08:01:00Z"]},"geometry":{"type":"LineString","coordinates":[[NaN,NaN],'
    "[Infinity,-Infinity]]}}",
    "deep_nesting.geojson": "[" * 20_000 + "]" * 20_000,
    "gpx_named.geojson": gpx(walk(3)),
    "sql_values.csv": "lon,lat,time\n" + f"{SQL},{SQL},{SQL}\n" * 3,
    "huge_numbers.csv": "lon,lat,time\n" + "1e400,1e400,2026-05-12T08:00:00Z\n" * 3,
    "swapped.csv": "lon,lat,time\n" + "".join(f"{lat},{lon},{t}\n" for lon, lat, t in walk(5)),
    # UTF-16 without a byte-order mark imports; this one is cut in the middle of a character
    "utf16.csv": ("lon,lat,time\n116.32,39.99,2026-05-12T08:00:00Z\n").encode("utf-16-le") + b"1",
    # ---- areas / buildings / households / people / alleys for the CLI ----
    "self_intersecting_area.geojson": fc(
        [feat(square(BOWTIE), code="110108015901", name="bowtie", level="community")]
    ),
    "empty_polygon_area.geojson": fc(
        [
            feat(
                {"type": "Polygon", "coordinates": []},
                code="110108015902",
                name="e",
                level="community",
            )
        ]
    ),
    "null_geometry_area.geojson": fc(
        [feat(None, code="110108015903", name="n", level="community")]
    ),
    "point_as_area.geojson": fc(
        [
            feat(
                {"type": "Point", "coordinates": [116.32, 39.99]},
                code="110108015904",
                name="p",
                level="community",
            )
        ]
    ),
    "sql_code_area.geojson": fc(
        [feat(square(SQUARE), code="110108' OR '1'='1", name=SQL, level="community")]
    ),
    "bad_level_area.geojson": fc(
        [feat(square(SQUARE), code="110108015905", name=HTML, level="<b>province</b>")]
    ),
    "nan_area.geojson": fc(
        [
            feat(
                square([[None, None], [116.3, 39.9], [116.31, 39.9], [None, None]]),
                code="110108015906",
                name="nan",
                level="community",
            )
        ]
    ),
    "truncated_area.geojson": fc(
        [feat(square(SQUARE), code="110108015907", name="t", level="community")]
    )[:70],
    "binary_area.geojson": bytes(range(256)) * 4,
    "html_area.geojson": fc(
        [feat(square(SQUARE), code="110108015908", name=HTML, level="community")]
    ),
    "swapped_buildings.geojson": fc(
        [feat(square([[y, x] for x, y in SQUARE]), building="residential", households=10)]
    ),
    "out_of_range_buildings.geojson": fc(
        [feat(square([[x + 200, y] for x, y in SQUARE]), building="residential")]
    ),
    "negative_households_buildings.geojson": fc(
        [feat(square(SQUARE), building="residential", households=-5)]
    ),
    "households_unknown_ids.csv": "building_id,households\nosm:w999999999991,10\n"
    "osm:w999999999992,12\n",
    "households_text.csv": f"building_id,households\nosm:w1,{SQL}\n",
    "households_negative.csv": "building_id,households\nosm:w1,-3\n",
    "people_nan.csv": "person_id,lon,lat\np1,NaN,NaN\np2,inf,39.99\n",
    "people_swapped.csv": "person_id,lon,lat\np1,39.99,116.32\n",
    "alleys_empty.geojson": fc([]),
    "alleys_good.geojson": fc(
        [
            feat(
                {"type": "LineString", "coordinates": [[116.32, 39.99], [116.321, 39.99]]},
                alley_id="a1",
                name="小巷",
                edge_id="e1",
            )
        ]
    ),
    "people_good.csv": "person_id,lon,lat\np1,116.3201,39.9901\n",
    "area_good.geojson": fc(
        [feat(square(SQUARE), code="110108015909", name="ok", level="community")]
    ),
    "buildings_good.geojson": fc(
        [
            feat(
                square(
                    [
                        [116.3202, 39.9902],
                        [116.3204, 39.9902],
                        [116.3204, 39.9904],
                        [116.3202, 39.9904],
                        [116.3202, 39.9902],
                    ]
                ),
                building="residential",
                households=40,
            )
        ]
    ),
    "network_good.geojson": fc(
        [
            feat(
                {"type": "LineString", "coordinates": [[116.32, 39.999], [116.3212, 40.0003]]},
                edge_id="e1",
            )
        ]
    ),
}

# (id, channel, target, file or -, expect, mention)
CASES: list[tuple[str, str, str, str, str, str]] = [
    # upload route: POST /tracks (or the probe until it exists) with the file, multipart
    *[
        ("up-" + f.split(".")[0] + "-" + f.split(".")[1], "upload", "POST /tracks", f, "4xx", m)
        for f, m in [
            ("billion_laughs.gpx", "dtd"),
            ("xxe_file.gpx", "dtd"),
            ("xxe_http.gpx", "dtd"),
            ("xxe_parameter.gpx", "dtd"),
            ("external_dtd.gpx", "dtd"),
            ("truncated.gpx", "truncated"),
            ("binary.gpx", "binary"),
            ("png_named.gpx", "binary"),
            ("empty.gpx", "empty"),
            ("whitespace.gpx", "empty"),
            ("not_gpx.gpx", "gpx"),
            ("no_points.gpx", "point"),
            ("nan_coords.gpx", "finite"),
            ("inf_coords.gpx", "finite"),
            ("out_of_range.gpx", "range"),
            ("swapped.gpx", "swapped"),
            ("text_coords.gpx", "itude"),
            ("no_times.gpx", "time"),
            ("bad_times.gpx", "time"),
            ("ancient_times.gpx", "time"),
            ("far_future.gpx", "time"),
            ("truncated.geojson", "json"),
            ("nan_literal.geojson", "finite"),
            ("deep_nesting.geojson", "json"),
            ("gpx_named.geojson", "gpx"),
            ("sql_values.csv", "time"),
            ("huge_numbers.csv", "finite"),
            ("swapped.csv", "swapped"),
            ("utf16.csv", "utf-16"),
        ]
    ],
    ("up-wrong-content-type", "upload", "POST /tracks", "truncated.gpx", "415", "content type"),
    ("up-no-file-field", "upload", "POST /tracks", "-", "422", "file"),
    # HTTP: filters, bbox, limits, auth inputs
    ("q-bbox-nan", "api", "GET /buildings?bbox=nan,nan,nan,nan", "-", "4xx", "finite"),
    ("q-bbox-inf", "api", "GET /buildings?bbox=-inf,-inf,inf,inf", "-", "4xx", "finite"),
    ("q-bbox-range", "api", "GET /buildings?bbox=200,0,210,10", "-", "4xx", "outside"),
    ("q-bbox-swapped", "api", "GET /buildings?bbox=39.9,116.3,40.0,116.4", "-", "4xx", "outside"),
    ("q-bbox-minmax", "api", "GET /grids?bbox=116.4,40.0,116.3,39.9", "-", "4xx", "greater"),
    ("q-bbox-three", "api", "GET /streets?bbox=1,2,3", "-", "4xx", "four numbers"),
    ("q-bbox-sql", "api", "GET /areas?bbox=1;DROP TABLE areas;--,2,3,4", "-", "4xx", "numbers"),
    ("q-bbox-huge", "api", "GET /buildings?bbox=" + ",".join(["1" * 400] * 4), "-", "4xx", "bbox"),
    ("q-limit-huge", "api", "GET /buildings?limit=1000000000", "-", "4xx", "limit"),
    ("q-limit-negative", "api", "GET /grids?limit=-1", "-", "4xx", "limit"),
    ("q-limit-nan", "api", "GET /streets?limit=NaN", "-", "4xx", "limit"),
    ("q-offset-huge", "api", "GET /areas?offset=99999999999999999999999", "-", "4xx", "offset"),
    ("q-code-sql", "api", "GET /areas?code=1' OR '1'='1", "-", "4xx", "code"),
    ("q-community-html", "api", f"GET /grids?community={HTML}", "-", "4xx", "community"),
    ("q-level-range", "api", "GET /grids?level=99", "-", "4xx", "level"),
    ("q-level-enum", "api", "GET /areas?level=province", "-", "4xx", "level"),
    ("q-name-sql", "api", "GET /streets?name=' OR 1=1 --", "-", "ok", "0"),
    ("q-name-html", "api", f"GET /streets?name={HTML}", "-", "ok", "0"),
    ("q-name-long", "api", "GET /streets?name=" + "巷" * 300, "-", "4xx", "name"),
    (
        "a-login-sql",
        "api",
        "FORM /auth/token username=admin' --&password=x' OR '1'='1",
        "-",
        "401",
        "wrong",
    ),
    (
        "a-login-json",
        "api",
        'JSON /auth/token {"username": "a", "password": "b"}',
        "-",
        "415",  # told to send a form, not JSON (T40 #16)
        "x-www-form-urlencoded",
    ),
    # told to send JSON, not a 422 as if the JSON were wrong (T67 #19)
    ("a-token-text", "api", "TEXT /auth/api-tokens name=phone", "-", "415", "application/json"),
    ("a-token-badjson", "api", 'RAWJSON /auth/api-tokens {"name": "phone",', "-", "422", "json"),
    (
        "a-token-days-inf",
        "api",
        'RAWJSON /auth/api-tokens {"name": "p", "days": 1e309}',
        "-",
        "422",
        "days",
    ),
    (
        "a-token-name-long",
        "api",
        'RAWJSON /auth/api-tokens {"name": "' + "x" * 300 + '"}',
        "-",
        "422",
        "name",
    ),
    (
        "a-revoke-huge-id",
        "api",
        "DELETE /auth/api-tokens/99999999999999999999",
        "-",
        "422",
        "token_id",
    ),
    ("a-revoke-sql-id", "api", "DELETE /auth/api-tokens/1 OR 1=1", "-", "422", "token_id"),
    # CLI: imports and file-mode commands
    (
        "c-area-bowtie",
        "cli",
        "import areas {f}",
        "self_intersecting_area.geojson",
        "exit2",
        "valid",
    ),
    ("c-area-empty", "cli", "import areas {f}", "empty_polygon_area.geojson", "exit2", ""),
    ("c-area-null", "cli", "import areas {f}", "null_geometry_area.geojson", "exit2", ""),
    ("c-area-point", "cli", "import areas {f}", "point_as_area.geojson", "exit2", "polygon"),
    ("c-area-sql-code", "cli", "import areas {f}", "sql_code_area.geojson", "exit2", "digits"),
    ("c-area-bad-level", "cli", "import areas {f}", "bad_level_area.geojson", "exit2", "level"),
    ("c-area-nan", "cli", "import areas {f}", "nan_area.geojson", "exit2", ""),
    ("c-area-truncated", "cli", "import areas {f}", "truncated_area.geojson", "exit2", ""),
    ("c-area-binary", "cli", "import areas {f}", "binary_area.geojson", "exit2", ""),
    (
        "c-area-crs",
        "cli",
        "import areas {f} --crs EPSG:999999",
        "html_area.geojson",
        "exit2",
        "crs",
    ),
    (
        "c-area-crs-text",
        "cli",
        'import areas {f} --crs "\'; DROP TABLE areas"',
        "html_area.geojson",
        "exit2",
        "crs",
    ),
    ("c-bld-swapped", "cli", "import buildings {f}", "swapped_buildings.geojson", "exit2", ""),
    ("c-bld-range", "cli", "import buildings {f}", "out_of_range_buildings.geojson", "exit2", ""),
    (
        "c-bld-negative",
        "cli",
        "import buildings {f}",
        "negative_households_buildings.geojson",
        "exit2",
        "households",
    ),
    ("c-hh-unknown", "cli", "import households {f}", "households_unknown_ids.csv", "exit2", ""),
    ("c-hh-text", "cli", "import households {f}", "households_text.csv", "exit2", "households"),
    (
        "c-hh-negative",
        "cli",
        "import households {f}",
        "households_negative.csv",
        "exit2",
        "households",
    ),
    # tracks check is a batch checker: one ERROR line per bad file on stdout, non-zero exit
    ("c-track-laughs", "cli", "tracks check {f}", "billion_laughs.gpx", "fail", "dtd"),
    ("c-track-xxe", "cli", "tracks check {f}", "xxe_file.gpx", "fail", "dtd"),
    ("c-track-binary", "cli", "tracks check {f}", "binary.gpx", "fail", "binary"),
    (
        "c-match-laughs",
        "cli",
        "match --network {d}/network_good.geojson --track {f} --out {o}",
        "billion_laughs.gpx",
        "exit2",
        "dtd",
    ),
    (
        "c-match-nan",
        "cli",
        "match --network {d}/network_good.geojson --track {f} --out {o}",
        "nan_coords.gpx",
        "exit2",
        "finite",
    ),
    (
        "c-match-net-binary",
        "cli",
        "match --network {f} --track {d}/unsorted_times.gpx --out {o}",
        "binary_area.geojson",
        "exit2",
        "",
    ),
    (
        "c-assign-nan",
        "cli",
        "assign stewards --alleys {d}/alleys_good.geojson --people {f} --out {o}",
        "people_nan.csv",
        "exit2",
        "",
    ),
    (
        "c-assign-swapped",
        "cli",
        "assign stewards --alleys {d}/alleys_good.geojson --people {f} --out {o}",
        "people_swapped.csv",
        "exit2",
        "",
    ),
    (
        "c-assign-empty",
        "cli",
        "assign stewards --alleys {f} --people {d}/people_good.csv --out {o}",
        "alleys_empty.geojson",
        "exit2",
        "",
    ),
]


_PART = "partition --min-households {lo} --max-households {hi} --out {o} "
# gridward partition (file mode): broken areas/buildings, bad bounds, hostile options
CASES += [
    (f"c-part-{k}", "cli", _PART.format(lo=lo, hi=hi, o="{o}") + args, f, "exit2", m)
    for k, lo, hi, args, f, m in [
        (
            "bowtie",
            300,
            500,
            "--area {f} --buildings {d}/buildings_good.geojson",
            "self_intersecting_area.geojson",
            "",
        ),
        (
            "empty",
            300,
            500,
            "--area {f} --buildings {d}/buildings_good.geojson",
            "empty_polygon_area.geojson",
            "",
        ),
        (
            "binary",
            300,
            500,
            "--area {d}/area_good.geojson --buildings {f}",
            "binary_area.geojson",
            "",
        ),
        (
            "negative",
            300,
            500,
            "--area {d}/area_good.geojson --buildings {f}",
            "negative_households_buildings.geojson",
            "households",
        ),
        (
            "swapped",
            300,
            500,
            "--area {d}/area_good.geojson --buildings {f}",
            "swapped_buildings.geojson",
            "",
        ),
        (
            "minmax",
            500,
            300,
            "--area {d}/area_good.geojson --buildings {f}",
            "buildings_good.geojson",
            "households",
        ),
        (
            "prefix-sql",
            300,
            500,
            '--area {d}/area_good.geojson --buildings {f} --code-prefix "1\'; DROP TABLE grids"',
            "buildings_good.geojson",
            "prefix",
        ),
        (
            "crs",
            300,
            500,
            "--area {d}/area_good.geojson --buildings {f} --crs EPSG:999999",
            "buildings_good.geojson",
            "crs",
        ),
    ]
]


def main() -> None:
    FILES.mkdir(exist_ok=True)
    for name, content in FILE_CASES.items():
        data = content.encode() if isinstance(content, str) else content
        (FILES / name).write_bytes(data)
    with (HERE / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "channel", "target", "file", "expect", "mention"])
        w.writerows(CASES)
    print(f"{len(FILE_CASES)} files, {len(CASES)} cases")


if __name__ == "__main__":
    main()

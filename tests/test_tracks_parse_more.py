"""Track files as Chinese phone apps and office staff write them: title rows above the header,
no header at all, Excel serial dates, decimal commas, CST/GMT+8 zone words, NMEA logs, XLSX
sheets and UTF-16 text. Every file is generated here; each test failed before these formats
were read (they were refused with a 4xx, or read 8 hours off).

Times without a zone in tables are the city's local time (Asia/Shanghai): 08:00 there is
00:00 UTC. NMEA and epochs are UTC by definition.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from functools import reduce
from operator import xor

import numpy as np
import pandas as pd
import pytest

from geo.errors import InputError
from geo.tracks.parse import parse_track


# the summary-row warning (geo.tracks.parse_table), its Chinese and its English
def summary(n: int, shown: str) -> str:
    """The warning naming ``n`` summary rows below the fixes (``shown``: their cells, quoted)."""
    rows = "row" if n == 1 else "rows"
    return (
        f"已忽略定位点下方表格末尾的 {n} 行汇总行：{shown} "
        f"{n} summary {rows} below the fixes ignored: {shown}"
    )


T0 = pd.Timestamp("2026-11-20T00:00:00Z")  # 2026-11-20 08:00:00 in Beijing
N = 5
LON = [116.3125 + i * 4e-5 for i in range(N)]
LAT = [39.9987 + i * 1e-5 for i in range(N)]
TIMES = [T0 + pd.Timedelta(seconds=5 * i) for i in range(N)]
LOCAL = [f"{t.tz_convert('Asia/Shanghai'):%Y-%m-%d %H:%M:%S}" for t in TIMES]


def _check(p, n: int = N, times: list[pd.Timestamp] = TIMES, fmt: str | None = None) -> None:
    """The walk's exact fixes: count, UTC times, coordinates (and format)."""
    assert len(p.points) == n, (len(p.points), p.warnings)
    assert list(p.points["time"]) == times[:n]
    assert str(p.points["time"].dt.tz) == "UTC"
    assert np.allclose(p.points["lon"], LON[:n], atol=1e-9, rtol=0)
    assert np.allclose(p.points["lat"], LAT[:n], atol=1e-9, rtol=0)
    if fmt is not None:
        assert p.format == fmt


def _rows(sep: str = ",", times: list[str] = LOCAL, lat_first: bool = False) -> list[str]:
    return [
        sep.join([f"{y:.7f}", f"{x:.7f}", t] if lat_first else [f"{x:.7f}", f"{y:.7f}", t])
        for x, y, t in zip(LON, LAT, times, strict=True)
    ]


def _refused(data: bytes, name: str | None) -> str:
    with pytest.raises(InputError) as err:
        parse_track(data, name)
    return err.value.message


# ---------------------------------------------------------------- 1. title rows above header
@pytest.mark.parametrize(
    ("head", "enc"),
    [
        ("轨迹导出 2026-11-20 张三\n\n", "utf-8"),
        # saved from Excel: title and note rows padded with separators, a row of commas, GBK
        ("轨迹导出 2026-11-20 张三,,\n,,\n备注：日巡 (单位: 度),,\n", "gb18030"),
        ('"巡查记录","",""\n"导出时间: 2026-11-20",,\n\n', "utf-8"),
    ],
)
def test_title_rows_above_the_header_are_skipped(head, enc):
    text = head + "经度,纬度,定位时间\n" + "\n".join(_rows()) + "\n"
    p = parse_track(text.encode(enc), "导出.csv")
    _check(p, fmt="csv")
    assert list(p.points["source_index"]) == list(range(N))


def test_header_further_down_than_ten_rows_is_refused_with_the_reason():
    text = "".join(f"说明 {i}\n" for i in range(11)) + "lon,lat,time\n" + "\n".join(_rows())
    msg = _refused(text.encode(), "t.csv")
    assert "CSV needs lon/lat" in msg and "no header row naming them in the first 10 rows" in msg


# ---------------------------------------------------------------------- 2. headerless CSV
@pytest.mark.parametrize(
    ("lines", "name"),
    [
        (_rows(), "t.csv"),  # lon, lat, local time
        (_rows(lat_first=True), "t.csv"),  # lat before lon: told apart by China's ranges
        # a logger's export: epoch ms first, then lat/lon, accuracy (int) and altitude (1 dp)
        (
            [
                f"{int(t.timestamp() * 1000)},{y:.6f},{x:.6f},{5 + i},{48.5 + i:.1f}"
                for i, (x, y, t) in enumerate(zip(LON, LAT, TIMES, strict=True))
            ],
            "gps.txt",
        ),
        # date and time of day in two columns, then coordinates
        (
            [f"{t[:10]},{t[11:]},{x:.7f},{y:.7f}" for x, y, t in zip(LON, LAT, LOCAL, strict=True)],
            "t.csv",
        ),
    ],
)
def test_headerless_csv_columns_are_told_by_their_values(lines, name):
    p = parse_track(("\n".join(lines) + "\n").encode(), name)
    _check(p, fmt="csv")
    assert p.points["accuracy"].isna().all()  # no header says which column is accuracy


def test_headerless_outside_china_longitude_is_the_column_beyond_90():
    rows = [f"{-122.4194 - i * 1e-4:.6f},{37.7749:.6f},{t}Z" for i, t in enumerate(LOCAL)]
    p = parse_track(("\n".join(rows) + "\n").encode(), "sf.csv")
    assert p.points["lon"].iloc[0] == pytest.approx(-122.4194)
    assert p.points["lat"].iloc[0] == pytest.approx(37.7749)
    assert p.points["time"].iloc[0] == pd.Timestamp("2026-11-20T08:00:00Z")  # Z: UTC


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        # WGS-84 and GCJ-02 pairs side by side: which pair is the track's?
        (
            [
                f"{x:.7f},{y:.7f},{x + 0.0061:.7f},{y + 0.0014:.7f},{t}"
                for x, y, t in zip(LON, LAT, LOCAL, strict=True)
            ],
            "column 1 and column 3 look like longitudes (73–136)",
        ),
        # outside China both coordinates within ±90: lon/lat order unknown
        (
            [f"{2.3522 + i * 1e-4:.6f},{48.8566:.6f},{t}" for i, t in enumerate(LOCAL)],
            "cannot tell longitude from latitude (column 1 and column 2",
        ),
        # a fix time and an upload time
        (
            [f"{r},{t}" for r, t in zip(_rows(), LOCAL, strict=True)],
            "column 3 and column 4 hold times, cannot tell which is the fix time",
        ),
        # no time at all
        (
            [
                f"{x:.7f},{y:.7f},{5 + i},{40.5:.1f}"
                for i, (x, y) in enumerate(zip(LON, LAT, strict=True))
            ],
            "no column of times",
        ),
    ],
)
def test_ambiguous_headerless_csv_is_refused_naming_the_columns(lines, words):
    msg = _refused(("\n".join(lines) + "\n").encode(), "t.csv")
    assert "headerless CSV: " in msg, msg
    assert words in msg, msg
    assert "add a header row" in msg


# --------------------------------------------------------------------- 3. Excel serial days
def _serial(t: pd.Timestamp, digits: int = 10) -> str:
    """``t`` (UTC) as Excel writes the Beijing wall-clock time: days since 1899-12-30."""
    local = t.tz_convert("Asia/Shanghai").tz_localize(None)
    return f"{(local - pd.Timestamp('1899-12-30')) / pd.Timedelta(days=1):.{digits}f}"


@pytest.mark.parametrize("digits", [10, 7])
def test_excel_serial_dates_in_a_time_column(digits):
    """46346.3333333 is 2026-11-20 08:00 on the wall clock (Beijing): 00:00 UTC. Before,
    such a number was read as epoch seconds (1 January 1970) and the file refused."""
    assert _serial(T0, 7) == "46346.3333333"
    times = [_serial(t, digits) for t in TIMES]
    p = parse_track(("lon,lat,time\n" + "\n".join(_rows(times=times)) + "\n").encode(), "x.csv")
    _check(p)


def test_excel_serial_dates_follow_a_utc_header_and_epochs_stay_epochs():
    times = [_serial(t) for t in TIMES]
    p = parse_track(("lon,lat,time(UTC)\n" + "\n".join(_rows(times=times))).encode(), "u.csv")
    assert list(p.points["time"]) == [t + pd.Timedelta(hours=8) for t in TIMES]
    epochs = [f"{t.timestamp():.3f}" for t in TIMES]  # 1795132800.000: seconds, not a serial
    p = parse_track(("lon,lat,time\n" + "\n".join(_rows(times=epochs))).encode(), "e.csv")
    _check(p)


def test_excel_serial_day_and_day_fraction_in_date_and_time_columns():
    rows = [
        f"46346,{(8 * 3600 + 5 * i) / 86400:.10f},{x:.7f},{y:.7f}"
        for i, (x, y) in enumerate(zip(LON, LAT, strict=True))
    ]
    p = parse_track(("日期,时间,经度,纬度\n" + "\n".join(rows)).encode(), "d.csv")
    _check(p)


def test_excel_whole_days_without_a_time_are_refused():
    times = [str(46346 + i) for i in range(N)]
    msg = _refused(("lon,lat,time\n" + "\n".join(_rows(times=times))).encode(), "d.csv")
    assert "Excel dates without a time of day (2026-11-22)" in msg


# ----------------------------------------------------------- 4. decimal commas, tabs, BOM
def test_semicolons_with_decimal_commas():
    rows = [
        f"{x:.7f};{y:.7f};{t};{5.5 + i}".replace(".", ",")
        for i, (x, y, t) in enumerate(zip(LON, LAT, LOCAL, strict=True))
    ]
    p = parse_track(("Longitude;Latitude;Time;Accuracy\n" + "\n".join(rows)).encode(), "e.csv")
    _check(p)
    assert list(p.points["accuracy"]) == [5.5, 6.5, 7.5, 8.5, 9.5]
    # headerless, UTF-8 with BOM (Excel's "CSV UTF-8"), quoted decimal commas after a comma
    headerless = "\n".join(r.rsplit(";", 1)[0] for r in rows)
    _check(parse_track(headerless.encode("utf-8-sig"), "e.csv"))
    quoted = "lon,lat,time\n" + "\n".join(
        f'"{x:.7f}","{y:.7f}",{t}'.replace(".", ",")
        for x, y, t in zip(LON, LAT, LOCAL, strict=True)
    )
    _check(parse_track(quoted.encode(), "q.csv"))


def test_tab_separated_without_header():
    _check(parse_track(("\n".join(_rows("\t")) + "\n").encode(), "t.tsv"))


# ----------------------------------------------------------------------- 5. zone words
@pytest.mark.parametrize(
    "fmt",
    [
        "{t} CST",
        "{t} GMT+8",  # was read as POSIX GMT+8 (UTC-8): 16 hours off
        "{t} GMT+08:00",
        "{t}(UTC+08:00)",
        "{t} UTC+0800",
        "北京时间 {t}",
        "{t}（北京时间）",
        "{d}T{h}CST",
    ],
)
def test_time_zone_words_mean_beijing_time(fmt):
    times = [fmt.format(t=t, d=t[:10], h=t[11:]) for t in LOCAL]
    p = parse_track(("lon,lat,time\n" + "\n".join(_rows(times=times))).encode(), "z.csv")
    _check(p)


def test_java_date_strings_and_offset_headers():
    java = [(t.tz_convert("Asia/Shanghai")).strftime("%a %b %d %H:%M:%S CST %Y") for t in TIMES]
    assert java[0] == "Fri Nov 20 08:00:00 CST 2026"
    _check(parse_track(("lon,lat,time\n" + "\n".join(_rows(times=java))).encode(), "j.csv"))
    # a header naming GMT+8 was taken for UTC (it says "GMT"): 8 hours late
    p = parse_track(("lon,lat,时间(GMT+8)\n" + "\n".join(_rows())).encode(), "h.csv")
    _check(p)
    gmt = [f"{t:%Y-%m-%d %H:%M:%S}" for t in TIMES]  # GMT-5 wall clock: 5 h behind UTC
    p = parse_track(("lon,lat,time (UTC-05:00)\n" + "\n".join(_rows(times=gmt))).encode(), "w.csv")
    _check(p, times=[t + pd.Timedelta(hours=5) for t in TIMES])


# ---------------------------------------------------------------------------- 6. NMEA
def _nmea(body: str, good: bool = True) -> str:
    cs = reduce(xor, body.encode(), 0) ^ (0 if good else 1)
    return f"${body}*{cs:02X}"


def _ddmm(v: float, width: int) -> str:
    deg = int(v)
    return f"{deg:0{width}d}{(v - deg) * 60:09.6f}"


def _nmea_log() -> tuple[str, list[pd.Timestamp]]:
    """A logger's walk across midnight UTC: RMC + GGA pairs, GGA-only instants (before the
    first RMC, and after midnight), an RMC without a fix, a corrupted RMC, satellite noise."""
    start = pd.Timestamp("2026-11-20T23:59:45Z")
    lines = ["# NMEA log, GPS Logger for Android"]
    times = []
    for i in range(7):
        t = start + pd.Timedelta(seconds=5 * i)
        times.append(t)
        lat, lon = 39.9987 + i * 1e-5, 116.3125 + i * 4e-5
        pos = f"{_ddmm(lat, 2)},N,{_ddmm(lon, 3)},E"
        tod = f"{t:%H%M%S}.00"
        rmc = f"GNRMC,{tod},A,{pos},0.6,75.2,{t:%d%m%y},,,A"
        if i in (1, 2, 5):
            lines.append(_nmea(rmc))
        if i == 6:
            lines.append(_nmea(rmc, good=False))  # a wrong checksum: skipped
        lines.append(_nmea(f"GNGGA,{tod},{pos},1,14,{0.8 + i / 10:.1f},51.2,M,-8.9,M,,"))
        lines.append(_nmea("GPGSV,3,1,11,02,41,302,38,05,15,045,29,12,68,050,44,13,22,160,33"))
    lines.append(_nmea("GNRMC,000020.00,V,,,,,,,211126,,,N"))  # no fix
    return "\r\n".join(lines) + "\r\n", times


@pytest.mark.parametrize("name", ["walk.nmea", "walk.txt", "20261120.log", None])
def test_nmea_log_rmc_dates_gga_fixes_and_hdop(name):
    text, times = _nmea_log()
    p = parse_track(text.encode(), name)
    assert p.format == "nmea"
    assert list(p.points["time"]) == times  # GGA-only fixes dated across midnight
    assert p.points["time"].iloc[3] == pd.Timestamp("2026-11-21T00:00:00Z")
    assert np.allclose(p.points["lon"], [116.3125 + i * 4e-5 for i in range(7)], atol=1e-8)
    assert np.allclose(p.points["lat"], [39.9987 + i * 1e-5 for i in range(7)], atol=1e-8)
    assert np.allclose(p.points["accuracy"], [5 * (0.8 + i / 10) for i in range(7)])  # HDOP×5 m
    assert (
        "已跳过 1 条无效的 NMEA 语句（1 条校验和错误） "
        "1 NMEA sentences skipped (1 with a wrong checksum)" in p.warnings
    )
    assert any("1 NMEA sentences without a fix" in w for w in p.warnings)


def test_nmea_without_a_valid_rmc_time_is_refused():
    text, _ = _nmea_log()
    gga_only = "\n".join(line for line in text.splitlines() if "RMC" not in line)
    msg = _refused(gga_only.encode(), "gga.nmea")
    assert "NMEA log has no valid RMC sentence" in msg and "cannot be placed in time" in msg
    bad_sums = "\n".join(line[:-2] + "00" if "RMC" in line else line for line in text.splitlines())
    msg = _refused(bad_sums.encode(), "bad.nmea")
    assert "no valid RMC sentence" in msg and "with a wrong checksum" in msg
    msg = _refused(text.encode(), "walk.gpx")
    assert "has a .gpx name but its content looks like NMEA" in msg


# ---------------------------------------------------------------------------- 7. XLSX
def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    wb.create_sheet("说明").append(["第二张表不读"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


LOCAL_DT = [t.tz_convert("Asia/Shanghai").tz_localize(None).to_pydatetime() for t in TIMES]


@pytest.mark.parametrize("name", ["巡查.xlsx", "track.dat", None])
def test_xlsx_with_title_rows_date_cells_and_accuracy(name):
    rows: list[list[object]] = [
        ["巡查轨迹 张三 2026-11-20"],
        [],
        ["经度", "纬度", "定位时间", "精度(米)"],
    ]
    rows += [[x, y, t, 5 + i] for i, (x, y, t) in enumerate(zip(LON, LAT, LOCAL_DT, strict=True))]
    p = parse_track(_xlsx(rows), name)
    _check(p, fmt="xlsx")
    assert list(p.points["accuracy"]) == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_xlsx_date_and_time_cells_serial_numbers_and_no_header():
    split = [["日期", "时间", "经度", "纬度"]] + [
        [dt.datetime(2026, 11, 20), t.time(), x, y]
        for x, y, t in zip(LON, LAT, LOCAL_DT, strict=True)
    ]
    _check(parse_track(_xlsx(split), "s.xlsx"), fmt="xlsx")
    serial = [[x, y, float(_serial(t))] for x, y, t in zip(LON, LAT, TIMES, strict=True)]
    _check(parse_track(_xlsx(serial), "n.xlsx"), fmt="xlsx")
    epoch_ms = [[int(t.timestamp() * 1000), y, x] for x, y, t in zip(LON, LAT, TIMES, strict=True)]
    _check(parse_track(_xlsx(epoch_ms), "m.xlsx"), fmt="xlsx")


def _rezip(data: bytes, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n in src.namelist():
            z.writestr(n, change(n, src.read(n)))
    return out.getvalue()


def test_bad_xlsx_files_say_why(monkeypatch):
    good = _xlsx(
        [["lon", "lat", "time"], *([x, y, t] for x, y, t in zip(LON, LAT, LOCAL, strict=True))]
    )
    sheet = "xl/worksheets/sheet1.xml"
    entities = _rezip(
        good,
        lambda n, d: (
            b'<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            + d.replace(b"<t>lon</t>", b"<t>&b;</t>")
            if n == sheet
            else d
        ),
    )
    assert "XLSX rejected: its XML declares entities" in _refused(entities, "e.xlsx")
    assert "broken or unsupported XLSX file" in _refused(good[:400], "cut.xlsx")
    garbage = _rezip(good, lambda n, d: b"<" if n == "xl/workbook.xml" else d)
    assert "broken or unsupported XLSX file" in _refused(garbage, "g.xlsx")
    no_header = _xlsx([["名称", "备注"], ["a", "b"]])
    assert "XLSX needs lon/lat (经度/纬度) columns; found: 名称, 备注" in _refused(
        no_header, "h.xlsx"
    )
    assert "old Excel workbook (.xls)" in _refused(
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "a.xls"
    )
    import geo.tracks.parse_table as table

    monkeypatch.setattr(table, "XLSX_UNPACK_RATIO", 1)  # a zip bomb, cheaply
    with pytest.raises(InputError) as err:
        parse_track(good, "big.xlsx", max_bytes=len(good))
    assert f"XLSX unpacks to more than {len(good):,} bytes (limit: 1 × the upload" in (
        err.value.message
    )


# ------------------------------------------------------------------- 8. UTF-16 and BOMs
def test_excel_unicode_text_utf16_tab_separated():
    """Excel's "Unicode text" export: UTF-16 LE with a byte-order mark, tabs, CRLF. It was
    refused as binary (its NUL bytes)."""
    text = "经度\t纬度\t定位时间\r\n" + "\r\n".join(_rows("\t")) + "\r\n"
    for data in (text.encode("utf-16"), b"\xfe\xff" + text.encode("utf-16-be")):
        _check(parse_track(data, "导出.txt"), fmt="csv")
    # title rows and no header work there too
    _check(parse_track(("导出\r\n" + text).encode("utf-16"), "x.csv"))
    _check(parse_track("\r\n".join(_rows("\t")).encode("utf-16"), "x.txt"))


def test_utf16_gpx_and_bad_utf16():
    from tests.test_tracks_parse_office import GPX as gpx  # the same walk, declared UTF-16

    p = parse_track(gpx.encode("utf-16"), "a.gpx")
    _check(p, fmt="gpx")
    assert p.name == "小巷巡查"
    # UTF-16 without a byte-order mark: its byte order is told from where the NULs fall
    _check(parse_track(gpx.encode("utf-16-le"), "a.gpx"), fmt="gpx")
    odd = "lon,lat,time\n".encode("utf-16") + b"\x00"
    assert "text has a UTF-16 byte-order mark but is not UTF-16" in _refused(odd, "a.csv")


# -------------------------------------------------------------- 9. limits and corner cases
def _sheet_xlsx(sheet_data: str, date1904: bool = False) -> bytes:
    """A minimal workbook whose first sheet's XML is written by hand (no <dimension>)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/officeDocument"'
            ' Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{rel}">'
            + ('<workbookPr date1904="1"/>' if date1904 else "")
            + '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/worksheet"'
            ' Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><sheetData>{sheet_data}'
        "</sheetData></worksheet>",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + text)
    return buf.getvalue()


def _text_row(*cells: str) -> str:
    return "<row>" + "".join(f'<c t="inlineStr"><is><t>{c}</t></is></c>' for c in cells) + "</row>"


def test_xlsx_reading_stops_at_the_cell_limit(monkeypatch):
    """A crafted sheet of millions of small cells (a 326 KB upload unpacking to 99 MB took
    63 s and 656 MB before it was refused): the reader counts the cells it reads and stops
    at the limit; the limit is lowered here so a small sheet trips it."""
    import geo.tracks.parse_table as table

    rows = [["lon", "lat", "time", *(f"x{i}" for i in range(20))]]
    rows += [[x, y, t, *range(20)] for x, y, t in zip(LON * 20, LAT * 20, LOCAL * 20, strict=True)]
    data = _xlsx(rows)
    read = []
    cell_text = table._cell_text
    monkeypatch.setattr(table, "_cell_text", lambda v: read.append(v) or cell_text(v))
    monkeypatch.setattr(table, "XLSX_MAX_CELLS", 500, raising=False)
    msg = _refused(data, "big.xlsx")
    assert "XLSX sheet has more than 500 cells (limit)" in msg, msg
    assert len(read) <= 500  # stopped inside the sheet, well before its 2,323 cells


def test_xlsx_unpacked_size_limit_follows_the_upload_limit():
    rows = [["lon", "lat", "time"]] + [[x, y, t] for x, y, t in zip(LON, LAT, LOCAL, strict=True)]
    rows += [[LON[0], LAT[0], LOCAL[0]]] * 2000  # repetitive rows: compress ~10x
    data = _xlsx(rows)
    limit = len(data) + 100
    with pytest.raises(InputError) as err:
        parse_track(data, "big.xlsx", max_bytes=limit)
    assert f"XLSX unpacks to more than {3 * limit:,} bytes (limit: 3 × the upload limit" in (
        err.value.message
    )
    assert len(parse_track(data, "big.xlsx").points) == N + 2000  # the default limit reads it


def test_xlsx_of_empty_xml_elements_is_refused_before_it_is_parsed(monkeypatch):
    """Empty cells (<c/>) cost the XML parser as much as full ones but hold no value to count:
    the elements of the unpacked XML are counted (at C speed) before openpyxl parses any."""
    import openpyxl

    import geo.tracks.parse_table as table

    data = _sheet_xlsx(_text_row("lon", "lat", "time") + ("<row>" + "<c/>" * 100 + "</row>") * 50)
    monkeypatch.setattr(table, "XLSX_MAX_ELEMENTS", 4000, raising=False)

    def never(*args, **kwargs):
        raise AssertionError("openpyxl read a workbook over the limit")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    msg = _refused(data, "empty.xlsx")
    assert "XLSX has more than 4,000 XML elements (limit" in msg, msg


def test_xlsx_keeps_only_the_track_columns_after_the_header(monkeypatch):
    import geo.tracks.parse_table as table

    seen = []
    table_raw = table.table_raw
    monkeypatch.setattr(
        table,
        "table_raw",
        lambda df, *a, **k: seen.append(list(df.columns)) or table_raw(df, *a, **k),
    )
    rows = [["标题"], ["备注", "海拔", "经度", "纬度", "定位时间", "速度", "精度"]]
    rows += [["x", 40.5, x, y, t, 1.2, 5] for x, y, t in zip(LON, LAT, LOCAL_DT, strict=True)]
    _check(parse_track(_xlsx(rows), "k.xlsx"), fmt="xlsx")
    assert seen == [["经度", "纬度", "定位时间", "精度"]]
    # a refusal still names every column of the header
    msg = _refused(_xlsx([["lon", "lat", "speed", "备注"], [LON[0], LAT[0], 1.0, "x"]]), "n.xlsx")
    assert "XLSX has no time column (time/timestamp/时间); found: lon, lat, speed, 备注" in msg


def test_wide_csv_rows_are_refused_or_cut_to_the_header(monkeypatch):
    """A headerless row of 125,000 values took 60 s (pandas work per column): more than 64
    columns without a header are refused before pandas reads the file. With a header, extra
    fields in a row (200,000 of them took ~30 s: pandas made them a MultiIndex, shifting the
    columns) are ignored: only the header's track columns are read."""
    import geo.tracks.parse_table as table

    calls = []
    read_csv = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(k) or read_csv(*a, **k))
    wide = ("1.00000," * 100 + "\n") * 3
    msg = _refused(wide.encode(), "t.csv")
    assert "headerless CSV has more than 64 columns" in msg and "add a header row" in msg, msg
    assert calls == []  # refused before pandas read it

    seen = []
    table_raw = table.table_raw
    monkeypatch.setattr(
        table, "table_raw", lambda df, *a, **k: seen.append(df.shape) or table_raw(df, *a, **k)
    )
    rows = _rows()
    rows[0] += ",1" * 5000  # a first row far wider than the header
    rows[1:] = [r + "," for r in rows[1:]]  # trailing commas (Excel)
    text = "lon,lat,time,备注\n" + "\n".join(rows) + "\n"
    _check(parse_track(text.encode(), "w.csv"))
    assert seen == [(N, 3)]
    # a header wider than every row (its last column left empty) and one repeating a name
    text = "lon,lat,time,精度\n" + "\n".join(_rows()) + "\n"
    _check(parse_track(text.encode(), "s.csv"))
    text = "lon,lat,time" + ",x" * 3000 + "\n" + "\n".join(_rows()) + "\n"
    _check(parse_track(text.encode(), "x.csv"))


def test_csv_with_cr_only_line_endings():
    """Excel for Mac's "CSV (Macintosh)" ends lines with CR alone."""
    _check(parse_track(("lon,lat,time\r" + "\r".join(_rows()) + "\r").encode(), "mac.csv"))
    _check(parse_track(("标题,,\r\r经度,纬度,时间\r" + "\r".join(_rows())).encode(), "mac.csv"))


def test_comma_csv_without_quotes_skips_the_decimal_comma_pass(monkeypatch):
    """A comma-separated file without quotes cannot hold a decimal comma in a cell: the
    per-column pass looking for them is skipped (it was 0.6 s of a 22 MB file)."""
    import geo.tracks.parse_table as table

    calls = []
    fix = table._decimal_comma
    monkeypatch.setattr(table, "_decimal_comma", lambda col: calls.append(1) or fix(col))
    _check(parse_track(("lon,lat,time\n" + "\n".join(_rows())).encode(), "c.csv"))
    assert calls == []
    quoted = "lon,lat,time\n" + "\n".join(
        f'"{x:.7f}","{y:.7f}",{t}'.replace(".", ",")
        for x, y, t in zip(LON, LAT, LOCAL, strict=True)
    )
    _check(parse_track(quoted.encode(), "q.csv"))
    assert calls
    # the zone-word and Chinese-date rewrites still reach a single value needing them
    times = list(LOCAL)
    times[2] = f"{LOCAL[2]} CST"
    times[3] = f"{LOCAL[3][:4]}年{LOCAL[3][5:7]}月{LOCAL[3][8:10]}日 {LOCAL[3][11:]}"
    _check(parse_track(("lon,lat,time\n" + "\n".join(_rows(times=times))).encode(), "m.csv"))


def test_offset_header_without_colon_and_zone_words_ending_in_cst():
    """time(UTC+800) was read as UTC (the pattern took "80" hours and gave up); ACST
    (Australian Central) was read as CST, China Standard Time."""
    p = parse_track(("lon,lat,time(UTC+800)\n" + "\n".join(_rows())).encode(), "h.csv")
    _check(p)
    acst = [f"{t} ACST" for t in LOCAL]
    text = ("lon,lat,time\n" + "\n".join(_rows(times=acst))).encode()
    try:
        p = parse_track(text, "a.csv")
    except InputError as exc:
        assert "time" in exc.message
    else:  # never read as China Standard Time
        assert list(p.points["time"]) != TIMES


def test_one_number_test_for_tables_and_times():
    import geo.tracks.parse_table as table
    import geo.tracks.parse_time as times

    assert table._is_number is times._is_number


def test_xlsx_serial_numbers_of_a_1904_workbook():
    """Old Mac Excel counts days from 1904-01-01: its serial numbers read with the 1900 base
    were 4 years and a day early. (A CSV cannot say which base it had: read as 1900.)"""
    day0 = pd.Timestamp("1904-01-01")

    def serial(t: pd.Timestamp) -> float:
        return (t.tz_convert("Asia/Shanghai").tz_localize(None) - day0) / pd.Timedelta(days=1)

    rows = _text_row("lon", "lat", "time") + "".join(
        f"<row><c><v>{x}</v></c><c><v>{y}</v></c><c><v>{serial(t):.10f}</v></c></row>"
        for x, y, t in zip(LON, LAT, TIMES, strict=True)
    )
    _check(parse_track(_sheet_xlsx(rows, date1904=True), "mac.xlsx"), fmt="xlsx")
    day = int(serial(T0))
    split = _text_row("日期", "时间", "经度", "纬度") + "".join(
        f"<row><c><v>{day}</v></c><c><v>{(8 * 3600 + 5 * i) / 86400:.10f}</v></c>"
        f"<c><v>{x}</v></c><c><v>{y}</v></c></row>"
        for i, (x, y) in enumerate(zip(LON, LAT, strict=True))
    )
    _check(parse_track(_sheet_xlsx(split, date1904=True), "mac.xlsx"), fmt="xlsx")
    # the same numbers in a 1900 workbook are 1,462 days earlier
    p = parse_track(_sheet_xlsx(rows), "win.xlsx")
    assert list(p.points["time"]) == [t - pd.Timedelta(days=1462) for t in TIMES]


def test_chinese_clock_words_are_read() -> None:
    """10时05分30秒 and 下午2点5分 (refused before: "time values not understood")."""
    from geo.tracks.parse import parse_track

    rows = ["经度,纬度,时间"] + [
        f"116.3{i:03d},39.99,2026年11月10日 10时0{i}分30秒" for i in range(5)
    ]
    t = parse_track("\n".join(rows).encode(), "a.csv").points["time"]
    assert t.iloc[1] == pd.Timestamp("2026-11-10 02:01:30", tz="UTC")  # Beijing 10:01:30
    rows = ["经度,纬度,时间"] + [
        f"116.3{i:03d},39.99,2026年11月10日 下午2点{i}分" for i in range(5)
    ]
    t = parse_track("\n".join(rows).encode(), "a.csv").points["time"]
    assert t.iloc[2] == pd.Timestamp("2026-11-10 06:02:00", tz="UTC")  # Beijing 14:02


# --------------------------------------- 10. UTF-32, and UTF-16 under a Chinese preamble
# a preamble as office systems write it above a table: ~2,200 CJK characters (4.4 KB in
# UTF-16, more than the 4 KB the byte order used to be told from), 一 (00 4E) among them
_PREAMBLE = "海淀区网格化管理巡查轨迹导出，第一组，一人一表，一日一表，说明：本表由系统生成。" * 54


def _tsv(title: str = "轨迹导出 第一组") -> str:
    return f"{title}\r\n经度\t纬度\t定位时间\r\n" + "\r\n".join(_rows("\t")) + "\r\n"


@pytest.mark.parametrize("codec", ["utf-32-le", "utf-32-be"])
def test_utf32_without_byte_order_mark_is_read(codec):
    """UTF-32 without a mark (three NULs in four bytes for ASCII) was refused as binary."""
    _check(parse_track(_tsv().encode(codec), "导出.txt"), fmt="csv")
    csv = "lon,lat,time\n" + "\n".join(_rows()) + "\n"
    _check(parse_track(csv.encode(codec), None), fmt="csv")
    # a Chinese preamble (two NULs in four) changes nothing
    _check(parse_track(_tsv(_PREAMBLE).encode(codec), "导出.txt"), fmt="csv")
    # cut inside a character: named, not "binary"
    name = codec.upper()
    msg = _refused(csv.encode(codec)[:-1], "cut.csv")
    assert msg.startswith(f"文本看似 {name} 编码（无字节顺序标记），但不是有效的 {name} 编码（")
    assert f" text looks like {name} (no byte-order mark) but is not {name}: " in msg


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_byte_order_mark_under_a_long_chinese_preamble(codec):
    """The first 4 KB all Chinese (few NULs, and 一's on the other side): refused as binary
    before; told now by the runs of NULs of the numbers below it, up to 64 KB in."""
    data = _tsv(_PREAMBLE).encode(codec)
    assert data.index("经度".encode(codec)) > 4096
    _check(parse_track(data, "导出.txt"), fmt="csv")
    # a single row of numbers below the preamble is enough
    one = f"{_PREAMBLE}\r\n经度\t纬度\t定位时间\r\n{_rows(chr(9))[0]}\r\n".encode(codec)
    _check(parse_track(one, "导出.txt"), n=1)
    # the same text in GBK and UTF-8 (no NUL byte at all) is read as before
    for enc in ("gb18030", "utf-8"):
        _check(parse_track(_tsv(_PREAMBLE).encode(enc), "导出.txt"), fmt="csv")


def test_binary_stray_nuls_and_gbk_are_not_taken_for_utf16_or_utf32():
    """What the wider byte-order test must still refuse or leave alone; the UTF-32 read
    (its first assertion) was refused as binary before."""
    _check(parse_track(_tsv().encode("utf-32-le"), "导出.txt"), fmt="csv")
    rng = np.random.default_rng(20261120)
    blob = rng.integers(0, 256, 30_000, dtype=np.uint8).tobytes()
    assert b"\x00" in blob[:4096]
    assert "binary" in _refused(blob, "b.csv")
    # numbers stored as 16- and 32-bit integers: NULs on one side, control characters too
    for dtype in ("<u2", ">u2", "<u4", ">u4"):
        table = np.arange(0, 3000, dtype=dtype).tobytes()
        assert "binary" in _refused(table, "t.csv"), dtype
    # a few stray NULs in a UTF-8 CSV, all on one side: alone, not the runs of UTF-16 text
    text = ("lon,lat,time\n" + "\n".join(_rows()) + "\n").encode()
    stray = text[:20] + b"\x00" + text[20:41] + b"\x00" + text[41:80] + b"\x00" + text[80:]
    assert "binary" in _refused(stray, "s.csv")
    # GBK Chinese (no NUL at all) stays GBK
    _check(parse_track(_tsv(_PREAMBLE).encode("gbk"), "导出.txt"), fmt="csv")


# ----------------------------------------- 11. a summary row of averaged coordinates
_SERIAL_HEAD = "序号,经度,纬度,定位时间\n"


def _numbered() -> str:
    return _SERIAL_HEAD + "\n".join(f"{i + 1},{r}" for i, r in enumerate(_rows())) + "\n"


@pytest.mark.parametrize(
    ("footer", "shown"),
    [
        ("平均,116.31264,39.99872,\n", "平均, 116.31264, 39.99872"),
        ("合计,581.5632,199.9936,5\n", "合计, 581.5632, 199.9936, 5"),  # sums; a count
        ("Average,116.31264,39.99872,n/a\n", "Average, 116.31264, 39.99872, n/a"),
        ("Mean,116.31264,39.99872,\n\n", "Mean, 116.31264, 39.99872"),
        ("总计,116.31264,39.99872,\n,,,\n", "总计, 116.31264, 39.99872"),  # a blank row below
    ],
)
@pytest.mark.parametrize("enc", ["utf-8", "gb18030"])
def test_a_trailing_summary_row_with_averaged_coordinates_is_dropped(footer, shown, enc):
    """A label in a column that is not read (序号), coordinates, no time: a summary, not a
    fix. It was kept ("1 of 6 points without time dropped") or refused the file ("time
    values not understood", its count in the time column)."""
    p = parse_track((_numbered() + footer).encode(enc), "导出.csv")
    _check(p, fmt="csv")
    assert p.warnings == [summary(1, repr(shown))]


def test_summary_rows_with_coordinates_in_sheets_and_without_a_header():
    xlsx_rows: list[list[object]] = [["序号", "经度", "纬度", "定位时间"]] + [
        [i + 1, x, y, t] for i, (x, y, t) in enumerate(zip(LON, LAT, LOCAL_DT, strict=True))
    ]
    footer: list[list[object]] = [["小计", 116.31264, 39.99872, None], ["总计", 581.5632, 199.9936]]
    p = parse_track(_xlsx(xlsx_rows + footer), "f.xlsx")
    _check(p, fmt="xlsx")
    assert p.warnings == [summary(2, "'小计, 116.31264, 39.99872'")]
    # the label in the time column, no header: the same
    text = "\n".join(_rows()) + "\n116.3126400,39.9987200,平均\n"
    p = parse_track(text.encode(), "h.csv")
    _check(p, fmt="csv")
    assert p.warnings == [summary(1, "'116.3126400, 39.9987200, 平均'")]


def test_labelled_rows_with_a_time_or_among_the_fixes_are_not_summaries():
    # a last fix whose remark starts like a label (平均速度) has a time: a fix
    head = "经度,纬度,定位时间,备注\n"
    rows = [f"{r},正常" for r in _rows()]
    text = head + "\n".join([*rows[:-1], rows[-1].replace("正常", "平均速度 1.2 m/s")]) + "\n"
    p = parse_track(text.encode(), "r.csv")
    _check(p, fmt="csv")
    assert p.warnings == []
    # a trailing 平均 row with an averaged time (mid-walk, against the order): a summary,
    # in a table running forward or backward (newest first); it was kept as a fix
    mid = LOCAL[len(LOCAL) // 2]
    for order in (1, -1):
        text = head + "\n".join([*rows[::order], f"116.3126400,39.9987200,{mid},平均"]) + "\n"
        p = parse_track(text.encode(), "avg.csv")
        assert p.warnings == [summary(1, f"'116.3126400, 39.9987200, {mid}, 平均'")]
        assert len(p.points) == len(LOCAL)
    # an averaged row among the fixes is judged as before: its count is no time, refused
    middle = _SERIAL_HEAD + "\n".join(
        [*[f"{i + 1},{r}" for i, r in enumerate(_rows()[:2])], "平均,116.3126,39.9987,5"]
        + [f"{i + 3},{r}" for i, r in enumerate(_rows()[2:])]
    )
    assert "time values not understood" in _refused(middle.encode(), "m.csv")
    # a trailing averaged row below the fixes, above another footer: both summaries
    text = _numbered() + "平均,116.31264,39.99872,\n制表人：张三,,,\n"
    p = parse_track(text.encode(), "two.csv")
    _check(p, fmt="csv")
    assert p.warnings == [summary(2, "'平均, 116.31264, 39.99872'")]


def _csv(header: str, times: list[str], tail: str = "") -> bytes:
    rows = [f"{x:.5f},{y:.5f},{t}" for x, y, t in zip(LON, LAT, times, strict=True)]
    return (header + "\n" + "\n".join(rows) + tail).encode()


@pytest.mark.parametrize("cut", ["2026-11-20 08:00:2", "2026-11-20 08:0", "2026-11-20 0", "2026-1"])
def test_a_csv_cut_off_mid_line_drops_that_line_with_a_warning(cut):
    # the last line read as local midnight (or the whole file refused for "2026-11-20 0")
    text = _csv("lon,lat,time", LOCAL, f"\n{LON[-1] + 4e-5:.5f},{LAT[-1]:.5f},{cut}")
    p = parse_track(text, "cut.csv")
    _check(p)
    assert len(p.warnings) == 1 and "cut short" in p.warnings[0] and cut in p.warnings[0]


def test_a_last_line_without_fractions_or_zone_is_whole():
    whole = [f"{t}.5" for t in LOCAL[:-1]] + [LOCAL[-1]]  # 08:00:20 after 08:00:15.5
    p = parse_track(_csv("lon,lat,time", whole), "whole.csv")
    assert len(p.points) == N and not p.warnings


def test_a_time_utc_column_is_read_as_utc():
    utc = [f"{t:%Y-%m-%d %H:%M:%S}" for t in TIMES]
    _check(parse_track(_csv("lon,lat,time_utc", utc), "utc.csv"))


def test_an_upload_of_one_fix_is_refused():
    from geo.track_times import check_upload

    text = _csv("lon,lat,time", LOCAL)[: len("lon,lat,time\n") + 40].rsplit(b"\n", 1)[0]
    assert len(parse_track(text, "one.csv").points) == 1  # the file mode matches it (nothing)
    with pytest.raises(InputError, match="^只有 1 个带时间的定位点.* only 1 point"):
        check_upload(text, "one.csv")

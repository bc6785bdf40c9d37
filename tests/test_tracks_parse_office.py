"""Tracks as Chinese city staff send them from office software: tables ending in a summary
footer (合计, 总计, Total, a count), UTF-16 text without a byte-order mark, and OpenDocument
spreadsheets (.ods from LibreOffice or WPS). Every file is generated here; each test failed
before these were read (the whole file was refused).

Times without a zone are the city's local time (Asia/Shanghai): 08:00 there is 00:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd
import pytest

from geo.errors import InputError
from geo.tracks.parse import parse_track
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)


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
LOCAL_DT = [t.tz_convert("Asia/Shanghai").tz_localize(None).to_pydatetime() for t in TIMES]
ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"
# the walk as sheet rows: lon, lat and a date-time cell, under a Chinese header
WALK: list[list[object]] = [[x, y, t] for x, y, t in zip(LON, LAT, LOCAL_DT, strict=True)]
HEADER: list[object] = ["经度", "纬度", "定位时间"]


def _check(p, fmt: str, n: int = N) -> None:
    """The walk's exact fixes: count, first and last time and position, UTC, format."""
    assert p.format == fmt
    assert len(p.points) == n, (len(p.points), p.warnings)
    assert list(p.points["time"]) == TIMES[:n]
    assert str(p.points["time"].dt.tz) == "UTC"
    assert np.allclose(p.points["lon"], LON[:n], atol=1e-9, rtol=0)
    assert np.allclose(p.points["lat"], LAT[:n], atol=1e-9, rtol=0)
    first, last = p.points.iloc[0], p.points.iloc[-1]
    assert (first["lon"], first["lat"]) == pytest.approx((116.3125, 39.9987), abs=1e-9)
    assert (last["lon"], last["lat"]) == pytest.approx((116.31266, 39.99874), abs=1e-9)
    assert (first["time"], last["time"]) == (T0, T0 + pd.Timedelta(seconds=20))


def _refused(data: bytes, name: str | None, **kw) -> str:
    with pytest.raises(InputError) as err:
        parse_track(data, name, **kw)
    return err.value.message


def _rows(sep: str = ",", north: float = 0.0) -> list[str]:
    """The walk as text rows; ``north`` degrees north of it: another walk (the same fixes
    sent again are the same walk, or a copy: geo.walk_digest)."""
    return [
        sep.join([f"{x:.7f}", f"{y + north:.7f}", t])
        for x, y, t in zip(LON, LAT, LOCAL, strict=True)
    ]


def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------- ODS writer
def _cell(v: object) -> str:
    """One cell as LibreOffice Calc writes it."""
    if v is None:
        return "<table:table-cell/>"
    if isinstance(v, tuple):  # ("raw", xml): written as given
        return str(v[1])
    if isinstance(v, dt.datetime):
        iso, shown = v.isoformat(), f"{v:%Y-%m-%d %H:%M:%S}"
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{iso}" '
            f'calcext:value-type="date"><text:p>{shown}</text:p></table:table-cell>'
        )
    if isinstance(v, dt.date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{v.isoformat()}" '
            f'calcext:value-type="date"><text:p>{v:%Y/%m/%d}</text:p></table:table-cell>'
        )
    if isinstance(v, dt.time):
        dur = f"PT{v.hour:02d}H{v.minute:02d}M{v.second:02d}S"
        return (
            f'<table:table-cell office:value-type="time" office:time-value="{dur}" '
            f'calcext:value-type="time"><text:p>{v:%H:%M:%S}</text:p></table:table-cell>'
        )
    if isinstance(v, int | float):
        return (
            f'<table:table-cell office:value-type="float" office:value="{v!r}" '
            f'calcext:value-type="float"><text:p>{v}</text:p></table:table-cell>'
        )
    return (
        '<table:table-cell office:value-type="string" calcext:value-type="string">'
        f"<text:p>{escape(str(v))}</text:p></table:table-cell>"
    )


def _table(name: str, rows: list[list[object]]) -> str:
    """A sheet as LibreOffice writes it: each row padded with a repeated empty cell, and the
    rest of the sheet's 1,048,576 rows as one repeated empty row."""
    body = "".join(
        "<table:table-row>"
        + "".join(map(_cell, r))
        + '<table:table-cell table:number-columns-repeated="1018"/></table:table-row>'
        for r in rows
    )
    rest = 1_048_576 - len(rows)
    return (
        f"<table:table table:name={quoteattr(name)}>"
        '<table:table-column table:number-columns-repeated="1024"/>'
        + body
        + f'<table:table-row table:number-rows-repeated="{rest}">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        "</table:table>"
    )


_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "calcext": "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
}


def _body(rows: list[list[object]], null_date: str | None, tables: str | None) -> str:
    """The <office:body> of a spreadsheet: its first sheet ``rows`` and a second sheet that
    is not read (or the sheets ``tables``), the null date if given."""
    settings = (
        f'<table:calculation-settings><table:null-date table:date-value="{null_date}"/>'
        "</table:calculation-settings>"
        if null_date
        else ""
    )
    if tables is None:
        tables = _table("轨迹", rows) + _table("说明", [["lon", "lat", "time"], [0.5, 0.5, 1]])
    return f"<office:body><office:spreadsheet>{settings}{tables}</office:spreadsheet></office:body>"


def _repeated_cell_bomb() -> str:
    """A sheet whose one value is repeated over every row and column (1,048,575 x 16,384):
    a few hundred bytes that unroll to 17 billion cells."""
    return (
        '<table:table table:name="炸弹"><table:table-row>'
        + "".join(_cell(c) for c in ["lon", "lat", "time"])
        + '</table:table-row><table:table-row table:number-rows-repeated="1048575">'
        '<table:table-cell office:value-type="float" office:value="116.3125" '
        'table:number-columns-repeated="16384"><text:p>116.3125</text:p></table:table-cell>'
        "</table:table-row></table:table>"
    )


def _ods(
    rows: list[list[object]],
    *,
    null_date: str | None = None,
    tables: str | None = None,
    mime: str = ODS_MIME,
    head: str = "",
) -> bytes:
    """An OpenDocument spreadsheet (zip: mimetype first and stored, content.xml, ...), its
    first sheet ``rows`` and a second sheet that is not read."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        + head
        + "<office:document-content "
        + " ".join(f'xmlns:{k}="{v}"' for k, v in _NS.items())
        + ' office:version="1.3">'
        + _body(rows, null_date, tables)
        + "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3"><manifest:file-entry manifest:full-path="/" '
        f'manifest:media-type="{mime}"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", mime, compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _fods(
    rows: list[list[object]],
    *,
    null_date: str | None = None,
    tables: str | None = None,
    mime: str = ODS_MIME,
    head: str = "",
) -> bytes:
    """The same spreadsheet as :func:`_ods` saved flat (.fods): one XML document, as
    LibreOffice writes it (meta, styles, then the body), its media type an attribute."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + head
        + "<office:document "
        + " ".join(f'xmlns:{k}="{v}"' for k, v in _NS.items())
        + f' office:version="1.3" office:mimetype="{mime}">'
        + "<office:meta><meta:generator>LibreOffice/7.4</meta:generator>"
        + "<dc:title>巡查轨迹</dc:title></office:meta>"
        + '<office:styles><style:style style:name="Default" style:family="table-cell"/>'
        + "</office:styles>"
        + _body(rows, null_date, tables)
        + "</office:document>"
    ).encode()


# ---------------------------------------------------------------- 1. summary footer rows
CSV_FOOTERS = [
    "合计,,5\n",  # a label and the count in the time column: "5" is no time
    ",,共5条\n",
    "\n总计：5 个点,,\n,,\n",  # blank rows around it
    "Total,,5\n",
    "平均,39.9988,\n",  # an average latitude: no lon/lat pair
    ",,5\n",  # a count alone
    "小计,,5\n合计,,5\n制表人：张三,,\n",  # several summary rows
]


@pytest.mark.parametrize("footer", CSV_FOOTERS)
@pytest.mark.parametrize("enc", ["utf-8", "gb18030"])
def test_csv_summary_footer_rows_are_dropped(footer, enc):
    text = "经度,纬度,定位时间\n" + "\n".join(_rows()) + "\n" + footer
    p = parse_track(text.encode(enc), "导出.csv")
    _check(p, "csv")
    assert list(p.points["source_index"]) == list(range(N))
    assert any("summary row" in w and "below the fixes ignored" in w for w in p.warnings), (
        p.warnings
    )
    # a header with columns that are not read: the label sits in one of them (序号)
    wide = "序号,经度,纬度,定位时间\n" + "\n".join(f"{i},{r}" for i, r in enumerate(_rows()))
    _check(parse_track((wide + "\n合计,,,5\n").encode(enc), "wide.csv"), "csv")


def test_headerless_csv_and_tsv_with_a_summary_row():
    for sep in (",", "\t"):
        text = "\n".join(_rows(sep)) + f"\n合计{sep}{sep}5\n"
        p = parse_track(text.encode(), "x.csv")
        _check(p, "csv")
        assert p.warnings == [summary(1, "'合计, 5'")]


def test_xlsx_summary_footer_rows_are_dropped():
    body = [[i + 1, x, y, t] for i, (x, y, t) in enumerate(zip(LON, LAT, LOCAL_DT, strict=True))]
    head = [["巡查轨迹 张三"], ["序号", "经度", "纬度", "定位时间"]]
    for footer in (
        [["合计", None, None, 5]],  # the count under the time column
        [[None, None, None, "共5条"], [None, "总计：5"]],
        [[None, "平均", 39.9988, None], ["Total", "", "", 5]],
    ):
        p = parse_track(_xlsx(head + body + footer), "巡查.xlsx")
        _check(p, "xlsx")
        n = len(footer)
        assert f"{n} summary row{'s' if n > 1 else ''} below the fixes ignored" in p.warnings[0]
    # no header: columns told by their values once the footer is gone
    p = parse_track(_xlsx([r[1:] for r in body] + [["合计", None, 5]]), "h.xlsx")
    _check(p, "xlsx")


def test_only_trailing_rows_without_a_lon_lat_pair_are_footers():
    head = "经度,纬度,定位时间\n"
    rows = _rows()
    # a summary row among the fixes is judged as before: its "5" is no time, refused
    middle = head + "\n".join([*rows[:2], "合计,,5", *rows[2:]]) + "\n"
    assert "time values not understood" in _refused(middle.encode(), "m.csv")
    # a bad fix among the fixes is dropped with its own warning, as before; the footer too
    bad = "abc,def,2026-11-20 08:00:07"
    text = head + "\n".join([*rows[:2], bad, *rows[2:]]) + "\n合计,,5\n"
    p = parse_track(text.encode(), "b.csv")
    _check(p, "csv")
    assert (
        "6 个定位点中没有坐标（为空或不是数字）的 1 个已丢弃 "
        "1 of 6 points without coordinates (empty or not a number) dropped" in p.warnings
    )
    assert summary(1, "'合计, 5'") in p.warnings
    # a last row with a lon/lat pair and a label for a time is no fix (it was refused whole,
    # "time values not understood"): a summary, dropped and named (see test_tracks_parse_more
    # test_a_trailing_summary_row_with_averaged_coordinates_is_dropped)
    last = f"{LON[-1]:.7f},{LAT[-1]:.7f},合计"
    p = parse_track((head + "\n".join([*rows[:-1], last]) + "\n").encode(), "l.csv")
    assert list(p.points["time"]) == TIMES[: N - 1]
    assert np.allclose(p.points["lon"], LON[: N - 1], atol=1e-9, rtol=0)
    assert p.warnings == [summary(1, "'116.3126600, 39.9987400, 合计'")]
    # a sheet of only a header and a summary row has no points
    msg = _refused((head + "合计,,0\n").encode(), "e.csv")
    assert msg == (
        "CSV 有表头（表头下只有汇总行），但没有定位点 "
        "CSV has a header but no points (only summary rows below it)"
    )
    # a footer row under an ODS sheet as under a CSV
    ods = _ods([HEADER, *WALK, ["合计", None, 5]])
    p = parse_track(ods, "f.ods")
    _check(p, "ods")
    assert p.warnings == [summary(1, "'合计, 5'")]


# ------------------------------------------------------------- 2. UTF-16 without a BOM
GPX = (
    '<?xml version="1.0" encoding="UTF-16"?>\n'
    '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>小巷巡查</name>'
    "<trkseg>"
    + "".join(
        f'<trkpt lat="{y:.7f}" lon="{x:.7f}"><time>{t:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>'
        for x, y, t in zip(LON, LAT, TIMES, strict=True)
    )
    + "</trkseg></trk></gpx>"
)


def _nmea() -> str:
    def line(body: str) -> str:
        check = 0
        for ch in body.encode():
            check ^= ch
        return f"${body}*{check:02X}"

    def ddmm(v: float, width: int) -> str:
        deg = int(v)
        return f"{deg:0{width}d}{(v - deg) * 60:09.6f}"

    out = []
    for x, y, t in zip(LON, LAT, TIMES, strict=True):
        pos = f"{ddmm(y, 2)},N,{ddmm(x, 3)},E"
        out.append(line(f"GNRMC,{t:%H%M%S}.00,A,{pos},0.5,90.0,{t:%d%m%y},,,A"))
    return "\r\n".join(out) + "\r\n"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_byte_order_mark_is_read(codec):
    # Excel "Unicode text" as some tools save it: tabs, CRLF, a Chinese title (一 = U+4E00
    # has a NUL byte on the other side) and header
    tsv = "轨迹导出 第一组\r\n经度\t纬度\t定位时间\r\n" + "\r\n".join(_rows("\t")) + "\r\n"
    _check(parse_track(tsv.encode(codec), "导出.txt"), "csv")
    csv = "lon,lat,time\n" + "\n".join(_rows()) + "\n"
    _check(parse_track(csv.encode(codec), None), "csv")
    p = parse_track(GPX.encode(codec), "a.gpx")
    _check(p, "gpx")
    assert p.name == "小巷巡查"
    coords = [[x, y] for x, y in zip(LON, LAT, strict=True)]
    times = [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in TIMES]
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": {"name": "巡查", "times": times},
    }
    _check(
        parse_track(json.dumps(feature, ensure_ascii=False).encode(codec), "w.geojson"), "geojson"
    )
    _check(parse_track(_nmea().encode(codec), "walk.nmea"), "nmea")
    # what is no UTF-16 is read as before: UTF-8 and GBK Chinese headers
    for enc in ("utf-8", "gb18030", "utf-8-sig"):
        _check(parse_track(tsv.encode(enc), "导出.txt"), "csv")


def test_a_one_fix_utf16_csv_without_byte_order_mark_imports():
    """The hostile corpus's old utf16.csv (UTF-16 LE, no BOM), refused as binary before; the
    corpus now holds it cut in the middle of a character, still refused (cases.csv)."""
    data = "lon,lat,time\n116.32,39.99,2026-05-12T08:00:00Z\n".encode("utf-16-le")
    p = parse_track(data, "utf16.csv")
    assert p.format == "csv" and len(p.points) == 1
    pt = p.points.iloc[0]
    assert (pt["lon"], pt["lat"]) == pytest.approx((116.32, 39.99), abs=1e-9)
    assert pt["time"] == pd.Timestamp("2026-05-12T08:00:00Z")


def test_binary_and_broken_utf16_are_still_refused():
    hostile = Path(__file__).parent / "hostile" / "files"
    for name in ("binary.gpx", "png_named.gpx"):
        assert "binary" in _refused((hostile / name).read_bytes(), name)
    # bytes with NULs on one side but control characters: not text
    noise = bytes(b for i in range(600) for b in (i % 7 + 1, 0))
    assert "binary" in _refused(noise, "n.csv")
    # UTF-32 without a mark is not taken for UTF-16: read as UTF-32 (a header, no rows)
    msg = _refused("lon,lat,time\n".encode("utf-32-le"), "u.csv")
    assert msg == "CSV 有表头，但没有定位点 CSV has a header but no points"
    # UTF-16 text cut in the middle of a character: named, not "binary"
    cut = ("lon,lat,time\n" + "\n".join(_rows())).encode("utf-16-le") + b"1"
    msg = _refused(cut, "cut.csv")
    assert "text looks like UTF-16-LE (no byte-order mark) but is not UTF-16-LE" in msg


# ------------------------------------------------------------ 3. OpenDocument spreadsheets
def _walk_rows(
    cells=lambda i, x, y, t: [i + 1, x, y, t, 5.0, "正常"],
) -> list[list[object]]:
    return [cells(i, x, y, t) for i, (x, y, t) in enumerate(zip(LON, LAT, LOCAL_DT, strict=True))]


@pytest.mark.parametrize("name", ["巡查.ods", "track.dat", None, "wps导出.xlsx"])
def test_ods_as_libreoffice_writes_it(name):
    """Title row merged over the columns, a blank row, header, date cells, an accuracy
    column with its unit, a comment on a cell, spaces written as <text:s/>; the rest of the
    sheet as repeated empty rows; a second sheet not read. Told by content, any name."""
    note = (
        '<table:table-cell office:value-type="string">'
        "<office:annotation><dc:creator>王</dc:creator>"
        '<text:p>批注 not a value</text:p></office:annotation><text:p>备<text:s text:c="2"/>注'
        "</text:p></table:table-cell>"
    )
    title = (
        '<table:table-cell table:number-columns-spanned="6" office:value-type="string">'
        "<text:p>巡查轨迹 张三 2026-11-20</text:p></table:table-cell>"
        '<table:covered-table-cell table:number-columns-repeated="5"/>'
    )
    rows = [
        [("raw", title)],
        [],
        ["序号", "经度", "纬度", "定位时间", "精度(米)", ("raw", note)],
        *_walk_rows(),
    ]
    p = parse_track(_ods(rows), name)
    _check(p, "ods")
    assert list(p.points["accuracy"]) == [5.0] * N
    assert list(p.points["source_index"]) == list(range(N))
    assert p.warnings == []


def test_ods_date_and_time_cells_serial_days_and_the_1904_null_date():
    days = [t.date() for t in LOCAL_DT]
    tods = [t.time() for t in LOCAL_DT]
    split = [["日期", "时间", "经度", "纬度"]] + [
        [d, t, x, y] for d, t, x, y in zip(days, tods, LON, LAT, strict=True)
    ]
    _check(parse_track(_ods(split), "split.ods"), "ods")

    def serial(day0: str) -> list[float]:
        return [(t - dt.datetime.fromisoformat(day0)) / dt.timedelta(days=1) for t in LOCAL_DT]

    for null_date in ("1899-12-30", "1904-01-01", None):
        day0 = null_date or "1899-12-30"
        rows = [["lon", "lat", "time"]] + [
            [x, y, s] for x, y, s in zip(LON, LAT, serial(day0), strict=True)
        ]
        _check(parse_track(_ods(rows, null_date=null_date), "serial.ods"), "ods")
    # no header: columns told by their values
    _check(parse_track(_ods(WALK), "h.ods"), "ods")


def test_bad_and_hostile_ods_files_say_why(monkeypatch):
    from geo.tracks import parse_table as table

    good = _ods([HEADER, *WALK])
    # an entity bomb in content.xml: refused before any entity is expanded
    lol = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    msg = _refused(_ods([HEADER, *WALK], head=lol), "lol.ods")
    assert "ODS rejected: its XML declares a DTD or entities" in msg
    # a value repeated over every row and column of a sheet: refused before it is unrolled
    bomb = _repeated_cell_bomb()
    # refused by counting, before any cell is written out (bench: milliseconds)
    msg = _refused(_ods([], tables=bomb), "bomb.ods")
    assert "ODS sheet has more than 1,000,000 cells (limit)" in msg
    # the XLSX limits: unpacked size, XML elements
    monkeypatch.setattr(table, "XLSX_UNPACK_RATIO", 1)
    assert "ODS unpacks to more than" in _refused(good, "big.ods", max_bytes=len(good))
    monkeypatch.undo()
    monkeypatch.setattr(table, "XLSX_MAX_ELEMENTS", 20)
    assert "ODS has more than 20 XML elements" in _refused(good, "many.ods")
    monkeypatch.undo()
    # broken files
    assert "broken or unsupported ODS file" in _refused(good[:300], "cut.ods")
    cut = _ods([], tables=_table("t", [HEADER, *WALK])[:-200])
    assert "broken or unsupported ODS file" in _refused(cut, "cut.ods")
    no_sheet = _ods([], tables="")
    assert "ODS has no sheets: no points" in _refused(no_sheet, "empty.ods")
    assert "ODS first sheet is empty: no points" in _refused(_ods([]), "blank.ods")
    msg = _refused(_ods([["名称", "备注"], ["a", "b"]]), "h.ods")
    assert "ODS needs lon/lat (经度/纬度) columns; found: 名称, 备注" in msg
    odd = _ods([], tables=_table("t", [HEADER, *WALK]).replace("1018", "many"))
    assert "broken or unsupported ODS file: repeat count 'many'" in _refused(odd, "r.ods")
    # another OpenDocument, and the old binary Excel format, are named
    odt = _ods([HEADER, *WALK], mime="application/vnd.oasis.opendocument.text")
    assert (
        "OpenDocument file of type 'application/vnd.oasis.opendocument.text', not a "
        "spreadsheet" in _refused(odt, "notes.odt")
    )
    msg = _refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "a.xls")
    assert msg.startswith("旧版 Excel 表格（.xls）无法读取：文件损坏或不完整（OLE2 文件头损坏")
    assert " old Excel workbook (.xls) could not be read: damaged or truncated" in msg
    # a KMZ is still a KMZ
    kmz = io.BytesIO()
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert "zip archive without a .kml file" in _refused(kmz.getvalue(), "x.kmz")


# ------------------------------------------------ 4. the upload paths reach these readers
def _past_ods() -> bytes:
    """The walk under a 序号 column (its times are past: an upload refuses future ones)."""
    return _ods(
        [["序号", "经度", "纬度", "定位时间"], *_walk_rows(lambda i, x, y, t: [i, x, y, t])]
    )


def test_cli_tracks_check_reads_ods_utf16_and_footers(tmp_path, run_inproc):  # noqa: F811
    ods = tmp_path / "巡查.ods"
    ods.write_bytes(_past_ods())
    txt = tmp_path / "unicode.txt"
    txt.write_bytes(("经度\t纬度\t定位时间\r\n" + "\r\n".join(_rows("\t"))).encode("utf-16-le"))
    xlsx = tmp_path / "footer.xlsx"
    xlsx.write_bytes(_xlsx([HEADER, *WALK, ["合计", None, 5]]))
    r = run_inproc("tracks", "check", str(ods), str(txt), str(xlsx))
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    for path, fmt in ((ods, "ods"), (txt, "csv"), (xlsx, "xlsx")):
        ok = [x for x in lines if x.startswith(f"可上传 OK    {path}: {fmt}，{N} 个定位点")]
        assert ok and f"{fmt}, {N} points" in ok[0], r.stdout


def _undated(warnings: list[str]) -> list[str]:
    """Upload warnings but the old-walk one, which this file's fixed walk dates earn by
    today's date once they are 30 days old (GRIDWARD_OLD_WALK_WARN_DAYS)."""
    return [w for w in warnings if not w.startswith("轨迹日期较早")]


def test_api_and_cli_uploads_store_an_ods_and_utf16(
    db,
    auth_headers,
    pg_url,
    monkeypatch,
    tmp_path,
    run_inproc,  # noqa: F811
):
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from api.app import create_app
    from geo.settings import get_settings

    data = _past_ods()
    with TestClient(create_app(db), headers=auth_headers("admin")) as client:
        r = client.post("/tracks", files={"file": ("巡查.ods", data, "application/octet-stream")})
        assert r.status_code == 201, r.text
        (item,) = r.json()["files"]
        assert item["n_points"] == N and item["format"] == "ods", item
        # a raw body, named by X-Filename
        utf16 = ("lon,lat,time\n" + "\n".join(_rows(north=1e-4))).encode("utf-16-be")
        r = client.post(
            "/tracks",
            content=utf16,
            headers={"Content-Type": "application/octet-stream", "X-Filename": "w.csv"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["files"][0]["n_points"] == N
        # nothing left out (an admin's upload for nobody is told only that it credits nobody)
        told = r.json()["files"][0].get("warnings", [])
        assert [w for w in _undated(told) if "no person given" not in w] == [], told
        # a summary row left out is told to the uploader (it used to be told by check only)
        footer = ("lon,lat,time\n" + "\n".join(_rows(north=2e-4)) + "\n合计,,5\n").encode()
        r = client.post("/tracks", files={"file": ("f.csv", footer, "text/csv")})
        assert r.status_code == 201, r.text
        (item,) = r.json()["files"]
        assert item["n_points"] == N
        told = _undated(item["warnings"])
        assert told[0] == summary(1, "'合计, 5'"), item
        assert len(told) == 2 and "no person given" in told[1], item
    with db.connect() as conn:
        formats = conn.execute(text("SELECT format, n_points FROM tracks ORDER BY id")).all()
    assert [tuple(f) for f in formats] == [("ods", N), ("csv", N), ("csv", N)]
    # gridward tracks upload: another sheet (a footer below it) is stored as ODS
    path = tmp_path / "巡查2.ods"
    walk3 = [[x, y + 3e-4, t] for x, y, t in WALK]  # another walk
    path.write_bytes(_ods([HEADER, *walk3] + [["合计", None, 5]]))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        r = run_inproc("tracks", "upload", str(path), "--defer")
    finally:
        get_settings.cache_clear()
    assert r.returncode == 0, (r.stdout, r.stderr)
    line = re.search(
        rf"^巡查2\.ods: 轨迹 \d+，{N} 个定位点.* track \d+, {N} points.*$", r.stdout, re.M
    )
    assert line, r.stdout
    assert "; warning: " + summary(1, "'合计, 5'") in line.group(0)


# ------------------------------------------- 5. one huge token, many zip members, UTF-16
def _rezip(data: bytes, member: str, edit, extra: dict[str, bytes] | None = None) -> bytes:
    """``data`` (a zip) with ``member`` rewritten by ``edit`` and ``extra`` members added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    assert member in src.namelist()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            body = src.read(info)
            zf.writestr(info, edit(body) if info.filename == member else body)
        for name, body in (extra or {}).items():
            zf.writestr(name, body)
    return out.getvalue()


def _comment(n: int):
    """An edit putting an XML comment of ``n`` bytes first (after the XML declaration)."""
    note = b"<!--" + b"x" * n + b"-->"
    return lambda xml: xml.replace(b"?>", b"?>" + note, 1) if xml[:5] == b"<?xml" else note + xml


BIG = 3_000_000  # a 3 MB token (the tester's was 58 MB: 35-120 s, then a 422 or even a 201)
_WALK_XLSX = [["lon", "lat", "time"]] + [[x, y, t] for x, y, t in zip(LON, LAT, LOCAL, strict=True)]


@pytest.mark.parametrize(
    "member",
    [
        "xl/worksheets/sheet1.xml",
        "xl/workbook.xml",
        "xl/styles.xml",
        "[Content_Types].xml",
        "xl/_rels/workbook.xml.rels",
    ],
)
def test_xlsx_with_one_huge_comment_or_attribute_is_refused(member):
    """A 60 KB workbook whose XML holds one 58 MB comment took openpyxl (expat re-scans an
    open token at every chunk) 100 s, and was then stored; now it is refused before parsing,
    the member named, in any XML member that is parsed."""
    good = _xlsx(_WALK_XLSX)
    msg = _refused(_rezip(good, member, _comment(BIG)), "big.xlsx")
    assert msg == (
        f"XLSX 不予接收：{member} 中有一段文本或标记超过 1 MiB（3.0 MB），不是轨迹表 "
        f"XLSX rejected: {member} holds a single piece of text or markup longer than 1 MiB "
        "(3.0 MB): not a track table"
    )


def test_xlsx_token_limit_is_per_token_across_blocks_and_skips_images():
    good = _xlsx(_WALK_XLSX)
    sheet = "xl/worksheets/sheet1.xml"
    # a huge attribute value, read in 1 MiB blocks: the run carried from block to block
    attr = _rezip(
        good,
        sheet,
        lambda x: x.replace(b"<sheetData", b'<x a="' + b"y" * BIG + b'"/><sheetData', 1),
    )
    assert f"{sheet} holds a single piece of text or markup longer than 1 MiB (3.0 MB)" in (
        _refused(attr, "a.xlsx")
    )
    # just under the limit, straddling the first block's end, and many of them: read
    under = b"".join(b"<!--" + b"x" * ((1 << 20) - 10) + b"-->" for _ in range(3))
    p = parse_track(
        _rezip(good, sheet, lambda x: x.replace(b"<sheetData", under + b"<sheetData", 1)), "u.xlsx"
    )
    assert len(p.points) == N
    # an image (no XML parser reads it) may run for megabytes without a "<"
    logo = {"xl/media/image1.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * BIG}
    p = parse_track(_rezip(good, sheet, lambda x: x, logo), "logo.xlsx")
    assert len(p.points) == N
    # just over the limit: refused, the run measured whole
    over = _rezip(good, sheet, _comment((1 << 20) + 1))
    assert "longer than 1 MiB (1.0 MB)" in _refused(over, "o.xlsx")


def test_ods_with_one_huge_comment_or_attribute_is_refused():
    """A 57 KB .ods whose content.xml held one 58 MB comment or attribute took 35 s and
    ended in a misleading "no points"/"no times" 422; now refused before parsing."""
    good = _ods([HEADER, *WALK])
    want = (
        "ODS 不予接收：content.xml 中有一段文本或标记超过 1 MiB（3.0 MB），不是轨迹表 "
        "ODS rejected: content.xml holds a single piece of text or markup longer than 1 MiB "
        "(3.0 MB): not a track table"
    )
    assert _refused(_rezip(good, "content.xml", _comment(BIG)), "c.ods") == want
    # the time cell's value a huge attribute
    cell = (
        '<table:table-cell office:value-type="string" office:string-value="'
        + "9" * BIG
        + '"><text:p>x</text:p></table:table-cell>'
    )
    huge = _ods([], tables=_table("t", [HEADER, [LON[0], LAT[0], ("raw", cell)]]))
    assert _refused(huge, "a.ods") == want
    # text in a cell, one paragraph
    text = _ods([HEADER, [LON[0], LAT[0], "1" * BIG]])
    assert _refused(text, "t.ods") == want
    # members the reader never parses are not measured
    styles = {"styles.xml": b"<?xml version='1.0'?><s a='" + b"z" * BIG + b"'/>"}
    p = parse_track(_rezip(good, "content.xml", lambda x: x, styles), "s.ods")
    _check(p, "ods")


@pytest.mark.parametrize("name", ["m.ods", "m.xlsx"])
def test_a_workbook_of_too_many_zip_members_says_so(name):
    """12,000 empty members were refused as "unpacks to more than 62,914,560 bytes"."""
    good = _ods([HEADER, *WALK]) if name.endswith(".ods") else _xlsx(_WALK_XLSX)
    member = "content.xml" if name.endswith(".ods") else "xl/workbook.xml"
    many = _rezip(good, member, lambda x: x, {f"e/{k}": b"" for k in range(12_000)})
    n = len(zipfile.ZipFile(io.BytesIO(many)).infolist())
    what = name.rsplit(".", 1)[-1].upper()
    msg = _refused(many, name)
    assert msg == (
        f"{what} 压缩包内有 {n:,} 个文件（上限 10,000 个；正常的工作簿只有几十个），不是电子表格 "
        f"{what} holds {n:,} files in its zip (limit 10,000; a workbook has a few dozen): not a "
        "spreadsheet"
    )
    assert "unpacks" not in msg


@pytest.mark.parametrize("stuffing", [1, 2000])
def test_utf16_le_with_lone_surrogates_is_not_shown_big_endian(stuffing):
    """UTF-16 LE without a mark whose head holds lone surrogates (U+D800: bytes 00 D8, a NUL
    on the big-endian side) was read big-endian: "found: 氀漀渀Ⰰ…". Now: not UTF-16-LE, and
    where."""
    text = "lon,lat,time\n" + "\ud800" * stuffing + "\n" + "\n".join(_rows())
    msg = _refused(text.encode("utf-16-le", "surrogatepass"), "s.csv")
    assert msg.startswith(
        "文本看似 UTF-16-LE 编码（无字节顺序标记），但不是有效的 UTF-16-LE 编码（'utf-16-le' "
    )
    assert msg[msg.index(" text looks like") + 1 :] == (
        "text looks like UTF-16-LE (no byte-order mark) but is not UTF-16-LE: 'utf-16-le' "
        "codec can't decode bytes in position 26-27: illegal UTF-16 surrogate"
    )
    assert "氀" not in msg


# ------------------------------------------------------- 6. old Excel workbooks (.xls)
_XLS_FORMATS = (
    (dt.datetime, "YYYY-MM-DD HH:MM:SS"),
    (dt.date, "YYYY/MM/DD"),
    (dt.time, "HH:MM:SS"),
)


def _xls(rows: list[list[object]], *, date1904: bool = False) -> bytes:
    """An old Excel workbook (.xls: BIFF8 in an OLE2 file) written by xlwt as Excel writes
    one: date-times, dates and times of day as serial numbers with a date format; its first
    sheet ``rows`` and a second sheet that is not read."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    wb.dates_1904 = date1904
    styles = [(kind, xlwt.easyxf(num_format_str=fmt)) for kind, fmt in _XLS_FORMATS]
    ws = wb.add_sheet("轨迹")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if v is None:
                continue
            style = next((s for kind, s in styles if isinstance(v, kind)), None)
            ws.write(r, c, v, style) if style is not None else ws.write(r, c, v)
    wb.add_sheet("说明").write(0, 0, "第二张表不读")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ole2_renamed(data: bytes, name: str) -> bytes:
    """``data`` (an OLE2 file from xlwt) with its Workbook stream renamed ``name``: an OLE2
    file of another kind (an old Word document holds a WordDocument stream)."""
    old = "Workbook\0".encode("utf-16-le")
    new = f"{name}\0".encode("utf-16-le")
    at = data.index(old.ljust(64, b"\0") + len(old).to_bytes(2, "little"))
    entry = new.ljust(64, b"\0") + len(new).to_bytes(2, "little")
    return data[:at] + entry + data[at + 66 :]


_TITLED = [
    ["巡查轨迹 张三 2026-11-20"],
    [],
    ["序号", "经度", "纬度", "定位时间", "精度(米)", "备注"],
    *_walk_rows(),
]


@pytest.mark.parametrize("name", ["巡查.xls", "track.dat", None, "wps导出.xlsx"])
def test_xls_reads_as_the_csv_and_the_xlsx_of_the_same_rows(name):
    """A title row, a blank row, a Chinese header, local date-time cells: the same points
    (times, positions, accuracy, source rows) and warnings as the XLSX and the GBK CSV of
    the same rows. It was refused: "old Excel workbook (.xls) not readable"."""
    p = parse_track(_xls(_TITLED), name)
    _check(p, "xls")
    assert list(p.points["accuracy"]) == [5.0] * N
    assert p.warnings == []
    xlsx = parse_track(_xlsx(_TITLED), "same.xlsx")
    pd.testing.assert_frame_equal(p.points, xlsx.points)
    lines = ["巡查轨迹 张三 2026-11-20", "", "序号,经度,纬度,定位时间,精度(米),备注"] + [
        f"{i + 1},{x!r},{y!r},{t},5.0,正常"
        for i, (x, y, t) in enumerate(zip(LON, LAT, LOCAL, strict=True))
    ]
    csv = parse_track("\n".join(lines).encode("gb18030"), "same.csv")
    pd.testing.assert_frame_equal(p.points, csv.points)
    # a summary row below the fixes: dropped and named as under the XLSX
    footer = [*_TITLED, [None, "合计", None, None, 5]]
    p, q = parse_track(_xls(footer), "f.xls"), parse_track(_xlsx(footer), "f.xlsx")
    _check(p, "xls")
    assert p.warnings == q.warnings == [summary(1, "'合计, 5'")]


def test_xls_serial_days_date_and_time_cells_and_the_1904_date_system():
    def serial(day0: str) -> list[float]:
        return [(t - dt.datetime.fromisoformat(day0)) / dt.timedelta(days=1) for t in LOCAL_DT]

    # times as plain Excel serial numbers (no date format): serial days from the workbook's day 0
    for date1904, day0 in ((False, "1899-12-30"), (True, "1904-01-01")):
        rows = [["lon", "lat", "time"]] + [
            [x, y, s] for x, y, s in zip(LON, LAT, serial(day0), strict=True)
        ]
        _check(parse_track(_xls(rows, date1904=date1904), "serial.xls"), "xls")
        # date-time cells and split date / time-of-day cells, in either date system
        _check(parse_track(_xls([HEADER, *WALK], date1904=date1904), "dt.xls"), "xls")
        split = [["日期", "时间", "经度", "纬度"]] + [
            [t.date(), t.time(), x, y] for t, x, y in zip(LOCAL_DT, LON, LAT, strict=True)
        ]
        _check(parse_track(_xls(split, date1904=date1904), "split.xls"), "xls")
    # no header: columns told by their values (the date-time cells)
    _check(parse_track(_xls(WALK), "h.xls"), "xls")


def test_bad_xls_files_say_why(monkeypatch):
    from geo.tracks import parse_table as table

    good = _xls([HEADER, *WALK])
    for cut in (600, 2048, len(good) // 2):
        msg = _refused(good[:cut], "cut.xls")
        assert msg.startswith("旧版 Excel 表格（.xls）无法读取：文件损坏或不完整（"), (cut, msg)
        assert "文件被截断或损坏） old Excel" in msg, (cut, msg)  # xlrd's words in Chinese
        assert " old Excel workbook (.xls) could not be read: damaged or truncated" in msg
    # an OLE2 file that holds no workbook is named, not "could not be read"
    assert _refused(_ole2_renamed(good, "WordDocument"), "notes.doc") == (
        "文件是旧版 Word 文档（.doc），不是电子表格：请把轨迹另存为 .xlsx、.ods 或 CSV "
        "file is an old Word document (.doc), not a spreadsheet: save the track as .xlsx, "
        ".ods or CSV"
    )
    msg = _refused(_ole2_renamed(good, "Gibberish"), "x.xls")
    assert msg.startswith(
        "文件是没有工作簿的 OLE2 复合文件（其中的数据流：gibberish），不是电子表格："
        "请把轨迹另存为 .xlsx、.ods 或 CSV "
        "file is an OLE2 compound file without a workbook (streams: gibberish)"
    )
    # the table's own refusals, named XLS
    msg = _refused(_xls([["名称", "备注"], ["a", "b"]]), "h.xls")
    assert msg.startswith(
        "找不到经度/纬度列：XLS 需要经度/纬度（lon/lat）列，前 10 行里没有写明它们的表头行；"
        "找到的是：名称, 备注 XLS needs lon/lat (经度/纬度) columns; found: 名称, 备注"
    )
    assert (
        _refused(_xls([]), "blank.xls")
        == "XLS 的第一个工作表为空，没有定位点 XLS first sheet is empty: no points"
    )
    # the XLSX cell limit holds while xlrd reads: refused before any row is read as a table
    seen: list[int] = []
    monkeypatch.setattr(table, "sheet_rows", lambda *a, **k: seen.append(1))
    monkeypatch.setattr(table, "XLSX_MAX_CELLS", 17)  # the walk under its header: 18 cells
    msg = _refused(good, "many.xls")
    assert msg == (
        "XLS 工作表超过 17 个单元格（上限）：请拆分轨迹，或只保留经度/纬度/时间列 "
        "XLS sheet has more than 17 cells (limit): split the track, or keep only its "
        "lon/lat/time columns"
    )
    assert seen == []


def test_xls_cells_beyond_the_xlsx_columns_are_not_read(monkeypatch):
    """A value in the last column (IV, the 256th) of every row would make xlrd pad each row
    to it; it is not kept and not counted, as the XLSX reader reads 64 columns."""
    import xlwt

    from geo.tracks import parse_table as table

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("宽")
    for r, row in enumerate([["lon", "lat", "time"]] + [[x, y, t] for x, y, t in WALK]):
        for c, v in enumerate(row):
            ws.write(r, c, v if c < 2 or r == 0 else f"{v:%Y-%m-%d %H:%M:%S}")
        ws.write(r, 255, "远处的备注")
    buf = io.BytesIO()
    wb.save(buf)
    monkeypatch.setattr(table, "XLSX_MAX_CELLS", 18)  # the track's cells, not the far ones
    _check(parse_track(buf.getvalue(), "wide.xls"), "xls")


def test_damaged_xls_bytes_are_read_or_refused_never_a_crash():
    """Every byte of a workbook's first 16 KB (its OLE2 header, directory, BIFF records)
    set to 0xFF in turn, every 37th: each is read or refused with an InputError."""
    good = _xls([HEADER, *WALK])
    outcomes = {"read": 0, "refused": 0}
    for at in range(8, min(len(good), 16384), 37):
        bad = good[:at] + b"\xff" + good[at + 1 :]
        try:
            parse_track(bad, "d.xls")
            outcomes["read"] += 1
        except InputError as exc:
            assert exc.message and "\n" not in exc.message
            outcomes["refused"] += 1
    assert outcomes["read"] and outcomes["refused"], outcomes


# ------------------------------------------- 7. flat OpenDocument spreadsheets (.fods)
_NOTE_ROWS: list[list[object]] = [
    [
        (
            "raw",
            '<table:table-cell table:number-columns-spanned="6" office:value-type="string">'
            "<text:p>巡查轨迹 张三 2026-11-20</text:p></table:table-cell>"
            '<table:covered-table-cell table:number-columns-repeated="5"/>',
        )
    ],
    [],
    ["序号", "经度", "纬度", "定位时间", "精度(米)", "备注"],
    *_walk_rows(),
    [None, "合计", None, None, 5],
]


@pytest.mark.parametrize("name", ["巡查.fods", "track.xml", None, "导出.ods"])
def test_fods_reads_as_the_ods_of_the_same_rows(name):
    """LibreOffice's flat save (one XML file, root office:document): the same points,
    warnings and name as the .ods of the same sheet, told by its root whatever its name. It
    was refused: "XML root is <document>"."""
    p, ods = parse_track(_fods(_NOTE_ROWS), name), parse_track(_ods(_NOTE_ROWS), "same.ods")
    _check(p, "fods")
    pd.testing.assert_frame_equal(p.points, ods.points)
    assert p.warnings == ods.warnings == [summary(1, "'合计, 5'")]
    # serial days from the document's null date, as in an ODS
    serial = [(t - dt.datetime(1904, 1, 1)) / dt.timedelta(days=1) for t in LOCAL_DT]
    rows = [["lon", "lat", "time"]] + [[x, y, s] for x, y, s in zip(LON, LAT, serial, strict=True)]
    _check(parse_track(_fods(rows, null_date="1904-01-01"), name), "fods")
    # UTF-16 with a byte-order mark, as some tools re-save XML
    text = _fods(_NOTE_ROWS).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    _check(parse_track(text.encode("utf-16"), name), "fods")
    # declared GBK (re-saved by a Chinese editor): it was refused as "XML root is <document>"
    text = _fods(_NOTE_ROWS).decode().replace('encoding="UTF-8"', 'encoding="GBK"')
    gbk = parse_track(text.encode("gbk"), name)
    _check(gbk, "fods")
    pd.testing.assert_frame_equal(gbk.points, ods.points)


def test_flat_opendocument_text_and_hostile_fods_say_why(monkeypatch):
    from geo.tracks import parse_table as table

    text = "application/vnd.oasis.opendocument.text"
    assert _refused(_fods([HEADER, *WALK], mime=text), "notes.fodt") == (
        f"文件是类型为 '{text}' 的 OpenDocument 文档，不是电子表格："
        "请把轨迹另存为 .ods、.xlsx 或 CSV "
        f"OpenDocument file of type '{text}', not a spreadsheet: save the track as .ods, "
        ".xlsx or CSV"
    )
    lol = '<!DOCTYPE office:document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    assert _refused(_fods([HEADER, *WALK], head=lol), "lol.fods") == (
        "FODS 不予接收：其 XML 声明了 DTD 或实体（出于安全不允许） "
        "FODS rejected: its XML declares a DTD or entities (not allowed for safety)"
    )
    bomb = _repeated_cell_bomb()
    msg = _refused(_fods([], tables=bomb), "bomb.fods")
    assert msg.startswith("FODS 工作表超过 1,000,000 个单元格（上限）")
    assert "FODS sheet has more than 1,000,000 cells (limit)" in msg
    huge = _fods([HEADER, *WALK], head="<!--" + "x" * BIG + "-->")
    assert _refused(huge, "c.fods") == (
        "FODS 不予接收：文档中有一段文本或标记超过 1 MiB（3.0 MB），不是轨迹表 "
        "FODS rejected: the document holds a single piece of text or markup longer than "
        "1 MiB (3.0 MB): not a track table"
    )
    cut = _fods([], tables=_table("t", [HEADER, *WALK])[:-200])
    msg = _refused(cut, "cut.fods")
    assert msg.startswith("FODS 文件损坏或不受支持（")
    assert " broken or unsupported FODS file: " in msg
    assert _refused(_fods([], tables=""), "e.fods") == (
        "FODS 没有工作表，没有定位点 FODS has no sheets: no points"
    )
    monkeypatch.setattr(table, "XLSX_MAX_ELEMENTS", 20)
    assert _refused(_fods([HEADER, *WALK]), "many.fods").startswith(
        "FODS 含超过 20 个 XML 元素（上限；1,000,000 个单元格的工作表约有这么多）：请拆分轨迹 "
        "FODS has more than 20 XML elements (limit"
    )
    monkeypatch.undo()
    # GPX and KML are not taken for flat documents
    gpx = GPX.replace('encoding="UTF-16"', 'encoding="UTF-8"').encode()
    _check(parse_track(gpx, "a.gpx"), "gpx")


# ------------------------------------------ 8. long text repeated, office markup as .xls
def test_a_long_text_repeated_over_many_rows_is_refused_early():
    """Acceptance tester: a 2 KB .fods (or .ods) whose one row of a 1,119-character time text
    is repeated 990,000 times took 19 s and 5 GB before it was refused, a 2.8 MB .xls of one
    32,000-character shared string 51 s and 10 GB: the time parser got rows x the text. Now a
    track cell is cut to TRACK_CELL_CHARS and a sheet's track cells may hold SHEET_MAX_TEXT
    characters in all."""
    from geo.tracks import parse_table as table

    long = "2026-11-22 08:00:00" + "x" * 1100
    bomb = (
        '<table:table table:name="t"><table:table-row>'
        + "".join(_cell(c) for c in HEADER)
        + '</table:table-row><table:table-row table:number-rows-repeated="300000">'
        + _cell(116.3125)
        + _cell(39.99)
        + _cell(long)
        + "</table:table-row></table:table>"
    )
    for data, name, what in ((_fods([], tables=bomb), "r.fods", "FODS"),):
        assert len(data) < 4096
        assert _refused(data, name) == (
            f"{what} 工作表的轨迹列中文本超过 32 MiB（上限；是否有长文本在许多行重复？），"
            "不是轨迹表 "
            f"{what} sheet holds more than 32 MiB of text in its track columns (limit; a long "
            "text repeated over many rows?): not a track table"
        )
    msg = _refused(_ods([], tables=bomb), "r.ods")
    assert msg.startswith(
        "ODS 工作表的轨迹列中文本超过 32 MiB（上限；是否有长文本在许多行重复？），不是轨迹表 "
        "ODS sheet holds more than 32 MiB"
    )
    # each track cell is cut: what the time parser sees is at most TRACK_CELL_CHARS long
    got = table.sheet_rows(iter([HEADER, *([[116.3, 39.9, "1" * 32000]] * 50)]), "XLS")
    assert {len(r[2]) for r in got.body} == {table.TRACK_CELL_CHARS}
    headerless = table.sheet_rows(iter([[116.3, 39.9, "2026-11-22 08:00:00", "备注" * 600]] * 20))
    assert {len(r[3]) for r in headerless.body} == {table.TRACK_CELL_CHARS}


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (
            '<html xmlns:x="urn:schemas-microsoft-com:office:excel"><head><meta charset="utf-8">'
            "</head><body><table><tr><td>经度</td><td>纬度</td><td>时间</td></tr></table>",
            "file is a web page (an HTML table, as office systems export 'Excel')",
        ),
        ("<!DOCTYPE html>\n<html><body><table></table></body></html>", "file is a web page"),
        (
            '<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n<Workbook '
            'xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet/></Workbook>',
            "file is an Excel 2003 XML spreadsheet (SpreadsheetML)",
        ),
    ],
)
def test_office_markup_saved_as_xls_is_named(head, says):
    """Acceptance tester: what OA systems' "导出Excel" writes (an HTML table, Excel 2003 XML)
    under an .xls name was refused as "content looks like GPX"."""
    for name in ("导出.xls", "export.xml", None):
        msg = _refused(head.encode(), name)
        assert msg.startswith("文件是") and says in msg, msg


# ------------------------------------------------ 9. a workbook's name on other content
_CSV_WALK = ("经度,纬度,定位时间\n" + "\n".join(_rows()) + "\n").encode()
_JUNK = bytes(range(256)) * 8


@pytest.mark.parametrize(
    ("data", "looks_zh", "looks", "fix_zh", "fix"),
    [
        (
            _CSV_WALK,
            "文本，如 CSV 表格",
            "text (such as a CSV table)",
            "；若本来就是文本表格，请把扩展名改为 .csv",
            ", or, if it is a text table, rename it to .csv",
        ),
        (
            b"lorem ipsum, not a table at all\n" * 20,
            "文本，如 CSV 表格",
            "text (such as a CSV table)",
            "；若本来就是文本表格，请把扩展名改为 .csv",
            ", or, if it is a text table, rename it to .csv",
        ),
        (_JUNK, "二进制数据，不是表格", "binary data, not a table", "", ""),
        (
            b'<?xml version="1.0"?>\n<gpx version="1.1"></gpx>\n',
            " XML，如 GPX 或 KML",
            "XML (such as GPX or KML)",
            "；若本来就是轨迹文件，请改回它原本的扩展名（如 .gpx）",
            ", or, if it is a track file, give it back its own extension (such as .gpx)",
        ),
    ],
    ids=["csv", "text", "junk", "gpx"],
)
def test_a_file_named_xlsx_that_is_no_workbook_says_so(data, looks_zh, looks, fix_zh, fix):
    """Outside tester T36, #11: a CSV renamed .xlsx was read as a CSV (refused as "no lon/lat
    column" when its columns were others), junk bytes so named as "file looks binary"; neither
    said that the file is no Excel workbook. Now both do, with what to do (a GPX so named
    was "content looks like GPX")."""
    assert _refused(data, "巡查.xlsx") == (
        f"文件扩展名为 .xlsx，但内容不是 Excel 工作簿（内容是{looks_zh}）："
        f"请用 Excel 或 WPS 打开原表格，另存为 .xlsx{fix_zh}，再上传 "
        f"file has a .xlsx name but is not an Excel workbook (its content is {looks}): open the "
        f"table in Excel or WPS and save it as .xlsx{fix}"
    )
    # the same for an OpenDocument spreadsheet's name
    msg = _refused(data, "巡查.ODS")
    assert msg.startswith(
        f"文件扩展名为 .ods，但内容不是 OpenDocument 电子表格（内容是{looks_zh}）"
    )
    assert "file has a .ods name but is not an OpenDocument spreadsheet" in msg


def test_an_xls_name_takes_text_tables_but_not_junk():
    """Chinese office systems export tab-separated text under an .xls name: still read as a
    table; junk bytes so named are no workbook, said as for .xlsx (they were "file looks
    binary")."""
    tsv = ("经度\t纬度\t定位时间\n" + "\n".join(_rows("\t")) + "\n").encode()
    _check(parse_track(tsv, "导出.xls"), "csv")
    msg = _refused(_JUNK, "导出.xls")
    assert msg.startswith(
        "文件扩展名为 .xls，但内容不是 Excel 工作簿（内容是二进制数据，不是表格）"
    ), msg
    assert "file has a .xls name but is not an Excel workbook" in msg
    # a real workbook under the name still reads, and junk under another name is still binary
    _check(parse_track(_xlsx([HEADER, *WALK]), "巡查.xlsx"), "xlsx")
    assert "file looks binary" in _refused(_JUNK, "walk.gpx")

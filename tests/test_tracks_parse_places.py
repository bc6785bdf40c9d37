"""Where a refused track file went wrong, said as its reader counts (outside re-tester T39):
a bad time names its row (a table's row as the file numbers it: the header and any title
rows above it counted, as a text editor, Excel, WPS and LibreOffice show them; other
formats' point by its order) and its value (L11); line and column numbers count from 1, as
an editor shows them (L14); a GeoJSON's times are in properties, not columns (L15); broken
office files say zipfile's and xlrd's words in Chinese in the Chinese (L2). Every file is
made here, its places counted by hand."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from geo.errors import InputError
from geo.tracks.parse import parse_track
from tests.test_tracks_parse_office import (
    HEADER,
    WALK,
    _fods,
    _ods,
    _ole2_renamed,
    _rezip,
    _xls,
    _xlsx,
)

_ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")


def _refused(data: bytes, name: str) -> str:
    with pytest.raises(InputError) as err:
        parse_track(data, name)
    return err.value.message


def _chinese(msg: str, english_starts: str) -> str:
    """The Chinese part of ``msg``, whose English part starts with ``english_starts``."""
    assert f" {english_starts}" in msg, msg
    return msg.split(f" {english_starts}", 1)[0]


# ------------------------------------------------------------------ L11: a bad time's row
_ROWS = [
    "2026-05-12 08:00:00,116.400,39.900",
    "2026-05-12 08:01:00,116.401,39.901",
    "2026-05-12 08:02:00,116.402,39.902",
]


def _bad_time(where: str, value: str, says: str) -> str:
    """The refusal of ``value`` at ``where`` (Chinese, English), pandas' cause ``says``."""
    zh, en = where
    return (
        f"无法识别时间值：{zh}的时间 {value!r}（{says}）：请用 ISO 8601 格式或 epoch 秒数 "
        "time values not understood (use ISO 8601 or epoch seconds): "
    ), f"({en}: {value!r})"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # header line 1, fixes on lines 2, 3, the bad one on line 4
        ("time,lon,lat\n{0}\n{1}\nsoon,116.403,39.903\n{2}\n", 4),
        # a title and a blank line above the header (line 3), blank lines among the fixes
        ("巡查轨迹 张三\n\ntime,lon,lat\n{0}\n\n{1}\n   \nsoon,116.403,39.903\n{2}\n", 8),
        # a quoted remark over two lines above it: the file's lines, not pandas' records
        ('time,lon,lat,note\n{0},"a\nb"\n{1}\nsoon,116.403,39.903\n{2}\n', 5),
        # Windows line ends
        ("time,lon,lat\r\n{0}\r\n{1}\r\nsoon,116.403,39.903\r\n{2}\r\n", 4),
    ],
    ids=["header", "title-and-blanks", "quoted-line-break", "crlf"],
)
def test_a_bad_time_in_a_csv_names_its_line_and_value(text: str, line: int) -> None:
    """T39 L11: "无法识别时间值（soon 的日期时间格式无法识别）" named neither the row nor, for
    some causes, the value."""
    msg = _refused(text.format(*_ROWS).encode(), "t.csv")
    head, tail = _bad_time(
        (f"文件第 {line} 行", f"row {line} of the file"), "soon", "soon 的日期时间格式无法识别"
    )
    assert msg.startswith(head), msg
    assert msg.endswith(tail), msg


def test_a_bad_time_in_a_workbook_names_its_sheet_row() -> None:
    """The row Excel, WPS and LibreOffice show: a title row, an empty row, the header on row
    3, the bad time on row 6 (the empty row counted, though no reader keeps it)."""
    rows = [["巡查轨迹"], [], HEADER, *WALK[:2], [WALK[2][0], WALK[2][1], "soon"], *WALK[3:]]
    files = {
        "a.xlsx": _xlsx(rows),
        "a.xls": _xls(rows),
        "a.ods": _ods(rows),
        "a.fods": _fods(rows),
    }
    for name, data in files.items():
        msg = _refused(data, name)
        assert msg.startswith("无法识别时间值：第一个工作表第 6 行的时间 'soon'（"), (name, msg)
        assert msg.endswith("(row 6 of the first sheet: 'soon')"), (name, msg)


def test_an_ods_counts_repeated_empty_rows() -> None:
    """LibreOffice writes a run of empty rows as one row repeated, which the reader skips:
    counted all the same. Row 1 empty, the header on row 2, rows 3-6 empty (one row
    repeated 4 times), a fix on row 7, the bad time on row 8."""
    good = _ods([HEADER, *WALK[:1], [WALK[1][0], WALK[1][1], "soon"]])
    empty = '<table:table-row table:number-rows-repeated="{}"><table:table-cell/></table:table-row>'

    def gaps(content: bytes) -> bytes:
        text = content.decode()
        header = text.index("<table:table-row")
        below = text.index("</table:table-row>", header) + len("</table:table-row>")
        return (
            text[:header] + empty.format(1) + text[header:below] + empty.format(4) + text[below:]
        ).encode()

    msg = _refused(_rezip(good, "content.xml", gaps), "gaps.ods")
    assert msg.startswith("无法识别时间值：第一个工作表第 8 行的时间 'soon'（"), msg


def test_a_bad_time_in_other_files_names_its_point() -> None:
    """A GPX or GeoJSON has no rows: the point, counted from 1 in the file's order."""
    gpx = (
        '<gpx><trk><trkseg><trkpt lon="116.4" lat="39.9"><time>2026-05-12T08:00:00Z</time>'
        '</trkpt><trkpt lon="116.41" lat="39.9"><time>2026-05-12T25:00:00Z</time></trkpt>'
        "</trkseg></trk></gpx>"
    )
    msg = _refused(gpx.encode(), "t.gpx")
    head, tail = _bad_time(
        ("第 2 个定位点", "point 2"),
        "2026-05-12T25:00:00Z",
        "小时须在 0 到 23 之间：2026-05-12T25:00:00Z",
    )
    assert msg == head + "hour must be in 0..23: 2026-05-12T25:00:00Z " + tail


# -------------------------------------------------- L14: places counted as an editor does
def test_line_and_column_of_broken_xml_json_csv_count_from_1() -> None:
    """Places counted by hand: the Chinese says the line and column an editor shows; the
    English keeps the library's own words, expat's column counted from 1 as well (T41 #3)."""
    # line 3 is "<trk></gpx>": the end tag's name "gpx" starts at its 8th character
    msg = _refused(b"<gpx>\n<trk>\n<trk></gpx>", "t.gpx")
    assert msg.startswith("文件不完整或不是有效的 XML：第 3 行第 8 列处标签不匹配"), msg
    assert msg.endswith("mismatched tag: line 3, column 8"), msg  # the same place (T41 #3)
    # a GPX cut after "<gpx>\n<trk>": nothing more on line 2 after its 5 characters
    msg = _refused(b"<gpx>\n<trk>", "t.gpx")
    assert msg.startswith("文件不完整或不是有效的 XML：第 2 行第 6 列处文件意外结束"), msg
    # JSON: line 2 is '  "features" []}': the "[" where a ":" should be is its 14th character
    msg = _refused(b'{"type": "FeatureCollection",\n  "features" []}', "t.geojson")
    assert msg == (
        "文件不是有效的 JSON：第 2 行第 14 列处缺少冒号 ':' malformed JSON: Expecting ':' "
        "delimiter: line 2 column 14 (char 43)"
    )
    # CSV: a title, the header on line 2, the unclosed quote on line 5
    text = f'标题\ntime,lon,lat\n{_ROWS[0]}\n{_ROWS[1]}\n"{_ROWS[2]}\n'
    msg = _refused(text.encode(), "q.csv")
    assert msg == (
        "CSV 表格格式有误（第 5 行起的引号没有闭合，文件可能被截断） malformed CSV: Error "
        "tokenizing data. C error: EOF inside string starting at row 2 (line 5 of the file)"
    )
    # no header: a line of five fields among lines of three, on line 3
    text = f"{_ROWS[0]}\n{_ROWS[1]}\n{_ROWS[2]},1,2\n"
    msg = _refused(text.encode(), "w.csv")
    assert msg == (
        "CSV 表格格式有误（第 3 行有 5 个字段，应为 3 个） malformed CSV: Error tokenizing "
        "data. C error: Expected 3 fields in line 3, saw 5 (line 3 of the file)"
    )


# --------------------------------------------------- L15: a GeoJSON's times are properties
def _points(times: list[object], key: str = "time") -> bytes:
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [116.4 + i / 1e3, 39.9]},
            "properties": {key: t},
        }
        for i, t in enumerate(times)
    ]
    return json.dumps({"type": "FeatureCollection", "features": feats}).encode()


def test_the_english_names_the_xml_place_the_chinese_names() -> None:
    """T41 #3: "第 6 行第 3 列处标签不匹配 … mismatched tag: line 6, column 2": the Chinese
    counted expat's column from 1, the English quoted it from 0. Now both halves name the
    same line and column, for every reader that quotes expat (GPX, KML, KMZ, XLSX, ODS)."""
    place = re.compile(r"第 (\d+) 行第 (\d+) 列处.*line (\d+), column (\d+)")

    def same_place(msg: str) -> tuple[str, str]:
        hit = place.search(msg)
        assert hit is not None, msg
        assert hit.group(1, 2) == hit.group(3, 4), msg
        return hit.group(1, 2)

    # the tester's GPX: line 6 is "</gpx>" closing the open <trkseg>: its "g" is column 3
    gpx = (
        b'<?xml version="1.0"?>\n<gpx version="1.1">\n<trk><trkseg>\n'
        b'<trkpt lat="40" lon="116.3"><time>2026-11-24T01:00:00Z</time></trkpt>\n'
        b"</trkseg>\n</gpx>"
    )
    msg = _refused(gpx, "bad.gpx")
    assert msg == (
        "文件不完整或不是有效的 XML：第 6 行第 3 列处标签不匹配（结束标签与开始标签不对应） "
        "malformed or truncated XML: mismatched tag: line 6, column 3"
    )
    # "  <bad attr=>": the ">" where a quote should be is the 13th character of line 4
    bad2 = b'<?xml version="1.0"?>\n<gpx><trk>\n  <trkpt/>\n  <bad attr=>\n</trk></gpx>'
    assert same_place(_refused(bad2, "bad2.gpx")) == ("4", "13")
    kml = b'<kml xmlns="http://www.opengis.net/kml/2.2">\n<Document></kml>'
    assert same_place(_refused(kml, "a.kml")) == ("2", "13")
    kmz = io.BytesIO()
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.writestr("doc.kml", kml)
    assert same_place(_refused(kmz.getvalue(), "a.kmz")) == ("2", "13")
    # workbooks whose sheet XML is cut: openpyxl's expat, and the ODS reader's own
    xlsx = _rezip(_xlsx([HEADER, *WALK]), "xl/worksheets/sheet1.xml", lambda t: t[:-100])
    assert same_place(_refused(xlsx, "a.xlsx"))[0] == "1"
    wrong = b"<table:table-row></table:table>"  # an end tag of another element
    ods = _rezip(
        _ods([HEADER, *WALK]),
        "content.xml",
        lambda t: t.replace(b"<table:table-row>", wrong, 1),
    )
    msg = _refused(ods, "a.ods")
    assert msg.startswith("ODS 文件损坏或不受支持（XML 第 "), msg
    same_place(msg)


def test_geojson_times_are_properties_not_columns() -> None:
    """T39 L15: a GeoJSON read "请加日期列" (add a date column) for its times of day."""
    msg = _refused(_points(["08:00:00", "08:01:00"]), "t.geojson")
    assert msg == (
        "时间 '08:00:00' 没有日期：请在时间属性中写完整的日期时间（如 2026-11-23 08:00:00） "
        "time '08:00:00' has no date: write full date-times in the time property, such as "
        "2026-11-23 08:00:00"
    )
    msg = _refused(_points([46349, 46349]), "t.geojson")
    assert msg.endswith("没有一天中的时刻：请在时间属性中写日期时间 time values such as '46349' "
                        "are Excel dates without a time of day (2026-11-23): give date-times "
                        "in the time property"), msg  # fmt: skip
    # a time property under another name: the names read are said
    msg = _refused(_points(["2026-05-12 08:00", "2026-05-12 08:01"], key="when"), "t.geojson")
    assert msg.startswith(
        "GeoJSON 的 2 个定位点都没有时间：要素的属性中没有时间属性（点读 time、timestamp、"
        "datetime、时间、定位时间；线读 times、coordTimes、coordinateTimes、timestamps、time，"
        "或坐标的第 4 个值），无法确定轨迹的时间 GEOJSON points have no times (2 points): "
    ), msg
    for said in (msg, _refused(_points(["08:00:00", "08:01:00"]), "t.geojson")):
        assert "列" not in said.split(" time", 1)[0], said
    # a table keeps its columns
    msg = _refused(b"time,lon,lat\n08:00:00,116.4,39.9\n08:01:00,116.41,39.9\n", "t.csv")
    assert msg.startswith("时间 '08:00:00' 没有日期：请加日期列（日期）或写完整的日期时间 "), msg


# ------------------------------------------------------ L2: broken office files, in Chinese
def _encrypted_flag(data: bytes) -> bytes:
    """``data`` (a zip) with every member flagged encrypted, as a zip tool's password does."""
    d = bytearray(data)
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = 0
        while (i := d.find(sig, i)) >= 0:
            d[i + at] |= 1
            i += 4
    return bytes(d)


def _no_english_in(zh: str) -> None:
    # (a name the library quotes stays as written; a long one is cut: "'…"; Python quotes a
    # name holding a ' in double quotes: a flipped byte in a zip's directory can make one)
    tokens = re.sub(
        r"'[^']*['…]|\"[^\"]*[\"…]|XLSX|ODS|KMZ|XML|Excel|WPS|OLE2|zip|CRC-32|\.xls", "", zh
    )
    assert not _ENGLISH_WORD.search(tokens), zh


_XLS_CUT = "旧版 Excel 表格（.xls）无法读取：文件损坏或不完整（"


def test_broken_office_files_say_the_libraries_words_in_chinese() -> None:
    """T39 L2: "XLSX 文件损坏或不受支持（File is not a zip file）", "（xlrd：array index out of
    range）": the library's English inside the Chinese. Real broken files: cut short, a zip
    that is no workbook, bytes flipped, a member's CRC broken, encrypted."""
    xlsx, ods, xls = _xlsx([HEADER, *WALK]), _ods([HEADER, *WALK]), _xls([HEADER, *WALK])
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("readme.txt", "hello")
    sheet = "xl/worksheets/sheet1.xml"
    cases = [
        (xlsx[:1000], "a.xlsx", "XLSX 文件损坏或不受支持（不是 zip 压缩文件：", "broken"),
        (ods[:600], "a.ods", "ODS 文件损坏或不受支持（不是 zip 压缩文件：", "broken"),
        (plain.getvalue(), "a.xlsx", "XLSX 文件损坏或不受支持（压缩包里没有 '[Content_", "broken"),
        (plain.getvalue()[:40], "a.kmz", "KMZ 压缩文件损坏或不受支持（不是 zip 压缩文件", "broken"),
        (
            _rezip(xlsx, sheet, lambda t: t[:-100]),
            "a.xlsx",
            "XLSX 文件损坏或不受支持（工作簿中的 XML 第 1 行第",
            "broken",
        ),
        (_encrypted_flag(xlsx), "a.xlsx", "XLSX 文件损坏或不受支持（压缩包内文件 '", "broken"),
        (_encrypted_flag(ods), "a.ods", "ODS 文件损坏或不受支持（压缩包内文件 'mimet", "broken"),
        (xls[:600], "a.xls", f"{_XLS_CUT}读取越过了数据的末尾，文件被截断或损坏）", "old"),
        (xls[:100], "a.xls", f"{_XLS_CUT}记录的数据不足 436 字节，文件被截断或损坏）", "old"),
        (xls[:8], "a.xls", f"{_XLS_CUT}OLE2 文件头损坏，没有字节序标记）", "old"),
    ]  # fmt: skip
    for data, name, starts, english in cases:
        msg = _refused(data, name)
        assert msg.startswith(starts), (name, msg)
        _no_english_in(_chinese(msg, english))
    # a member whose stored CRC is wrong: the member named
    src = zipfile.ZipFile(io.BytesIO(ods))
    at = src.getinfo("content.xml").header_offset + 14
    bad = bytearray(ods)
    bad[at] ^= 0xFF  # the local header's CRC-32
    cd = bad.find(b"PK\x01\x02")
    while cd >= 0:
        n = int.from_bytes(bad[cd + 28 : cd + 30], "little")
        if bytes(bad[cd + 46 : cd + 46 + n]) == b"content.xml":
            bad[cd + 16] ^= 0xFF  # the directory's
        cd = bad.find(b"PK\x01\x02", cd + 4)
    assert _refused(bytes(bad), "crc.ods") == (
        "ODS 文件损坏或不受支持（压缩包内文件 'content.xml' 的 CRC-32 校验失败，文件已损坏） "
        "broken or unsupported ODS file: Bad CRC-32 for file 'content.xml'"
    )
    # a repeat count that is no number (the reader's own words)
    many = b'<table:table-row table:number-rows-repeated="many">'
    odd = _rezip(ods, "content.xml", lambda t: t.replace(b"<table:table-row>", many, 1))
    msg = _refused(odd, "r.ods")
    assert msg.startswith("ODS 文件损坏或不受支持（重复次数 'many' 不是正整数） "), msg
    # a workbook saved with a password (Excel, WPS: an OLE2 file of EncryptedPackage)
    assert _refused(_ole2_renamed(xls, "EncryptedPackage"), "secret.xlsx") == (
        "Excel 工作簿有密码保护（已加密）：请用 Excel 或 WPS 打开，另存为无密码的文件 "
        "Excel workbook is password-protected (encrypted): open it in Excel or WPS and save "
        "it without a password"
    )


def test_damaged_office_bytes_never_put_english_in_the_chinese() -> None:
    """Every 97th byte of a workbook set to 0xFF in turn, and the files cut every 97 bytes:
    each refusal's Chinese (before its English) holds no English words of a library."""
    xlsx, ods, xls = _xlsx([HEADER, *WALK]), _ods([HEADER, *WALK]), _xls([HEADER, *WALK])
    english = ("broken or unsupported", "old Excel workbook", "not an XLSX")
    seen = 0
    for good, name in ((xlsx, "a.xlsx"), (ods, "a.ods"), (xls, "a.xls")):
        variants = [good[:at] + b"\xff" + good[at + 1 :] for at in range(8, len(good), 97)]
        variants += [good[:at] for at in range(8, len(good), 97)]
        for data in variants:
            try:
                parse_track(data, name)
            except InputError as exc:
                msg = exc.message
                cut = min((msg.find(f" {e}") for e in english if f" {e}" in msg), default=-1)
                if cut < 0:
                    continue  # another refusal (a header, a time): its own tests
                seen += 1
                _no_english_in(msg[:cut])
                assert "无法解压或解析" not in msg and "无法解析文件结构" not in msg, msg
    assert seen > 50


def test_times_refused_together_still_refuse_without_a_row() -> None:
    """Values pandas refuses only together (zones it found mixed with none) have no one value
    to blame: the refusal is as before, without a place (looking for one must not fail)."""
    from geo.tracks.parse_time import TimeValueError, parse_times

    with pytest.raises(TimeValueError) as err:
        parse_times(["2026-05-12 08:00:00 UTC", "2026-05-12 08:01:00", "soon"])
    assert err.value.index is None
    assert err.value.message.startswith("无法识别时间值（"), err.value.message

"""The Chinese of the libraries' words that messages quote (geo.library_words, T37 F13)."""

from __future__ import annotations

import pyexpat
import re

import pytest

from geo import library_words as lw

_ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")


def test_every_expat_error_of_a_file_has_its_chinese_and_keeps_its_place() -> None:
    """expat's texts a file can cause each read in Chinese; the line and column are kept."""
    internal = {23, 25, 26, 33, 34, 36, 37, 41, 42}  # a program's misuse of expat
    for code in range(1, 44):
        text = pyexpat.ErrorString(code)
        if code in internal or text is None:
            continue
        zh = lw.xml_zh(f"{text}: line 7, column 3")
        # expat's column 3 counts from 0: the 4th as an editor shows it (T39 L14)
        assert zh.startswith("第 7 行第 4 列处") and zh != "第 7 行第 4 列处格式有误", text
        tokens = re.sub(r"XML|CDATA|DTD|xmlns|xml", "", zh)  # code tokens stay
        assert not _ENGLISH_WORD.search(tokens), (text, zh)
        assert lw.is_xml_error(f"{text}: line 7, column 3")
    assert lw.xml_zh("no element found: line 404, column 0") == (
        "第 404 行第 1 列处文件意外结束（可能被截断）"
    )
    # words not in the table: the place and the generic cause, no English
    assert lw.xml_zh("a new expat complaint: line 2, column 5") == "第 2 行第 6 列处格式有误"
    assert not lw.is_xml_error("Bad CRC-32 for file 'content.xml'")


def test_the_english_of_an_expat_error_counts_its_column_as_the_chinese_does() -> None:
    """T41 #3: the English quoted expat's column (from 0) next to a Chinese counting from 1:
    "第 6 行第 3 列处标签不匹配 … mismatched tag: line 6, column 2". xml_en keeps expat's
    words, the column from 1; other texts as they are."""
    assert lw.xml_en("mismatched tag: line 6, column 2") == "mismatched tag: line 6, column 3"
    assert lw.xml_zh("mismatched tag: line 6, column 2").startswith("第 6 行第 3 列处")
    assert lw.xml_en("no element found: line 404, column 0") == (
        "no element found: line 404, column 1"
    )
    assert lw.xml_en("Bad CRC-32 for file 'content.xml'") == "Bad CRC-32 for file 'content.xml'"


@pytest.mark.parametrize(
    ("line", "zh"),
    [
        (
            'connection failed: connection to server at "127.0.0.1", port 1 failed: '
            "Connection refused",
            "连接服务器 127.0.0.1 端口 1 失败：连接被拒绝",
        ),
        (
            "failed to resolve host 'db.example': [Errno -2] Name or service not known",
            "无法解析主机名 db.example",
        ),
        (
            'could not translate host name "db.example" to address: Name or service not known',
            "无法解析主机名 db.example",
        ),
        ("connection timeout expired", "连接超时"),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  password authentication failed for user "gw"',
            "连接服务器 10.0.0.5 端口 5432 失败：用户 gw 密码验证失败",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  database "city" does not exist',
            "连接服务器 10.0.0.5 端口 5432 失败：数据库 city 不存在",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  role "clerk" does not exist',
            "连接服务器 10.0.0.5 端口 5432 失败：数据库用户（角色）clerk 不存在",
        ),
        (
            'connection is bad: connection to server on socket "/run/pg/.s.PGSQL.5432" '
            "failed: No such file or directory",
            "连接套接字 /run/pg/.s.PGSQL.5432 失败：套接字文件不存在（本机数据库服务器未运行？）",
        ),
        ("server closed the connection unexpectedly", "服务器意外关闭了连接"),
        (
            'connection to server at "10.0.0.5", port 5432 failed: something new',
            "连接服务器 10.0.0.5 端口 5432 失败",
        ),
        ("something new", "连接数据库失败"),
    ],
)
def test_a_failed_connection_in_chinese(line: str, zh: str) -> None:
    assert lw.connection_zh(line) == zh
    assert lw.database_zh(line, "unavailable") == zh


def test_other_database_errors_in_chinese() -> None:
    assert lw.database_zh("deadlock detected", "conflict") == "检测到死锁"
    assert lw.database_zh("could not serialize access due to …", "conflict").startswith("并发")
    assert lw.database_zh("something new", "conflict") == "并发修改冲突"
    assert lw.database_zh('relation "x" does not exist', "other") == ""


@pytest.mark.parametrize(
    ("text", "zh"),
    [
        ("Unknown datetime string format, unable to parse: soon", "soon 的日期时间格式无法识别"),
        (
            "Unknown datetime string format, unable to parse: soon, at position 3",
            "soon 的日期时间格式无法识别（位置 3）",
        ),
        ("Unknown string format: soon", "soon 的日期时间格式无法识别"),
        ("month must be in 1..12: 2026-13-01", "月份须在 1 到 12 之间：2026-13-01"),
        ("day is out of range for month: 2026-02-30", "日超出该月的天数：2026-02-30"),
        ("hour must be in 0..23: 2026-01-01 25:00", "小时须在 0 到 23 之间：2026-01-01 25:00"),
        ("minute must be in 0..59: 08:61", "分钟须在 0 到 59 之间：08:61"),
        ("second must be in 0..59: 08:00:61", "秒须在 0 到 59 之间：08:00:61"),
        ("year 99999 is out of range: 99999-01-01", "年份 99999 超出范围：99999-01-01"),
        (
            "Time data 12:00 is not ISO8601 format. You might want to try:",
            "时间 12:00 不是 ISO 8601 格式",
        ),
        (
            "Out of bounds nanosecond timestamp: 3000-01-01 00:00:00",
            "时间 3000-01-01 00:00:00 超出可表示的范围（1677–2262 年）",
        ),
        ("a new pandas complaint", "格式无法识别"),
    ],
)
def test_a_time_pandas_cannot_read_in_chinese(text: str, zh: str) -> None:
    assert lw.time_zh(text) == zh


def test_json_and_csv_errors_in_chinese() -> None:
    assert lw.json_zh("Expecting ',' delimiter", 3, 7) == "第 3 行第 7 列处缺少逗号 ','"
    assert lw.json_zh("Something new", 1, 2) == "第 1 行第 2 列处格式有误"
    said = lw.csv_zh("Error tokenizing data. C error: Expected 3 fields in line 5, saw 4")
    assert said == "第 5 行有 4 个字段，应为 3 个"
    assert lw.csv_zh("field larger than field limit (131072)") == "有字段超过长度上限（131072）"
    assert lw.csv_zh("something new") == "无法拆分为列"


def test_xml_and_json_places_count_as_an_editor_does() -> None:
    """T39 L14: expat counts a line's columns from 0, the json module from 1; the Chinese
    says both as an editor shows them (line 1, column 1 is the first character). Files whose
    places are counted here by hand."""
    import json
    import xml.etree.ElementTree as ET

    # "<a>" then "<b></c>" on line 2: the end tag's name "c" is its 6th character
    with pytest.raises(ET.ParseError) as xml_err:
        ET.fromstring(b"<a>\n<b></c>")
    assert str(xml_err.value) == "mismatched tag: line 2, column 5"  # expat: from 0
    assert lw.xml_zh(str(xml_err.value)).startswith("第 2 行第 6 列处标签不匹配")
    # a lone "x": the first character of the first line
    with pytest.raises(ET.ParseError) as xml_err:
        ET.fromstring(b"x")
    assert lw.xml_zh(str(xml_err.value)) == "第 1 行第 1 列处语法错误"
    # Chinese characters count one column each: "<a>中文</b>", the "b" is the 8th
    with pytest.raises(ET.ParseError) as xml_err:
        ET.fromstring("<a>中文</b>".encode())
    assert lw.xml_zh(str(xml_err.value)).startswith("第 1 行第 8 列处")
    # '{"a": 1,' then ' "b" 2}': the 2 where a ':' should be is the 6th character of line 2
    with pytest.raises(json.JSONDecodeError) as json_err:
        json.loads('{"a": 1,\n "b" 2}')
    e = json_err.value
    assert (e.lineno, e.colno, e.pos) == (2, 6, 14)  # json: from 1 (its char: from 0)
    assert lw.json_zh(e.msg, e.lineno, e.colno) == "第 2 行第 6 列处缺少冒号 ':'"


def test_a_failed_connection_names_its_cause() -> None:
    """T39 M6: what a reader can do follows libpq's words (the server's FATAL lines as a
    server in the C locale writes them, the resolver's), not always "is the server
    running?"."""
    fatal = 'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
    assert lw.connection_cause(fatal + 'password authentication failed for user "gw"') == "login"
    assert lw.connection_cause(fatal + 'role "clerk" does not exist') == "login"
    assert lw.connection_cause("fe_sendauth: no password supplied") == "login"
    assert lw.connection_cause(fatal + 'database "city" does not exist') == "database"
    assert (
        lw.connection_cause(
            "failed to resolve host 'db.example': [Errno -2] Name or service not known"
        )
        == "host"
    )
    assert (
        lw.connection_cause(
            "failed to resolve host 'db.example': [Errno -3] Temporary failure in name resolution"
        )
        == "host"
    )
    assert (
        lw.connection_cause(
            fatal + 'no pg_hba.conf entry for host "10.0.0.9", user "gw", database "city", no '
            "encryption"
        )
        == "pg_hba"
    )
    for other in (
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused',
        "connection timeout expired",
        fatal + "the database system is starting up",
        "something new",
    ):
        assert lw.connection_cause(other) is None, other


# zipfile's words as a broken .xlsx, .ods or .kmz gave them (collected from real broken
# files: cut short, bytes flipped, encryption flags set, see test_tracks_parse_office)
_ZIP_TEXTS = [
    ("File is not a zip file", "不是 zip 压缩文件：文件被截断或损坏，或是改了扩展名的其他文件"),
    ("Bad magic number for file header", "压缩包内的文件头损坏"),
    ("Bad magic number for central directory", "压缩包的目录损坏"),
    ("Bad offset for central directory", "压缩包的目录位置有误，文件被截断或损坏"),
    ("Truncated central directory", "压缩包的目录不完整，文件被截断"),
    ("Truncated file header", "压缩包内的文件头不完整，文件被截断"),
    (
        "Bad CRC-32 for file 'content.xml'",
        "压缩包内文件 'content.xml' 的 CRC-32 校验失败，文件已损坏",
    ),
    (
        "File name in directory 'mimety\\xa0e' and header b'mimetype' differ.",
        "压缩包内文件 'mimety\\xa0e' 在目录与文件头中的名称不一致，文件已损坏",
    ),
    ("Corrupt extra field 4b50 (size=513)", "压缩包内文件的扩展字段损坏（类型 4b50，长度 513）"),
    (
        "File <ZipInfo filename='docProps/app.xml' compress_type=deflate filemode='?rw-------' "
        "file_size=205 compress_size=149> is encrypted, password required for extraction",
        "压缩包内文件 'docProps/app.xml' 已加密，须有密码才能解压：请另存为无密码的文件",
    ),
    (
        "strong encryption (flag bit 6)",
        "压缩包使用了强加密，须有密码才能解压：请另存为无密码的文件",
    ),
    ("That compression method is not supported", "压缩包使用了不支持的压缩方法"),
    ("compression type 99", "压缩包使用了不支持的压缩方法（编号 99）"),
    ("zip file version 25.5", "压缩包需要 zip 版本 25.5，不受支持"),
    (
        "\"There is no item named '[Content_Types].xml' in the archive\"",
        "压缩包里没有 '[Content_Types].xml'，不是完整的工作簿",
    ),
    ("Error -3 while decompressing data: invalid distance too far back", "解压失败：压缩数据损坏"),
    ("Invalid data stream", "解压失败：压缩数据损坏"),
    ("EOFError", "压缩数据意外结束，文件被截断"),
    ("negative seek value -60928", "压缩包中的位置 -60928 无效，文件已损坏"),
]
# xlrd's words (and Python's under it) as broken .xls files gave them
_XLS_TEXTS = [
    ("Expected \"little-endian\" marker, found b'\\x00\\x00'", "OLE2 文件头损坏，没有字节序标记"),
    ("array index out of range", "读取越过了数据的末尾，文件被截断或损坏"),
    ("list index out of range", "读取越过了数据的末尾，文件被截断或损坏"),
    ("unpack requires a buffer of 436 bytes", "记录的数据不足 436 字节，文件被截断或损坏"),
    ("MSAT: invalid sector id: -65281", "OLE2 扇区表中有无效的扇区号 -65281"),
    (
        "MSAT extension: accessing sector 16777214 but only 10 in file",
        "OLE2 扇区表指向第 16777214 个扇区，文件却只有 10 个，文件被截断或损坏",
    ),
    ("Workbook corruption: seen[0] == 7", "OLE2 扇区链损坏（扇区 0 被重复使用）"),
    (
        "OLE2 stream 'Workbook (from SSCS)': sector allocation table invalid entry (0)",
        "OLE2 扇区分配表中有无效的项（0）",
    ),
    (
        "'Workbook' stream length (16715776 bytes) > file data size (5120 bytes)",
        "数据流 'Workbook' 长 16715776 字节，超过文件的 5120 字节，文件被截断",
    ),
    (
        "Unsupported format, or corrupt file: Expected BOF record; found b'\\xff\\x08\\x10'",
        "工作簿数据流的开头（BOF 记录）损坏，或不是受支持的 Excel 格式",
    ),
    ("Requested stream is not a 'user stream'", "工作簿数据流的目录项损坏"),
    (
        "'utf-16-le' codec can't decode byte 0x65 in position 0: truncated data",
        "文本数据损坏，无法按其编码读出",
    ),
    (
        "Expected SHRFMLA, ARRAY, TABLEOP* or STRING record; found 0x0006",
        "记录的顺序有误，文件已损坏",
    ),
    ("17", "内部结构不一致，文件已损坏"),
    ("AssertionError", "内部结构不一致，文件已损坏"),
]


@pytest.mark.parametrize(("text", "zh"), _ZIP_TEXTS)
def test_a_broken_zip_in_chinese(text: str, zh: str) -> None:
    """T39 L2: zipfile's English stood inside the Chinese of a broken .xlsx, .ods, .kmz."""
    assert lw.zip_zh(text) == zh
    assert lw.office_zh(text) == zh
    tokens = re.sub(r"'[^']*'|zip|ZIP64|CRC-32", "", zh)
    assert not _ENGLISH_WORD.search(tokens), zh


@pytest.mark.parametrize(("text", "zh"), _XLS_TEXTS)
def test_a_broken_xls_in_chinese(text: str, zh: str) -> None:
    """T39 L2: xlrd's English stood inside the Chinese of a broken .xls ("xlrd：array index
    out of range")."""
    assert lw.xls_zh(text) == zh
    tokens = re.sub(r"'[^']*'|OLE2|BOF|Excel", "", zh)
    assert not _ENGLISH_WORD.search(tokens), zh


def test_office_words_not_in_the_tables_and_expat_within_a_workbook() -> None:
    assert lw.zip_zh("a new zipfile complaint") == "压缩包损坏"
    assert lw.office_zh("a new openpyxl complaint") == "无法解压或解析"
    assert lw.xls_zh("a new xlrd complaint") == "无法解析文件结构"
    assert lw.office_zh("unclosed token: line 1, column 1202") == (
        "工作簿中的 XML 第 1 行第 1203 列处标记未结束（文件可能被截断）"
    )
    # a damaged directory makes a long name: cut
    long = "File name in directory '" + "x" * 300 + "' and header b'y' differ."
    assert lw.zip_zh(long) == (
        "压缩包内文件 '" + "x" * 79 + "… 在目录与文件头中的名称不一致，文件已损坏"
    )


def test_pandas_csv_lines_as_the_file_counts_them() -> None:
    """T39 L14: pandas counts the rows below a header (from 0 in "EOF inside string starting
    at row N", from 1 in "line N"); with the lines above it they are the file's own lines."""
    eof = "Error tokenizing data. C error: EOF inside string starting at row 2"
    assert lw.csv_zh(eof) == "第 2 行（从 0 起数）起的引号没有闭合，文件可能被截断"
    assert lw.csv_zh(eof, 1) == "第 4 行起的引号没有闭合，文件可能被截断"
    assert lw.csv_line(eof, 1) == 4
    wide = "Error tokenizing data. C error: Expected 3 fields in line 5, saw 4"
    assert lw.csv_zh(wide, 3) == "第 8 行有 4 个字段，应为 3 个"
    assert lw.csv_line(wide, 3) == 8
    assert lw.csv_line("line contains NUL", 3) is None

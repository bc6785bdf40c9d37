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
        assert zh.startswith("第 7 行第 3 列处") and zh != "第 7 行第 3 列处格式有误", text
        tokens = re.sub(r"XML|CDATA|DTD|xmlns|xml", "", zh)  # code tokens stay
        assert not _ENGLISH_WORD.search(tokens), (text, zh)
        assert lw.is_xml_error(f"{text}: line 7, column 3")
    assert lw.xml_zh("no element found: line 404, column 0") == (
        "第 404 行第 0 列处文件意外结束（可能被截断）"
    )
    # words not in the table: the place and the generic cause, no English
    assert lw.xml_zh("a new expat complaint: line 2, column 5") == "第 2 行第 5 列处格式有误"
    assert not lw.is_xml_error("Bad CRC-32 for file 'content.xml'")


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

"""Tables of fixes (CSV, TSV, XLSX, ODS) as points: find the header row, or, in a table without
one, tell the columns apart by their values.

Its own module because office staff and phone apps write tables in many shapes (title rows
above the header, no header at all, semicolons with decimal commas, tabs, Excel sheets with
their serial dates, summary rows below the fixes), and every table format shares the rules
for telling which column is which. OpenDocument sheets are unpacked in :mod:`geo.tracks.parse_ods`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import InputError, TooLargeError
from geo.library_words import csv_line, csv_zh, office_zh, xml_en
from geo.tracks.parse_raw import Raw, short
from geo.tracks.parse_time import (
    _TOD_RE,
    _is_number,
    date_order_refused,
    excel_day0,
    parse_times,
    serial_range,
)

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "gps经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "gps纬度")
TIME_NAMES = (
    "time",
    "timestamp",
    "datetime",
    "gps_time",
    "loc_time",
    "location_time",
    "fix_time",
    "ts",
    "utc_time",
    "gmt_time",
    "time_utc",
    "timestamp_utc",
    "datetime_utc",
    "time_gmt",
    "utc时间",
    "gmt时间",
    "时间",
    "定位时间",
    "采集时间",
    "日期时间",
    "时间戳",
    "gps时间",
    "上报时间",
    "记录时间",
    "回传时间",
    "轨迹时间",
)
# a day column that goes with a time-of-day column (日期 + 时间)
DATE_NAMES = ("date", "日期", "gps_date", "utc_date", "定位日期", "记录日期")
ACC_NAMES = ("accuracy", "acc", "horizontal_accuracy", "精度", "定位精度", "水平精度")
# separators in order of preference: a header or first row decides
SEPARATORS = ("\t", ";", ",", "|")
# the header row is looked for among the first HEAD_ROWS non-blank rows (title and note rows
# that exports put above it), within the first HEAD_CHARS of each
HEAD_ROWS = 10
HEAD_CHARS = 64 * 1024
# the rows whose values tell the columns of a table without a header (spread over the file)
SAMPLE_ROWS = 2000
# the columns of a table without a header (each is read and tested for every role: a row of
# 125,000 values took 60 s); with a header only its track columns are read
MAX_COLUMNS = 64
# An XLSX is a zip of XML that openpyxl parses in Python, ~5 µs an element (its XML parser
# is defusedxml's pure-Python one, and a sheet without a <dimension> is parsed twice): the
# limits bound that work, so that a crafted workbook costs no more than a real one at the
# limit. What it may unpack to (a multiple of the upload limit; a sheet's XML is ~5-10x its
# share of the zip); the XML elements it may hold, counted before openpyxl parses any (an
# empty cell <c/> costs as much as a full one but holds nothing to count; a cell is ~2
# elements); the cells with a value read from its first sheet (200,000 fixes in 5 columns; a
# sheet of 100,000 fixes reads in ~8 s); the columns read from each row (a track needs a
# handful). A crafted 326 KB workbook of 4.9M one-digit cells took 63 s and 656 MB before it
# was refused, one of 56 MB of empty cells 72 s; one just under these limits takes ~15 s.
XLSX_UNPACK_RATIO = 3
XLSX_MAX_ELEMENTS = 3_000_000
XLSX_MAX_CELLS = 1_000_000
XLSX_MAX_COLUMNS = MAX_COLUMNS
# the files a workbook's zip may hold (a real one: a dozen or so)
XLSX_MAX_MEMBERS = 10_000
# the longest stretch of its parsed XML without a "<": one piece of text, a comment, a tag
# with its attributes. expat (under openpyxl's parser and the ODS reader) re-scans a token
# that is still open each time a chunk is fed, so one 58 MB comment or attribute in a 60 KB
# workbook took 35-120 s, an element cap seeing nothing. A track sheet's cells are short
# (Excel holds at most 32,767 characters in a cell, ~160 KB as escaped UTF-8): 1 MiB is ample.
XLSX_MAX_TOKEN = 1 << 20
# a track cell (lon, lat, time, date, accuracy) is short: longer text is cut here, and a
# sheet's track cells together may hold this many characters. WHY: a sheet stores a cell
# once and repeats it (an .xls shared string, an ODS row repeated 990,000 times in a 2 KB
# file), so a small file could hand the time parser rows x a 32,000-character text: a
# tester's 2.8 MB .xls took 51 s and 10 GB, a 2 KB .fods 19 s and 5 GB, before being
# refused. A real 20 MB CSV holds under 20M characters in all.
TRACK_CELL_CHARS = 256
SHEET_MAX_TEXT = 32 << 20
_EXCEL_MAX_ROWS = 1_048_576
# the header names of the columns a track is read from: the rest are not kept
_TRACK_NAMES = LON_NAMES + LAT_NAMES + TIME_NAMES + DATE_NAMES + ACC_NAMES

# a trailing unit in brackets; no leading \s* (a run of spaces made it retry at every space:
# quadratic time on a crafted header), the caller strips the spaces instead
_UNIT_RE = re.compile(r"[(（\[【][^()（）\[\]【】]{0,40}[)）\]】]$")
# a header naming UTC (time(UTC), utc_time, GMT时间): its zone-less values are UTC; one naming
# an offset (时间(GMT+8), time UTC+08:00) or Beijing time (北京时间, CST): that zone
_UTC_HEADER_RE = re.compile(r"utc|gmt|世界时")
# (+800 is 8:00: the offset ends where its digits do, so "80" hours are never tried)
_OFFSET_HEADER_RE = re.compile(r"(?:utc|gmt)\s{0,2}([+-])\s{0,2}(\d{1,2})(?::?(\d\d))?(?!\d)")
_BEIJING_HEADER_RE = re.compile(r"北京时间|(?<![a-z])cst(?![a-z])")
# a run of blank lines (or of separators alone); each line must end in \n: linear
_BLANK_LINES_RE = re.compile(r"(?:[ \t,;|\r\ufeff]*\n)+")
# "116,3125": a number with a decimal comma (European locales); no thousands separators
_DECIMAL_COMMA_RE = re.compile(r"\s{0,8}[+-]?\d{1,20},\d{1,20}\s{0,8}")
# a coordinate as written by phones: at most 3 integer digits and at least 4 decimals
_PRECISE_RE = re.compile(r"\s{0,8}[+-]?\d{1,3}[.,]\d{4,30}\s{0,8}")
# a date without a time: 2026-11-20, 2026/11/20, 2026.11.20, 2026年11月20日
_DAY_RE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{4}\s?年\s?\d{1,2}\s?月\s?\d{1,2}\s?日")
# the summary rows office exports put below the fixes: a cell starting with one of these
# labels (合计 5 条, 总计：, 平均, Total, 共 5 个点), or a row holding nothing but a count; only
# the last FOOTER_ROWS rows, blank ones among them, are looked at (see :func:`_drop_footer`)
_FOOTER_RE = re.compile(
    r"[\s*#=:：(（\[【-]{0,8}(?:"
    r"合\s?计|总\s?计|小\s?计|共\s?计|累\s?计|汇\s?总|总\s?数|总\s?和|平\s?均|均\s?值|最\s?大|最\s?小"
    r"|统\s?计|计\s?数|共\s{0,3}\d|制\s?表|审\s?核|备\s?注|说\s?明|注\s?[:：]"
    r"|(?:grand\s?|sub\s?)?totals?|sum|average|avg|mean|count|max|min)(?![a-z])",
    re.IGNORECASE,
)
_COUNT_RE = re.compile(r"\s{0,8}\d{1,9}(?:\.0{1,8})?\s{0,8}")
FOOTER_ROWS = 20


def _key(name: Any) -> str:
    """A header cell as a lookup key: case, spaces, ``_``/``-`` and a trailing unit such as
    (米), (°) or (m) ignored, so ``经度(度)``, ``Date Time`` and ``loc_time`` match their names."""
    key = str(name)[:200].lstrip("\ufeff").strip().lower()
    key = _UNIT_RE.sub("", key).rstrip() or key
    return re.sub(r"[\s_\-]+", "", key)


_LON_KEYS = frozenset(map(_key, LON_NAMES))
_LAT_KEYS = frozenset(map(_key, LAT_NAMES))
_TRACK_KEYS = frozenset(map(_key, _TRACK_NAMES))


def csv_error() -> type[Exception]:
    return csv.Error


# ------------------------------------------------------------------------------------ CSV
def parse_csv(text: str) -> Raw:
    """A CSV (or TSV) track: the header row is the first of the first rows that names lon
    and lat columns (title rows above it are skipped); without one, a first row of values
    starts a headerless table whose columns are told by their values.

    Only the header's track columns are read (see :func:`_read_columns`); a table without a
    header may have at most :data:`MAX_COLUMNS` columns."""
    if "\r" in text and "\n" not in text:  # Excel for Mac's "CSV (Macintosh)": CR alone
        text = text.replace("\r", "\n")
    rows = _head_lines(text)
    if not rows:
        raise InputError("CSV 文件没有数据行，没有定位点 CSV has no rows with values: no points")
    hit = _csv_header(rows)
    if hit is None:
        first = rows[0][1]
        sep, width = _headerless_sep(first)
        if sep is None:
            sep0 = next((c for c in SEPARATORS if c in first), ",")
            found = ", ".join(c.strip() for c in _split(first, sep0))[:300]
            raise InputError(
                f"找不到经度/纬度列：CSV 需要经度/纬度（lon/lat）列，前 {HEAD_ROWS} 行里"
                f"没有写明它们的表头行；找到的是：{found} "
                f"CSV needs lon/lat (经度/纬度) columns; found: {found} "
                f"(no header row naming them in the first {HEAD_ROWS} rows)"
            )
        if width > MAX_COLUMNS:
            raise InputError(
                f"无表头的 CSV 超过 {MAX_COLUMNS} 列（无表头的表格要逐列判断，有此上限）："
                "请在 CSV 里加表头行（lon,lat,time 或 经度,纬度,时间） "
                f"headerless CSV has more than {MAX_COLUMNS} columns (limit: a table without a "
                "header is read column by column): add a header row (lon,lat,time or "
                "经度,纬度,时间) to the CSV"
            )
        start = rows[0][0]
    else:
        start, sep = hit
    # a comma-separated file without quotes cannot hold a decimal comma in a cell
    commas = sep != "," or '"' in text
    stream = io.StringIO(text[start:] if start else text)
    read_from = start  # where the text pandas reads starts (below the header, once read)
    try:
        if hit is None:
            # the C parser with a known separator is ~10× faster than sniffing
            df = pd.read_csv(stream, sep=sep, dtype=str, skipinitialspace=True, header=None)
            where = _CsvLines(text, start, sep)
            return table_raw(df, True, "CSV", commas=commas, where=where)
        names = next(csv.reader(stream, delimiter=sep, skipinitialspace=True))
        read_from = start + stream.tell()
        names = _unique([n.strip() or f"Unnamed: {i}" for i, n in enumerate(names)])
        df = _read_columns(stream, sep, names)
    except (pd.errors.ParserError, csv.Error) as exc:
        # the library's words in Chinese (T37 F13); the line pandas names (counted in the
        # text below the header, a row from 0) as the file's line, from 1 (T39 L14)
        said = str(exc).strip()
        before = text.count("\n", 0, read_from)
        line = csv_line(said, before)
        detail_zh = csv_zh(said, before)  # (the file's line in it, as in the detail's end)
        detail = said + (f" (line {line} of the file)" if line is not None else "")
        raise InputError(f"CSV 表格格式有误（{detail_zh}） malformed CSV: {detail}") from None
    except pd.errors.EmptyDataError:
        raise InputError(
            "CSV 文件没有数据行，没有定位点 CSV has no rows with values: no points"
        ) from None
    tail = _csv_tail(text, sep, names, df)
    where = _CsvLines(text, read_from, sep)
    return table_raw(df, False, "CSV", found=names, commas=commas, tail=tail, where=where)


class _CsvLines:
    """Where a record pandas read from ``text`` (from ``start`` on, split by ``sep``) stands
    in the file: its first line, counted from 1 in the whole file (a header and title rows
    above counted, as a text editor and Excel number them). Found only when asked (a value
    refused): the records are read again up to it, as pandas reads them (blank lines, and
    lines of spaces alone, are no records; a quoted field may run over lines)."""

    def __init__(self, text: str, start: int, sep: str) -> None:
        self.text, self.start, self.sep = text, start, sep

    def __call__(self, record: Any) -> tuple[str, str] | None:
        line = self.line(int(record))
        return None if line is None else (f"文件第 {line} 行", f"row {line} of the file")

    def line(self, record: int) -> int | None:
        before = self.text.count("\n", 0, self.start)
        reader = csv.reader(
            io.StringIO(self.text[self.start :]), delimiter=self.sep, skipinitialspace=True
        )
        seen, ended = 0, 0  # records pandas keeps; the last line read
        try:
            for cells in reader:
                first, ended = ended + 1, reader.line_num
                if len(cells) <= 1 and not "".join(cells).strip():
                    continue  # a blank line: pandas skips it
                if seen == record:
                    return before + first
                seen += 1
        except csv.Error:  # (pandas read it: not expected)
            return None
        return None


def _csv_tail(
    text: str, sep: str, names: list[str], df: pd.DataFrame
) -> list[list[str | None]] | None:
    """Every cell of the last rows of a CSV whose header has columns that are not read (a
    合计 label under 序号: see :func:`_drop_footer`), aligned with the last rows of ``df``
    (its read columns); None when every column is read, or when the last lines do not match
    ``df``'s last rows (a quoted line break among them): the footer is then judged by the
    read columns alone, as before. Only the end of the text is split."""
    if df.empty or len(df.columns) == len(names):
        return None
    lines = text.rstrip("\r\n").rsplit("\n", 2 * FOOTER_ROWS)[1:]
    rows = [_split(line.rstrip("\r"), sep) for line in lines if line.strip()]
    rows = rows[len(rows) - min(len(rows), len(df), FOOTER_ROWS) :]
    at = [names.index(c) for c in df.columns]
    read = df.iloc[len(df) - len(rows) :].to_numpy(object)
    for cells, values in zip(rows, read, strict=True):
        whole = [_cell_str(cells[j]) if j < len(cells) else None for j in at]
        read_cells = map(_cell_str, values)
        # (a cell pandas reads as missing may be written: "n/a", "NULL", "-")
        if any(v is not None and v != c for c, v in zip(whole, read_cells, strict=True)):
            return None
    return [[_cell_str(c) for c in cells[:MAX_COLUMNS]] for cells in rows]


def _read_columns(stream: io.StringIO, sep: str, names: list[str]) -> pd.DataFrame:
    """The track columns (lon, lat, time, date, accuracy) of the rows in ``stream`` (below
    the header whose column ``names`` are given), as text.

    pandas is not shown the header: it mangles repeated names in quadratic time (a header of
    200,000 "a"s took minutes), and given a header it makes the extra fields of a row longer
    than it the row's index (a MultiIndex, ~30 s a MB, shifting the columns). It reads the
    track columns alone; the extra fields of a row are ignored."""
    keep = [i for i, name in enumerate(names) if _key(name) in _TRACK_KEYS]
    if not keep:  # table_raw says which columns were found
        return pd.DataFrame()
    read = {"sep": sep, "dtype": str, "skipinitialspace": True, "header": None}
    pos = stream.tell()
    try:
        df = pd.read_csv(stream, names=range(keep[-1] + 1), usecols=keep, index_col=False, **read)
    except pd.errors.ParserError as exc:
        if "Too many columns specified" not in str(exc):
            raise
        # no row is as wide as the header's track columns (the last ones are empty):
        # no row is wider either, so all its columns are read
        stream.seek(pos)
        df = pd.read_csv(stream, **read).reindex(columns=keep)
    except pd.errors.EmptyDataError:  # a header and no rows
        df = pd.DataFrame(columns=keep, dtype=object)
    df.columns = [names[i] for i in keep]
    return df


def _head_lines(text: str) -> list[tuple[int, str]]:
    """(offset, line) of the first :data:`HEAD_ROWS` non-blank lines (a line of separators
    alone, as Excel writes below a title, is blank), each cut at :data:`HEAD_CHARS`."""
    out: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while pos < n and len(out) < HEAD_ROWS:
        blank = _BLANK_LINES_RE.match(text, pos)  # one step over any run of blank lines
        if blank is not None:
            pos = blank.end()
            if pos >= n:
                break
        end = text.find("\n", pos, pos + HEAD_CHARS)
        stop = end if end >= 0 else min(n, pos + HEAD_CHARS)
        line = text[pos:stop].rstrip("\r")
        if line.strip(" \t,;|\r\ufeff"):
            out.append((pos, line))
        if end < 0:  # a line longer than HEAD_CHARS: find its end
            end = text.find("\n", stop)
            if end < 0:
                break
        pos = end + 1
    return out


def _split(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    except csv.Error:
        return []


def _is_header(cells: list[Any]) -> bool:
    keys = {_key(c) for c in cells if c is not None}
    return bool(keys & _LON_KEYS) and bool(keys & _LAT_KEYS)


def _csv_header(rows: list[tuple[int, str]]) -> tuple[int, str] | None:
    """Offset and separator of the header row: the first row that, split by a separator
    (tab, semicolon, comma, bar: the first that works), names lon and lat columns."""
    for pos, line in rows:
        for sep in SEPARATORS:
            if sep in line and _is_header(_split(line, sep)):
                return pos, sep
    return None


def _headerless_sep(line: str) -> tuple[str | None, int]:
    """The separator that splits ``line`` into at least three values (numbers, date-times):
    the first row of a table without a header (None when it is not such a row), and its
    number of cells. Only the first cells are tested: a row of thousands is refused anyway."""
    for sep in SEPARATORS:
        cells = _split(line, sep) if sep in line else []
        if _values_row(cells[: MAX_COLUMNS + 1]):
            return sep, len(cells)
    return None, 0


def _values_row(cells: list[Any]) -> bool:
    """A row of data: at least three values (numbers, date-times), most of its cells."""
    filled = [str(c).strip() for c in cells if c is not None and str(c).strip()]
    values = sum(1 for c in filled if _value_like(c))
    return values >= 3 and values * 2 > len(filled)


def _value_like(cell: str) -> bool:
    """A number (decimal point or comma) or a date-time: a cell of data, not of a header."""
    if _is_number(cell) or (_DECIMAL_COMMA_RE.fullmatch(cell) and cell.count(",") == 1):
        return True
    if not any(ch.isdigit() for ch in cell) or len(cell) > 64:
        return False
    if _TOD_RE.fullmatch(cell):
        return True
    try:
        return bool(parse_times([cell], "UTC").notna().all())
    except InputError as exc:  # a date alone cannot tell its order (03/04/26): a date still
        return date_order_refused(exc)
    except (ValueError, TypeError, OverflowError):
        return False


# ----------------------------------------------------------------------------------- XLSX
def parse_xlsx(data: bytes, max_bytes: int) -> Raw:
    """The first sheet of an Excel workbook, read like a CSV (header row among the first
    rows, or columns told by their values). Date cells are the local date-times they show;
    numbers in a time column are epochs or Excel serial days (see :func:`parse_times`),
    counted from the workbook's own day 0 (1904-01-01 in old Mac Excel's date system).

    ``max_bytes`` is the upload limit: the workbook may unpack to :data:`XLSX_UNPACK_RATIO`
    times it (see :func:`check_workbook_size` and :func:`_xlsx_table` for the other limits)."""
    table, mac_1904 = _xlsx_table(data, max_bytes)
    return sheet_raw(table, "XLSX", mac_1904)


@dataclass
class SheetTable:
    """A sheet's rows as :func:`sheet_rows` reads them: the header (None without one), the
    names of all its columns, the rows below it as text cells (only the header's track
    columns), and every cell of the last of them (``tail``: a 合计 label in a column that is
    not read, see :func:`_drop_footer`)."""

    header: list[str] | None
    names: list[str] | None
    body: list[list[str | None]]
    tail: list[list[str | None]] | None = None
    # the sheet's number (from 1, as Excel, WPS and LibreOffice show it) of each body row
    numbers: list[int] | None = None


def sheet_raw(table: SheetTable, what: str, mac_1904: bool = False) -> Raw:
    """Points of a spreadsheet's rows as :func:`sheet_rows` returns them (XLSX, XLS, ODS)."""
    header, body = table.header, table.body
    if header is None:
        width = max((len(r) for r in body), default=0)
        columns: list[Any] = list(range(width))
    else:
        width, columns = len(header), header
    df = pd.DataFrame(
        [r + [None] * (width - len(r)) for r in body],
        columns=columns,
        index=table.numbers,  # the rows' own numbers: named where a value is refused
        dtype=object,
    )
    return table_raw(
        df,
        header is None,
        what,
        found=table.names,
        mac_1904=mac_1904,
        tail=table.tail,
        where=_sheet_row if table.numbers is not None else None,
    )


def _sheet_row(number: Any) -> tuple[str, str]:
    """Where a row of a workbook's first sheet stands (its number: see :class:`SheetTable`)."""
    return f"第一个工作表第 {number} 行", f"row {number} of the first sheet"


def check_workbook_size(
    data: bytes, max_bytes: int, what: str = "XLSX", parsed: Collection[str] | None = None
) -> None:
    """Refuse a workbook (an XLSX or an ODS: both zips of XML; ``what`` names it) before it
    is parsed when it holds more than :data:`XLSX_MAX_MEMBERS` files, unpacks to more than
    :data:`XLSX_UNPACK_RATIO` times the upload limit (the zip's declared sizes: Python's
    zipfile never unpacks more than a member declares), its XML holds more than
    :data:`XLSX_MAX_ELEMENTS` elements (counted in the unpacked bytes, ~0.1 s for 60 MB), or
    a member that is parsed (``parsed``: their names; None: every member that starts as XML
    does, not an image) runs more than :data:`XLSX_MAX_TOKEN` bytes without a "<"."""
    import zipfile

    limit = XLSX_UNPACK_RATIO * max_bytes
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if len(infos) > XLSX_MAX_MEMBERS:
            raise InputError(
                f"{what} 压缩包内有 {len(infos):,} 个文件（上限 {XLSX_MAX_MEMBERS:,} 个；"
                "正常的工作簿只有几十个），不是电子表格 "
                f"{what} holds {len(infos):,} files in its zip (limit {XLSX_MAX_MEMBERS:,}; a "
                "workbook has a few dozen): not a spreadsheet"
            )
        if sum(i.file_size for i in infos) > limit:
            # 413 as a KMZ over its limit (T42 #8: a workbook's was a 422)
            raise TooLargeError(
                f"文件过大：{what} 解压后超过 {limit:,} 字节（上限为上传上限 {max_bytes:,} 字节的 "
                f"{XLSX_UNPACK_RATIO} 倍） "
                f"{what} unpacks to more than {limit:,} bytes (limit: {XLSX_UNPACK_RATIO} × the "
                f"upload limit of {max_bytes:,})"
            )
        elements = 0
        for info in infos:
            run = (
                _TokenRun(info.filename, what)
                if parsed is None or info.filename in parsed
                else None
            )
            with zf.open(info) as fh:
                while block := fh.read(1 << 20):
                    # each element opens with "<" (a closing tag with "</"); a tag cut at the
                    # block's end is counted once more: no matter
                    elements += block.count(b"<") - block.count(b"</")
                    if run is not None:
                        run.feed(block, fh)
            if run is not None:
                run.end()
            if elements > XLSX_MAX_ELEMENTS:
                raise _too_many_elements(what)


def check_xml_document(data: bytes, what: str) -> None:
    """Refuse one XML document read as a sheet (a flat OpenDocument spreadsheet, ``what``
    names it) over the limits of a workbook's parsed member (see
    :func:`check_workbook_size`): :data:`XLSX_MAX_ELEMENTS` elements, a run of more than
    :data:`XLSX_MAX_TOKEN` bytes without a "<". It is not unpacked: the upload limit is its
    size."""
    if data.count(b"<") - data.count(b"</") > XLSX_MAX_ELEMENTS:
        raise _too_many_elements(what)
    run = _TokenRun("the document", what, "文档")
    run.feed(data, io.BytesIO())
    run.end()


def _too_many_elements(what: str) -> InputError:
    return InputError(
        f"{what} 含超过 {XLSX_MAX_ELEMENTS:,} 个 XML 元素（上限；{XLSX_MAX_CELLS:,} 个单元格的"
        "工作表约有这么多）：请拆分轨迹 "
        f"{what} has more than {XLSX_MAX_ELEMENTS:,} XML elements (limit; a sheet of "
        f"{XLSX_MAX_CELLS:,} cells has about that many): split the track"
    )


class _TokenRun:
    """The longest run of bytes between two "<" of a zip member, fed block by block (the run
    open at a block's end carried into the next); refused over :data:`XLSX_MAX_TOKEN`. A
    member that does not start as XML (an image, a thumbnail) is not measured: no XML parser
    reads past its first byte."""

    def __init__(self, name: str, what: str, name_zh: str | None = None) -> None:
        # (the member's name is a file name, the same in Chinese; "the document" is not)
        self.name, self.what, self.name_zh = name, what, name_zh
        self.open = 0  # bytes since the last "<" (or the member's start)
        self.xml: bool | None = None  # unknown until a byte other than space is seen

    def feed(self, block: bytes, fh: Any) -> None:
        if self.xml is None and (start := block.lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n\x00")):
            self.xml = start[:1] == b"<"
        if self.xml is False:
            return
        at = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 0x3C)  # "<"
        if not len(at):
            self.open += len(block)
        else:
            longest = max(self.open + int(at[0]), int(np.diff(at).max(initial=0)))
            self.open = len(block) - int(at[-1])
            if longest > XLSX_MAX_TOKEN:
                self._refuse(longest)
        if self.open > XLSX_MAX_TOKEN:  # refused: the rest of the run read, to name its size
            while block := fh.read(1 << 20):
                cut = block.find(b"<")
                self.open += len(block) if cut < 0 else cut
                if cut >= 0:
                    break
            self._refuse(self.open)

    def end(self) -> None:
        if self.open > XLSX_MAX_TOKEN:
            self._refuse(self.open)

    def _refuse(self, run: int) -> None:
        name = "".join(c if c.isprintable() else "?" for c in self.name[:100])
        name_zh = self.name_zh or f"{name} "
        raise InputError(
            f"{self.what} 不予接收：{name_zh}中有一段文本或标记超过 {XLSX_MAX_TOKEN >> 20} MiB"
            f"（{run / 1e6:,.1f} MB），不是轨迹表 "
            f"{self.what} rejected: {name} holds a single piece of text or markup longer than "
            f"{XLSX_MAX_TOKEN >> 20} MiB ({run / 1e6:,.1f} MB): not a track table"
        )


def _xlsx_table(data: bytes, max_bytes: int) -> tuple[SheetTable, bool]:
    """The rows of the first sheet (see :class:`SheetTable`), and whether the workbook
    counts days from 1904.

    The header row is looked for among the first :data:`HEAD_ROWS` non-empty rows; once
    found only its track columns are kept (lon, lat, time, date, accuracy). Reading stops at
    :data:`XLSX_MAX_CELLS` cells with a value, and at :data:`XLSX_MAX_COLUMNS` columns a
    row. openpyxl reads the XML with defusedxml (no entities, no external references)."""
    import warnings

    from openpyxl.utils.datetime import MAC_EPOCH
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        check_workbook_size(data, max_bytes)
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no default style" and the like: not the user's
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if not wb.worksheets:
                    raise InputError("XLSX 没有工作表，没有定位点 XLSX has no sheets: no points")
                ws = wb.worksheets[0]
                # a sheet's stated size may be wrong (rows past it would be lost): read all
                ws.reset_dimensions()
                table = sheet_rows(ws.iter_rows(max_col=XLSX_MAX_COLUMNS, values_only=True))
                mac_1904 = wb.epoch == MAC_EPOCH
            finally:
                wb.close()
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # openpyxl on a hostile zip raises anything
        raise InputError(_xlsx_error(exc, InvalidFileException)) from None
    return table, mac_1904


def sheet_rows(rows: Any, what: str = "XLSX", numbered: bool = False) -> SheetTable:
    """Header, all header names and body of a sheet's rows (tuples of cell values, see
    :func:`_xlsx_table`; an ODS's from :mod:`geo.tracks.parse_ods`, an XLS's from
    :mod:`geo.tracks.parse_xls`): empty rows and trailing empty cells dropped, at most
    :data:`XLSX_MAX_CELLS` cells with a value. Below a header, the last
    :data:`FOOTER_ROWS` rows are kept whole too (the ``tail``). The rows are the sheet's
    every row from its first (numbered 1, 2, …), or, ``numbered``, (number, row) pairs of
    some of them (an ODS leaves its empty rows out)."""
    head: list[list[str | None]] = []  # the first rows, while no header is found
    head_numbers: list[int] = []
    header: list[str] | None = None
    names: list[str] | None = None
    keep: list[int] = []
    body: list[list[str | None]] = []
    numbers: list[int] = []  # each body row's number in the sheet
    last: deque[Any] = deque(maxlen=FOOTER_ROWS)  # the last rows below a header, whole
    headerless = False
    cells = chars = 0
    for i, item in enumerate(rows):
        number, row = item if numbered else (i + 1, item)
        if i >= _EXCEL_MAX_ROWS:  # a crafted row number: no sheet is longer
            raise InputError(
                f"{what} 工作表超过 {_EXCEL_MAX_ROWS:,} 行 "
                f"{what} sheet has more than {_EXCEL_MAX_ROWS:,} rows"
            )
        filled = len(row) - row.count(None)
        if not filled:  # the gaps openpyxl fills: fast
            continue
        cells += filled
        if cells > XLSX_MAX_CELLS:
            raise too_many_cells(what)
        if header is not None:  # the usual row: only the track columns
            kept = [_track_cell(row[j]) if j < len(row) else None for j in keep]
            chars += sum(len(t) for t in kept if t)
            if chars > SHEET_MAX_TEXT:
                raise _too_much_text(what)
            body.append(kept)
            numbers.append(number)
            last.append(row)
            continue
        texts = [_cell_text(v) for v in row]
        while texts and texts[-1] is None:
            texts.pop()
        if not texts:
            continue
        if headerless:
            texts = [t[:TRACK_CELL_CHARS] if t else t for t in texts]
            chars += sum(len(t) for t in texts if t)
            if chars > SHEET_MAX_TEXT:
                raise _too_much_text(what)
            body.append(texts)
            numbers.append(number)
        elif _is_header(texts):
            names = _unique([c or f"Unnamed: {k}" for k, c in enumerate(texts)])
            keep = [k for k, name in enumerate(names) if _key(name) in _TRACK_KEYS]
            header = [names[k] for k in keep]
        else:
            head.append(texts)
            head_numbers.append(number)
            if len(head) == HEAD_ROWS:  # no header among the first rows: values, or refused
                _refuse_unless_values(head[0], what)
                body, headerless = (
                    [[t[:TRACK_CELL_CHARS] if t else t for t in r] for r in head],
                    True,
                )
                numbers = list(head_numbers)
    if header is not None:
        tail = [[_cell_text(v) for v in r[:XLSX_MAX_COLUMNS]] for r in last]
        return SheetTable(header, names, body, tail, numbers)
    if not head:
        raise InputError(
            f"{what} 的第一个工作表为空，没有定位点 {what} first sheet is empty: no points"
        )
    if not headerless:
        _refuse_unless_values(head[0], what)
        return SheetTable(None, None, head, None, head_numbers)
    return SheetTable(None, None, body, None, numbers)


def _track_cell(v: Any) -> str | None:
    """A track cell's text, cut to :data:`TRACK_CELL_CHARS` (no lon, lat or time is longer;
    the cut text still fails to read as one, naming the value)."""
    text = _cell_text(v)
    return text[:TRACK_CELL_CHARS] if text and len(text) > TRACK_CELL_CHARS else text


def _too_much_text(what: str) -> InputError:
    return InputError(
        f"{what} 工作表的轨迹列中文本超过 {SHEET_MAX_TEXT >> 20} MiB（上限；是否有长文本在许多行"
        "重复？），不是轨迹表 "
        f"{what} sheet holds more than {SHEET_MAX_TEXT >> 20} MiB of text in its track "
        "columns (limit; a long text repeated over many rows?): not a track table"
    )


def too_many_cells(what: str) -> InputError:
    """The refusal of a sheet (``what``: XLSX, ODS, XLS) over :data:`XLSX_MAX_CELLS` cells."""
    return InputError(
        f"{what} 工作表超过 {XLSX_MAX_CELLS:,} 个单元格（上限）：请拆分轨迹，或只保留经度/纬度/"
        "时间列 "
        f"{what} sheet has more than {XLSX_MAX_CELLS:,} cells (limit): split the track, or "
        "keep only its lon/lat/time columns"
    )


def _refuse_unless_values(first: list[str | None], what: str) -> None:
    """Refuse a sheet without a header whose first row is not a row of values."""
    if not _values_row(first):
        found = ", ".join(c for c in first if c)[:300]
        raise InputError(
            f"找不到经度/纬度列：{what} 需要经度/纬度（lon/lat）列，前 {HEAD_ROWS} 行里"
            f"没有写明它们的表头行；找到的是：{found} "
            f"{what} needs lon/lat (经度/纬度) columns; found: {found} "
            f"(no header row naming them in the first {HEAD_ROWS} rows)"
        )


def _xlsx_error(exc: BaseException, invalid: type[Exception]) -> str:
    """What went wrong reading a workbook: a forbidden XML construct (openpyxl wraps the
    defusedxml error in its own) or a broken file."""
    import defusedxml

    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, defusedxml.DTDForbidden | defusedxml.EntitiesForbidden):
            return (
                "XLSX 不予接收：其 XML 声明了实体（出于安全不允许） "
                "XLSX rejected: its XML declares entities (not allowed for safety)"
            )
        if isinstance(cause, defusedxml.ExternalReferenceForbidden):
            return (
                "XLSX 不予接收：其 XML 引用了外部实体 "
                "XLSX rejected: its XML references external entities"
            )
        cause = cause.__cause__ or cause.__context__
    detail = short(exc)
    # the library's words in Chinese (zipfile's, zlib's, expat's: T39 L2), the English as it was
    detail_zh = office_zh(detail)
    detail = xml_en(detail)  # expat's column from 1, as the Chinese counts it (T41 #3)
    if isinstance(exc, invalid):
        return f"文件不是 XLSX 工作簿（{detail_zh}） not an XLSX workbook: {detail}"
    return f"XLSX 文件损坏或不受支持（{detail_zh}） broken or unsupported XLSX file: {detail}"


def _cell_text(v: Any) -> str | None:
    """A cell as the text a CSV export would hold: date cells as local ISO date-times (a
    date alone, at midnight, as a date, so it joins a time-of-day column), numbers in full."""
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        if v.tzinfo is None and v.time() == dt.time(0):
            return v.date().isoformat()
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    text = str(v).strip()
    return text or None


def _unique(names: list[Any]) -> list[str]:
    """Header names made unique as pandas does for a CSV (a repeated name gets .1, .2)."""
    seen: dict[str, int] = {}
    out = []
    for name in map(str, names):
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}.{n}")
    return out


# ------------------------------------------------------------------------------ columns
def table_raw(
    df: pd.DataFrame,
    headerless: bool,
    what: str,
    found: list[str] | None = None,
    commas: bool = True,
    mac_1904: bool = False,
    tail: list[list[str | None]] | None = None,
    where: Callable[[Any], tuple[str, str] | None] | None = None,
) -> Raw:
    """Points of a table of text cells: columns picked by their header names, or, without a
    header, by their values (:func:`_infer_columns`). ``where`` tells where a row of ``df``
    (its index label) stands in the file, for messages (see :attr:`Raw.place`).

    ``found`` names the header's columns when ``df`` holds only some of them (a refusal names
    them all; ``tail`` holds every cell of its last rows, see :func:`_drop_footer`);
    ``commas`` False says no cell can hold a decimal comma (a comma-separated file without
    quotes), so no column is searched for them; ``mac_1904``: Excel serial numbers count
    from 1904-01-01 (see :func:`geo.tracks.parse_time.excel_day0`)."""
    zone = None
    fix = _decimal_comma if commas else _unchanged
    if headerless:
        df, footer = _drop_footer(df, None, mac_1904=mac_1904)
        lon_c, lat_c, time_c, date_c = _infer_columns(df, what, mac_1904)
        acc_c = None
    else:
        cols: dict[str, Any] = {}
        for c in df.columns:
            cols.setdefault(_key(c), c)

        def pick(names: tuple[str, ...]) -> Any:
            return next((cols[k] for k in map(_key, names) if k in cols), None)

        lon_c, lat_c, time_c, date_c, acc_c = (
            pick(n) for n in (LON_NAMES, LAT_NAMES, TIME_NAMES, DATE_NAMES, ACC_NAMES)
        )
        named = ", ".join(map(str, df.columns if found is None else found))
        if lon_c is None or lat_c is None:
            raise InputError(
                f"找不到经度/纬度列：{what} 需要经度/纬度（lon/lat）列；找到的列：{named} "
                f"{what} needs lon/lat (经度/纬度) columns; found: {named}"
            )
        if time_c is None and date_c is None:
            raise InputError(
                f"找不到时间列：{what} 没有时间列（time/timestamp/时间）；找到的列：{named}，"
                "没有时间 "
                f"{what} has no time column (time/timestamp/时间); found: {named}: no times"
            )
        zone = _header_zone(" ".join(str(c).lower() for c in (time_c, date_c) if c is not None))
        when = time_c if time_c is not None else date_c
        df, footer = _drop_footer(df, (lon_c, lat_c, when), tail, mac_1904)
    if df.empty:
        only = " (only summary rows below it)" if footer else ""
        only_zh = "（表头下只有汇总行）" if footer else ""
        raise InputError(
            f"{what} 有表头{only_zh}，但没有定位点 {what} has a header but no points{only}"
        )
    acc = fix(df[acc_c]).tolist() if acc_c is not None else [np.nan] * len(df)
    times = _csv_times(df, time_c, date_c, what, fix, mac_1904)
    lon, lat = fix(df[lon_c]).tolist(), fix(df[lat_c]).tolist()
    warnings = [footer] if footer else []
    raw = Raw(lon, lat, times, acc, zone=zone, mac_1904=mac_1904, warnings=warnings)
    if where is not None:
        labels = df.index.tolist()
        raw.place = lambda i: where(labels[i])
    return raw


def _drop_footer(
    df: pd.DataFrame,
    roles: tuple[Any, Any, Any] | None,
    tail: list[list[str | None]] | None = None,
    mac_1904: bool = False,
) -> tuple[pd.DataFrame, str | None]:
    """``df`` without the summary rows that office exports put below the fixes (合计/总计/
    Total/平均 labels, a row holding only a count), and the warning that names them: one
    such row refused the whole file (a count in the time column is not a time).

    ``roles`` are the lon, lat and time columns (the date column when there is no time
    column), None without a header; ``tail`` every cell of ``df``'s last rows, when it holds
    only some columns (a 合计 label in a 序号 column is not read). Only rows at the end
    (blank rows among them too) are looked at, and only these are summaries (see
    :func:`_is_summary`): a row without a lon/lat pair that holds a label or a count; a
    labelled row with a pair but no time (平均 116.31 39.99: averaged coordinates, not a fix,
    which could never be placed in time anyway). A row among the fixes is judged as before
    (dropped with a warning, or the file refused), and no timed row is dropped here."""
    cut, shown, n = len(df), "", 0
    tail = tail or []
    offset = len(df) - len(tail)  # row i's every cell is tail[i - offset] from there on
    first = 1 if roles is None else 0  # without a header the first row told the columns
    for i in range(len(df) - 1, max(first, len(df) - FOOTER_ROWS) - 1, -1):
        row = df.iloc[i]
        cells = [_cell_str(v) for v in row.tolist()]
        whole = [_cell_str(v) for v in tail[i - offset]] if i >= offset else cells
        label = any(c and _FOOTER_RE.match(c) for c in whole)
        if not any(cells) and not label:  # blank (or a 序号 alone in a column not read)
            continue
        if not _is_summary(row, cells, label, roles, mac_1904) and not (
            label and roles is not None and _breaks_order(df, i, first, roles[2], mac_1904)
        ):
            break
        cut, shown, n = i, ", ".join(c for c in whole if c), n + 1
    if not n:
        return df, None
    rows = "row" if n == 1 else "rows"
    shown = shown[:80]
    note = f"{n} summary {rows} below the fixes ignored: {shown!r}"
    return df.iloc[:cut], f"已忽略定位点下方表格末尾的 {n} 行汇总行：{shown!r} {note}"


def _is_summary(
    row: pd.Series,
    cells: list[str | None],
    label: bool,
    roles: tuple[Any, Any, Any] | None,
    mac_1904: bool,
) -> bool:
    """Whether a row at the end of a table (its read ``cells``; ``label``: a summary label
    in any of its cells) is a summary, not a fix (see :func:`_drop_footer`)."""
    if roles is None:  # no header: coordinates are cells written as phones write them
        pair = sum(1 for c in cells if c and _PRECISE_RE.fullmatch(c)) >= 2
        filled = [c for c in cells if c]
        count = len(filled) == 1 and _is_count(filled[0])
        times = cells
    else:
        lon_c, lat_c, time_c = roles
        xy = (_cell_str(row[lon_c]), _cell_str(row[lat_c]))
        pair = all(np.isfinite(_cell_number(c)) for c in xy)
        others = [c for c in cells if c] if xy == (None, None) else []
        count = bool(others) and all(map(_is_count, others))
        times = [_cell_str(row[time_c])]
    if pair:
        return label and not any(_is_time(c, mac_1904) for c in times)
    return label or count


def _breaks_order(df: pd.DataFrame, i: int, first: int, time_c: Any, mac_1904: bool) -> bool:
    """Whether row ``i``'s time (column ``time_c``) runs against the table's order: before
    the nearest timed row above it when the table runs forward from row ``first``, after it
    when backward.
    WHY: a labelled last row with a pair and a time (平均 116.31 39.99 14:05, an averaged
    time) was kept as a fix at the walk's centre; no real last fix goes back in time, and
    a remark such as 平均速度 on a real last fix keeps it (its time is in order)."""
    up = next((k for k in range(i - 1, first, -1) if _cell_str(df.iloc[k][time_c])), None)
    if up is None:
        return False
    cells = [_cell_str(df.iloc[k][time_c]) for k in (first, up, i)]
    if not all(_is_time(c, mac_1904) for c in cells):
        return False
    try:
        start, above, here = parse_times(cells, "UTC", mac_1904).tolist()
    except (InputError, ValueError, TypeError, OverflowError):
        return False
    if pd.isna(start) or pd.isna(above) or pd.isna(here) or start == above:
        return False
    return bool(here < above) if start < above else bool(here > above)


def _is_time(text: str | None, mac_1904: bool = False) -> bool:
    """``text`` is a time a fix could have: a time of day (a date column gives its day), or
    a date-time, epoch or Excel serial day between 1990 and 2100; an ambiguous date
    (03/04/2026) counts, as it is one. Not: empty, a label, a count (5 is 1970)."""
    if text is None:
        return False
    if _TOD_RE.fullmatch(text):
        return True
    try:
        years = parse_times([text], "UTC", mac_1904).dt.year
    except InputError as exc:
        return date_order_refused(exc) or "has no date" in exc.message
    except (ValueError, TypeError, OverflowError):
        return False
    return bool(years.between(1990, 2100).iloc[0])


def _cell_str(v: Any) -> str | None:
    """A cell as stripped text (at most 200 characters); None when empty."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    return str(v)[:200].strip() or None


def _cell_number(text: str | None) -> float:
    """The number a coordinate cell holds (a decimal comma too); NaN when none."""
    if text is None:
        return np.nan
    if _DECIMAL_COMMA_RE.fullmatch(text):
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return np.nan


def _is_count(text: str | None) -> bool:
    return text is not None and _COUNT_RE.fullmatch(text) is not None


def _header_zone(named: str) -> str | None:
    """The zone a time column's header names: an offset (GMT+8, UTC+08:00), Beijing time
    (北京时间, CST), or UTC (time(UTC), utc_time, GMT时间); None when it names none."""
    m = _OFFSET_HEADER_RE.search(named)
    if m is not None and int(m.group(2)) <= 14 and int(m.group(3) or 0) < 60:
        return f"{m.group(1)}{int(m.group(2)):02d}:{m.group(3) or '00'}"
    if _BEIJING_HEADER_RE.search(named):
        return "Asia/Shanghai"
    return "UTC" if _UTC_HEADER_RE.search(named) else None


def _decimal_comma(col: pd.Series) -> pd.Series:
    """``col`` with decimal commas (116,3125, as European locales write numbers) as points;
    other values unchanged. The test for a comma is a plain loop over the values: as fast as
    pandas' ``str.contains`` here (~25 ms for 400,000), and safe for cells of any type; a
    comma-separated file without quotes skips it (see :func:`table_raw`)."""
    values = col.to_numpy(object)
    if not any(isinstance(v, str) and "," in v for v in values):  # the usual case: cheap
        return col
    fixed = [
        v.replace(",", ".") if isinstance(v, str) and _DECIMAL_COMMA_RE.fullmatch(v) else v
        for v in values
    ]
    return pd.Series(fixed, index=col.index, dtype=object)


def _unchanged(col: pd.Series) -> pd.Series:
    return col


def _csv_times(
    df: pd.DataFrame,
    time_c: Any,
    date_c: Any,
    what: str = "CSV",
    fix: Any = _decimal_comma,
    mac_1904: bool = False,
) -> list[Any]:
    """The time of each row: a time-of-day column (时间 09:00:00) is joined to the date column
    (日期) so the fixes land on their own day, not on today's."""
    if time_c is None:  # only a date column: usable when it holds date-times
        dates = df[date_c].dropna().astype(str)
        if not dates.str.contains(r":|^\s*\d{9,}(?:\.\d*)?\s*$", regex=True).all():
            raise InputError(
                f"{what} 只有日期列（{date_c}），没有时间列（time/时间）：没有一天中的时刻 "
                f"{what} has dates ({date_c}) but no time column (time/时间): no times of day"
            )
        return fix(df[date_c]).tolist()
    times = fix(df[time_c])
    if date_c is None or date_c == time_c:
        return times.tolist()
    days = _excel_days(df[date_c].astype(object), mac_1904)
    times = _excel_tods(times.astype(object))
    tod = times.str.strip().str.fullmatch(_TOD_RE).fillna(False).to_numpy(bool)
    if not tod.any():
        return times.tolist()
    joined = days.str.strip() + " " + times.str.strip()
    return times.where(~tod, joined).tolist()


def _numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of ``col`` (NaN where none) and the mask of its non-empty cells."""
    filled = col.map(lambda v: v is not None and v == v and str(v).strip() != "")
    num = pd.to_numeric(_decimal_comma(col), errors="coerce").to_numpy(float)
    return num, filled.to_numpy(bool)


def _first_is_number(col: pd.Series) -> bool:
    first = next((v for v in col if isinstance(v, str) and v.strip()), None)
    return first is not None and (_is_number(first) or bool(_DECIMAL_COMMA_RE.fullmatch(first)))


def _excel_days(col: pd.Series, mac_1904: bool = False) -> pd.Series:
    """A date column of Excel serial day numbers (46349) as ISO dates; else unchanged. The
    days count from 1904-01-01 in a ``mac_1904`` workbook, else from 1899-12-30."""
    if not _first_is_number(col):  # the usual case (2026-11-20): no pass over the column
        return col
    num, filled = _numbers(col)
    v = num[filled]
    if not filled.any() or not np.isfinite(v).all() or (v != np.round(v)).any():
        return col
    day0 = excel_day0(mac_1904)
    lo, hi = serial_range(day0)
    if not ((v >= lo) & (v < hi)).all():
        return col
    days = day0 + np.nan_to_num(num, nan=0).astype(np.int64).astype("timedelta64[D]")
    iso = pd.Series(np.datetime_as_string(days, unit="D"), index=col.index, dtype=object)
    return iso.where(filled, col)


def _excel_tods(col: pd.Series) -> pd.Series:
    """A time column of Excel day fractions (0.3541667 = 08:30:00) as HH:MM:SS; else
    unchanged (a date column next to it gives the day)."""
    if not _first_is_number(col):
        return col
    num, filled = _numbers(col)
    v = num[filled]
    if not filled.any() or not np.isfinite(v).all() or ((v < 0) | (v >= 1)).any():
        return col
    secs = np.round(np.nan_to_num(num, nan=0) * 86400).astype(np.int64) % 86400
    hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in secs]
    return pd.Series(hms, index=col.index, dtype=object).where(filled, col)


# ------------------------------------------------------------------- headerless columns
def _infer_columns(
    df: pd.DataFrame, what: str, mac_1904: bool = False
) -> tuple[Any, Any, Any, Any]:
    """Longitude, latitude, time and date columns of a table without a header, told by
    their values; refused, naming the columns, when more than one column fits a role.

    Coordinates are numbers with at least 4 decimals in most rows (altitude, speed,
    accuracy and heading rarely have as many). In China longitudes (73–136) and latitudes
    (3–54) cannot be confused; elsewhere the longitude is the one column beyond ±90. The
    time is the one column read as date-times between 1990 and 2100 (text, epoch seconds
    / ms / µs, Excel serial days), or a date column next to a time-of-day column. Told
    from :data:`SAMPLE_ROWS` rows spread over the file."""
    if len(df) > SAMPLE_ROWS:
        df = df.iloc[np.linspace(0, len(df) - 1, SAMPLE_ROWS).astype(np.int64)]
    cols = list(df.columns)
    name = {c: f"column {i + 1}" for i, c in enumerate(cols)}
    name_zh = {c: f"第 {i + 1} 列" for i, c in enumerate(cols)}
    coords = []
    for c in cols:
        num, filled = _numbers(df[c])
        if filled.sum() == 0:
            continue
        v = num[filled]
        text = df[c][filled].astype(str)
        precise = text.str.fullmatch(_PRECISE_RE).mean()
        if np.isfinite(v).mean() >= 0.9 and precise >= 0.5:
            coords.append((c, v[np.isfinite(v)]))

    def within(lo: float, hi: float) -> list[Any]:
        return [c for c, v in coords if ((v >= lo) & (v <= hi)).mean() >= 0.9]

    lons, lats = within(73, 136), within(3, 54)
    hint = f"add a header row (lon,lat,time or 经度,纬度,时间) to the {what}"
    hint_zh = f"请在 {what} 里加表头行（lon,lat,time 或 经度,纬度,时间）"
    roles = (
        (lons, "longitudes (73–136)", "经度（73–136）"),
        (lats, "latitudes (3–54)", "纬度（3–54）"),
    )
    for found, role, role_zh in roles:
        if len(found) > 1:
            cols = " and ".join(name[c] for c in found)
            cols_zh = "和".join(name_zh[c] for c in found)
            raise InputError(
                f"无表头的 {what}：{cols_zh} 都像{role_zh}，无法判断哪几列是轨迹坐标："
                f"{hint_zh}后再上传 "
                f"headerless {what}: {cols} look like "
                f"{role}, cannot tell which are the track's: {hint}"
            )
    if len(lons) == 1 and len(lats) == 1:
        lon_c, lat_c = lons[0], lats[0]
    else:
        world = [(c, v) for c, v in coords if (np.abs(v) <= 180).mean() >= 0.9]
        beyond = [c for c, v in world if (np.abs(v) > 90).mean() >= 0.5]
        if len(world) == 2 and len(beyond) == 1:
            lon_c = beyond[0]
            lat_c = next(c for c, _ in world if c != lon_c)
        elif len(world) == 2:
            a, b = (name[c] for c, _ in world)
            a_zh, b_zh = (name_zh[c] for c, _ in world)
            raise InputError(
                f"无表头的 {what}：无法区分经度和纬度（{a_zh}和{b_zh}都在 ±90 以内，且不在中国的"
                f"经纬度范围内）：{hint_zh}后再上传 "
                f"headerless {what}: cannot tell longitude from latitude ({a} and {b} are "
                f"both within ±90 and not in China's ranges): {hint}"
            )
        else:
            raise InputError(
                f"无表头的 {what}：找不到经度和纬度列（有 4 位以上小数的数字列；这样的列有 "
                f"{len(world)} 个）：{hint_zh}后再上传 "
                f"headerless {what}: no longitude and latitude columns found (numbers with "
                f"4 or more decimals; {len(world)} such columns): {hint}"
            )
    others = [c for c in cols if c not in (lon_c, lat_c)]
    zh = (name_zh, f"无表头的 {what}", hint_zh)
    time_c, date_c = _infer_time(df, others, name, f"headerless {what}", hint, mac_1904, zh)
    return lon_c, lat_c, time_c, date_c


def _infer_time(
    df: pd.DataFrame,
    cols: list[Any],
    name: dict[Any, str],
    what: str,
    hint: str,
    mac_1904: bool = False,
    zh: tuple[dict[Any, str], str, str] | None = None,
) -> tuple[Any, Any]:
    """The time column (and date column, if the times are times of day) among ``cols``;
    ``name``, ``what`` and ``hint`` name the columns, the table and what to do in refusals,
    ``zh`` the same three in Chinese."""
    name_zh, what_zh, hint_zh = zh or ({c: str(n) for c, n in name.items()}, what, hint)
    stamps, days, tods = [], [], []
    for c in cols:
        num, filled = _numbers(df[c])
        if not filled.any():
            continue
        text = df[c][filled].astype(str).str.strip()
        if text.str.fullmatch(_TOD_RE).all():
            tods.append(c)
            continue
        if text.str.fullmatch(_DAY_RE).all():
            days.append(c)
            continue
        values = _decimal_comma(df[c]).tolist()
        try:
            years = parse_times(values, "UTC", mac_1904).dt.year.to_numpy(float, na_value=np.nan)
        except InputError as exc:
            if date_order_refused(exc):  # a time column whose dates need an order
                stamps.append(c)
            continue
        y = years[filled]
        if ((y >= 1990) & (y <= 2100)).mean() >= 0.9:
            stamps.append(c)
    if len(stamps) == 1:
        return stamps[0], None
    if len(stamps) > 1:
        cols = " and ".join(name[c] for c in stamps)
        cols_zh = "和".join(name_zh[c] for c in stamps)
        raise InputError(
            f"{what_zh}：{cols_zh}都是时间，无法判断哪列是定位时间：{hint_zh}后再上传 "
            f"{what}: {cols} hold times, "
            f"cannot tell which is the fix time: {hint}"
        )
    if len(days) == 1 and len(tods) == 1:
        return tods[0], days[0]
    if tods:
        col, col_zh = name[tods[0]], name_zh[tods[0]]
        raise InputError(
            f"{what_zh}：{col_zh}只有一天中的时刻，没有日期：{hint_zh}，并加日期列（日期/date），"
            "或写完整的日期时间 "
            f"{what}: {col} holds times of day without a date: {hint} "
            "with a date column (日期/date), or write full date-times"
        )
    raise InputError(
        f"{what_zh}：找不到时间列（1990 至 2100 年间的日期时间、epoch 秒数或 Excel 序列日期）："
        f"{hint_zh}后再上传 "
        f"{what}: no column of times found (date-times, epoch seconds or Excel serial "
        f"days between 1990 and 2100): {hint}"
    )

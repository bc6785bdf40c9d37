"""Old Excel workbooks (.xls: BIFF records in an OLE2 compound file, as Excel 97-2003 and many
Chinese office systems still export them) as the rows of their first sheet, which
:mod:`geo.tracks.parse_table` then reads as it reads an XLSX's.

Read with xlrd (2.x reads only .xls). xlrd holds a sheet in memory as Python lists, so the
first sheet is loaded here through a cell counter that keeps the XLSX limits while xlrd reads
(cells with a value, columns a row) instead of after: a crafted file is refused at the limit,
not once all of it is unpacked. BIFF is not compressed, so the rest (strings, the file's
directory) is bounded by the upload limit itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from geo.errors import InputError
from geo.library_words import xls_zh
from geo.tracks import parse_table as _table
from geo.tracks.parse_raw import Raw, short

WHAT = "XLS"
_CANNOT = "old Excel workbook (.xls) could not be read"
# what an OLE2 file without a workbook is, told by a stream only such files hold
# (in Chinese, in English)
_OTHER_OLE2 = (
    ("worddocument", ("旧版 Word 文档（.doc）", "an old Word document (.doc)")),
    (
        "powerpoint document",
        ("旧版 PowerPoint 演示文稿（.ppt）", "an old PowerPoint presentation (.ppt)"),
    ),
    ("visiodocument", ("旧版 Visio 绘图（.vsd）", "an old Visio drawing (.vsd)")),
    ("__properties_version1.0", ("Outlook 邮件（.msg）", "an Outlook message (.msg)")),
    (
        "contents",
        (
            "旧版 Works、Publisher 或嵌入对象文件",
            "an old Works, Publisher or embedded-object file",
        ),
    ),
)


class _NullLog:
    """Where xlrd writes its warnings (sys.stdout by default): nowhere, and never growing."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def parse_xls(data: bytes) -> Raw:
    """The first sheet of an old Excel workbook, read like an XLSX's (header row among the
    first rows, or columns told by their values); date cells are the local date-times they
    show, counted from the workbook's own day 0 (1904-01-01 in old Mac Excel's date system).

    Every problem is an InputError: a file xlrd cannot read, an OLE2 file that is no
    workbook (an old Word document), a sheet over the XLSX limits."""
    try:
        table, mac_1904 = _xls_table(data)
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # xlrd on a broken or hostile file raises anything
        raise InputError(_xls_error(data, exc)) from None
    return _table.sheet_raw(table, WHAT, mac_1904)


def _xls_table(data: bytes) -> tuple[_table.SheetTable, bool]:
    """The rows of the first sheet (see :class:`geo.tracks.parse_table.SheetTable`), and
    whether the workbook counts days from 1904. xlrd is given the bytes
    (``file_contents``): it opens no file and maps no memory."""
    import xlrd

    book = xlrd.open_workbook(
        file_contents=data, on_demand=True, ragged_rows=True, logfile=_NullLog()
    )
    try:
        sheet = _first_sheet(book)
        mac_1904 = book.datemode == 1
        table = _table.sheet_rows(_sheet_values(sheet, mac_1904), WHAT)
    finally:
        book.release_resources()
    return table, mac_1904


def _first_sheet(book: Any) -> Any:
    """The first worksheet, read by xlrd through :class:`_CellLimit` (xlrd's own
    ``get_sheet`` with the limit put in before its records are read). A workbook of Excel 4
    or older has its sheets read as it opens: there the grid of BIFF 4 (16,384 rows) bounds
    the work, and :func:`geo.tracks.parse_table.sheet_rows` the cells kept."""
    from xlrd.biffh import XL_WORKSHEET
    from xlrd.sheet import Sheet

    if not book._sheet_names:
        raise InputError(f"{WHAT} 没有工作表，没有定位点 {WHAT} has no sheets: no points")
    if book._sheet_list and book._sheet_list[0] is not None:
        return book._sheet_list[0]
    book._position = book._sh_abs_posn[0]
    book.getbof(XL_WORKSHEET)
    sheet = Sheet(book, book._position, book._sheet_names[0], 0)
    sheet.put_cell = _CellLimit(sheet.put_cell)
    sheet.read(book)
    return sheet


class _CellLimit:
    """xlrd's ``put_cell`` that keeps only the first :data:`XLSX_MAX_COLUMNS` columns (as the
    XLSX reader does: a track needs a handful; a cell far right would make xlrd pad its row
    to it) and refuses the sheet at its :data:`XLSX_MAX_CELLS`-th cell."""

    def __init__(self, put: Callable[..., None]) -> None:
        self.put, self.cells = put, 0

    def __call__(self, rowx: int, colx: int, ctype: Any, value: Any, xf_index: int) -> None:
        if colx >= _table.XLSX_MAX_COLUMNS:
            return
        self.cells += 1
        if self.cells > _table.XLSX_MAX_CELLS:
            raise _table.too_many_cells(WHAT)
        self.put(rowx, colx, ctype, value, xf_index)


def _sheet_values(sheet: Any, mac_1904: bool) -> Iterator[tuple[Any, ...]]:
    """Each row of ``sheet`` as a tuple of values, as openpyxl gives the same cells of an
    XLSX (see :func:`_converters`)."""
    convert = _converters(mac_1904)
    for r in range(sheet.nrows):
        types, values = sheet.row_types(r), sheet.row_values(r)
        yield tuple(convert[t](v) for t, v in zip(types, values, strict=True))


def _converters(mac_1904: bool) -> dict[int, Callable[[Any], Any]]:
    """A cell's value from xlrd's by its type: None for an empty cell, text, numbers (whole
    ones as int, as openpyxl reads them from an XLSX), date-times (a time of day below one
    day), booleans, the text of an error (#N/A)."""
    from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel
    from xlrd import biffh

    epoch = MAC_EPOCH if mac_1904 else WINDOWS_EPOCH

    def number(v: float) -> int | float:
        return int(v) if v.is_integer() and abs(v) < 2**53 else v

    def date(v: float) -> Any:
        try:
            return from_excel(v, epoch)
        except (OverflowError, ValueError):  # as openpyxl: a date cell no date can hold
            return "#VALUE!"

    return {
        biffh.XL_CELL_EMPTY: lambda v: None,
        biffh.XL_CELL_BLANK: lambda v: None,
        biffh.XL_CELL_TEXT: lambda v: v or None,
        biffh.XL_CELL_NUMBER: number,
        biffh.XL_CELL_DATE: date,
        biffh.XL_CELL_BOOLEAN: bool,
        biffh.XL_CELL_ERROR: lambda v: biffh.error_text_from_code.get(v, "#ERROR!"),
    }


def _xls_error(data: bytes, exc: BaseException) -> str:
    """What went wrong: an OLE2 file of another kind is named (it has no workbook stream),
    anything else is a workbook xlrd cannot read."""
    if "find workbook" in str(exc):
        names = _ole2_streams(data)
        if "encryptedpackage" in names:
            # WHY: Excel and WPS save a workbook with a password (.xlsx too) as an OLE2 file
            # holding EncryptionInfo and EncryptedPackage streams; it read "an OLE2 compound
            # file without a workbook (streams: encryptedpackage, …)" (T39 L2)
            return (
                "Excel 工作簿有密码保护（已加密）：请用 Excel 或 WPS 打开，另存为无密码的文件 "
                "Excel workbook is password-protected (encrypted): open it in Excel or WPS "
                "and save it without a password"
            )
        kind_zh, kind = _ole2_kind(names)
        return (
            f"文件是{kind_zh}，不是电子表格：请把轨迹另存为 .xlsx、.ods 或 CSV "
            f"file is {kind}, not a spreadsheet: save the track as .xlsx, .ods or CSV"
        )
    if "encrypted" in str(exc).lower():
        return (
            "旧版 Excel 表格（.xls）有密码保护：请另存为无密码的文件 "
            "old Excel workbook (.xls) is password-protected: save it without a password"
        )
    # xlrd's own words on a damaged file are often a bare index or number ("127", "array
    # index out of range"): say what that means first, and keep them as a detail, in
    # Chinese in the Chinese (T39 L2: "xlrd：array index out of range" stood inside it)
    detail = short(exc)
    return (
        f"旧版 Excel 表格（.xls）无法读取：文件损坏或不完整（{xls_zh(detail)}） "
        f"{_CANNOT}: damaged or truncated (xlrd: {detail})"
    )


def _ole2_streams(data: bytes) -> set[str]:
    """The names of the streams (and storages) an OLE2 compound file holds, lower case."""
    from xlrd.compdoc import CompDoc

    try:
        return {d.name.lower() for d in CompDoc(data, logfile=_NullLog()).dirlist}
    except Exception:  # the directory read for the workbook a moment ago: not expected
        return set()


def _ole2_kind(names: set[str]) -> tuple[str, str]:
    """What an OLE2 compound file without a workbook stream is, by the streams it holds
    (``names``: see :func:`_ole2_streams`), in Chinese, in English."""
    kind = next((k for stream, k in _OTHER_OLE2 if stream in names), None)
    if kind is not None:
        return kind
    shown = ", ".join(sorted(n for n in names if n and n != "root entry"))[:120]
    shown = "".join(c if c.isprintable() else "?" for c in shown)  # one line, whatever it holds
    return (
        f"没有工作簿的 OLE2 复合文件（其中的数据流：{shown or '无'}）",
        f"an OLE2 compound file without a workbook (streams: {shown or 'none'})",
    )

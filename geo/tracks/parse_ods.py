"""OpenDocument spreadsheets (.ods, as LibreOffice and WPS save them) as the rows of their first
sheet, which :mod:`geo.tracks.parse_table` then reads as it reads an XLSX's.

Read here, streaming, with expat through defusedxml (no DTD, no entities), not with odfpy
(pandas' ``engine="odf"``): odfpy holds the whole document as Python objects and writes out
every repeated cell, so a few KB asking for a cell repeated 16,384 × 1,048,576 times, or a
sheet near the size limit, would take gigabytes. Here a repeated empty cell or row costs
nothing, and the XLSX limits hold (files in the zip, unpacked size, XML elements and the
longest run of content.xml without a tag before parsing, cells with a value, columns a row).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO
from xml.parsers import expat

from geo.errors import InputError
from geo.library_words import is_xml_error, xml_en, xml_zh, zip_zh
from geo.tracks import parse_table as _table
from geo.tracks.parse_raw import Raw, short

ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"
_ODF_MIME = "application/vnd.oasis.opendocument."
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_CELLS = ("table-cell", "covered-table-cell")
# the text of a cell at most this long (a track's cells are short; the rest is not kept)
_CELL_CHARS = 1024
# a time cell's value: an ISO 8601 duration, PT08H30M05S
_DURATION_RE = re.compile(r"PT(\d{1,2})H(\d{1,2})M(\d{1,2}(?:\.\d{1,9})?)S")
_CHUNK = 1 << 16
# the one member read (the sheets); the others (styles, settings, pictures) are not parsed
_CONTENT = "content.xml"
# a flat document's root element is looked for in this many bytes at its start
_PEEK = 1 << 16
# an XML declaration naming UTF-16 or UTF-32 (bounded runs: linear on any input)
_WIDE_DECL = re.compile(
    rb'\s{0,64}<\?xml[^>]{0,200}?encoding\s{0,8}=\s{0,8}["\'](?:utf|ucs)-?(?:16|32|2|4)', re.I
)
_WIDE_DECL_MAX = 512
_FLAT_ROOT = re.compile(rb"<office:document[\s>]")


def opendocument_type(zf: zipfile.ZipFile) -> str | None:
    """The media type an OpenDocument zip names in its ``mimetype`` member (ODS:
    :data:`ODS_MIME`); None for other zips."""
    try:
        info = zf.getinfo("mimetype")
    except KeyError:
        return None
    # stored, as the standard asks (deflated by some writers); never another method's decoder
    if info.file_size > 200 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    kind = zf.read(info).decode("ascii", errors="replace").strip()
    return kind if kind.startswith(_ODF_MIME) else None


def parse_ods(data: bytes, max_bytes: int) -> Raw:
    """The first sheet of an OpenDocument spreadsheet, read like an XLSX's (header row among
    the first rows, or columns told by their values). Date cells are the local date-times
    they show, time cells times of day; numbers in a time column are epochs or serial days
    counted from the document's null date (1899-12-30, or 1904-01-01).

    ``max_bytes`` is the upload limit: see :func:`geo.tracks.parse_table.check_workbook_size`."""

    def check() -> None:
        _table.check_workbook_size(data, max_bytes, "ODS", parsed=(_CONTENT,))

    return _read_sheet("ODS", check, lambda: _content_xml(data))


def parse_fods(data: bytes) -> Raw:
    """The first sheet of a flat OpenDocument spreadsheet (.fods: the document as one XML
    file, as LibreOffice saves it for version control), read as an ODS's content.xml is,
    under the same limits (:func:`geo.tracks.parse_table.check_xml_document`; its size is
    the upload limit's)."""
    return _read_sheet(
        "FODS",
        lambda: _table.check_xml_document(data, "FODS"),
        lambda: contextlib.nullcontext(io.BytesIO(data)),
        _encoding(data),
    )


def flat_opendocument_type(data: bytes) -> str | None:
    """The media type a flat OpenDocument file (one XML document whose root is
    ``office:document``: .fods, .fodt) names in its ``office:mimetype`` ("" when it names
    none, declares a DTD for a <document>, or starts it after the first :data:`_PEEK` bytes:
    the FODS reader refuses such a file, naming why); None for other XML (GPX, KML) or XML
    expat cannot read (an encoding it does not know: the GPX reader reads those)."""
    root: list[tuple[str, dict[str, str]]] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        root.append((tag, attrs))
        raise _Stop

    def no_dtd(name: str, *args: Any) -> None:
        # no OpenDocument has one; one naming a <document> root is refused as FODS, as its
        # reader refuses it; any other by the GPX/KML reader
        if name.rpartition(":")[2] == "document":
            root.append((_T_DOCUMENT, {}))
        raise _Stop

    parser = expat.ParserCreate(_encoding(data), namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = no_dtd
    try:
        for at in range(0, min(len(data), _PEEK), _CHUNK):
            parser.Parse(data[at : at + _CHUNK], False)
    except _Stop:
        pass
    except (expat.ExpatError, ValueError, LookupError):
        return None
    if not root:  # a prolog longer than the peek (a crafted comment): read as one if it is
        return "" if _FLAT_ROOT.search(data) else None
    if root[0][0] != _T_DOCUMENT:
        return None
    return root[0][1].get(_A_MIMETYPE, "")[:200]


def _encoding(data: bytes) -> str | None:
    """ "UTF-8" for XML that declares UTF-16 or UTF-32: the upload reader has made it UTF-8
    (see :func:`geo.tracks.parse._utf8_from_bom`) and expat must not believe the
    declaration; None (the declaration holds) otherwise."""
    return "UTF-8" if _WIDE_DECL.match(data[:_WIDE_DECL_MAX]) else None


class _Stop(Exception):
    """Raised from an expat handler to stop reading once the root element is seen."""


@contextlib.contextmanager
def _content_xml(data: bytes) -> Iterator[BinaryIO]:
    """The sheets of an ODS (its content.xml) as a stream, unpacked as it is read."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if _CONTENT not in zf.namelist():
            raise InputError(
                "ODS 里没有 content.xml，不是有效的 OpenDocument 电子表格 "
                "ODS has no content.xml: not an OpenDocument spreadsheet"
            )
        with zf.open(_CONTENT) as fh:
            yield fh


def _read_sheet(
    what: str,
    check: Callable[[], None],
    source: Callable[[], contextlib.AbstractContextManager[BinaryIO]],
    encoding: str | None = None,
) -> Raw:
    """The rows of the first sheet of the XML ``source`` opens (``what`` names the format,
    ``encoding``, if given, overrides the XML's own), once ``check`` has passed, as the
    table reader's points; every failure an InputError."""
    import defusedxml

    sheet = _Sheet(what, encoding)
    try:
        check()
        with source() as stream:
            table = _table.sheet_rows(sheet.rows(stream), what, numbered=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden):
        raise InputError(
            f"{what} 不予接收：其 XML 声明了 DTD 或实体（出于安全不允许） "
            f"{what} rejected: its XML declares a DTD or entities (not allowed for safety)"
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise InputError(
            f"{what} 不予接收：其 XML 引用了外部实体 "
            f"{what} rejected: its XML references external entities"
        ) from None
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # a hostile zip raises anything (zlib, lzma, expat, zipfile)
        detail = short(exc)
        # the library's words in Chinese: expat's (T37 F13), zipfile's and zlib's (T39 L2)
        detail_zh = _repeat_zh(detail) or (
            f"XML {xml_zh(detail)}" if is_xml_error(detail) else zip_zh(detail)
        )
        detail = xml_en(detail)  # expat's column from 1, as the Chinese counts it (T41 #3)
        raise InputError(
            f"{what} 文件损坏或不受支持（{detail_zh}） broken or unsupported {what} file: {detail}"
        ) from None
    return _table.sheet_raw(table, what, sheet.mac_1904)


def _parser(sheet: _Sheet) -> Any:
    """An expat parser feeding ``sheet``, refusing what defusedxml refuses: a DTD (so no
    entity can be declared: no entity bombs), entity declarations, external references."""
    import defusedxml

    def no_dtd(name: str, sysid: Any, pubid: Any, internal: Any) -> None:
        raise defusedxml.DTDForbidden(name, sysid, pubid)

    def no_entity(name: str, *args: Any) -> None:
        raise defusedxml.EntitiesForbidden(name, None, None, None, None, None)

    def no_external(context: Any, base: Any, sysid: Any, pubid: Any) -> None:
        raise defusedxml.ExternalReferenceForbidden(context, base, sysid, pubid)

    parser = expat.ParserCreate(sheet.encoding, namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_entity
    parser.UnparsedEntityDeclHandler = no_entity
    parser.ExternalEntityRefHandler = no_external
    parser.buffer_text = True
    parser.StartElementHandler = sheet.start
    parser.EndElementHandler = sheet.end
    parser.CharacterDataHandler = sheet.characters
    return parser


# element and attribute names as expat gives them with namespace_separator=" "
_T_DOCUMENT = f"{_OFFICE} document"
_A_MIMETYPE = f"{_OFFICE} mimetype"
_T_TABLE = f"{_TABLE} table"
_T_ROW = f"{_TABLE} table-row"
_T_CELLS = (f"{_TABLE} table-cell", f"{_TABLE} covered-table-cell")
_T_NULL_DATE = f"{_TABLE} null-date"
_A_DATE = f"{_TABLE} date-value"
_A_ROWS = f"{_TABLE} number-rows-repeated"
_A_COLS = f"{_TABLE} number-columns-repeated"
_A_TYPE = f"{_OFFICE} value-type"
_T_NOTE = f"{_OFFICE} annotation"
_T_PARAS = (f"{_TEXT} p", f"{_TEXT} h")
_T_SPACE, _A_SPACES = f"{_TEXT} s", f"{_TEXT} c"
_T_TAB, _T_BREAK = f"{_TEXT} tab", f"{_TEXT} line-break"


class _Sheet:
    """Expat handlers collecting the rows of the first ``table:table`` of ``content.xml``
    (or of a flat document); ``what`` names the format in refusals."""

    def __init__(self, what: str = "ODS", encoding: str | None = None) -> None:
        self.what, self.encoding = what, encoding
        self.mac_1904 = False
        self.tables = 0  # sheets (top-level table:table) opened; only the first is read
        self.depth = 0  # of table:table elements (a table inside a cell is not a row)
        self.done = False
        # rows read, with their repeat and the sheet's number (from 1) of the first
        self.out: list[tuple[tuple[Any, ...], int, int]] = []
        self.row: list[Any] | None = None
        self.repeat = 1  # of the row being read
        self.number = 1  # the sheet's number of the row being read (empty rows counted)
        self.pending = 0  # empty cells not yet written: only a later value writes them
        self.cell: dict[str, str] | None = None
        self.text: list[str] = []
        self.chars = 0
        self.paragraphs = 0
        self.in_p = 0  # inside a paragraph of the cell: its text is the cell's
        self.skip = 0  # inside an annotation (a comment): its text is not the cell's

    def rows(self, stream: BinaryIO) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """The non-empty rows (tuples of cell values) of the first sheet of the XML read
        from ``stream`` a block at a time, each row as often as repeated, with its number in
        the sheet (from 1, as LibreOffice and WPS show it: the empty rows counted)."""
        parser = _parser(self)
        while not self.done and (block := stream.read(_CHUNK)):
            parser.Parse(block, False)
            yield from self._drain()
        if not self.done:
            parser.Parse(b"", True)  # a truncated document says so here
            yield from self._drain()
        if not self.tables:
            raise InputError(
                f"{self.what} 没有工作表，没有定位点 {self.what} has no sheets: no points"
            )

    def _drain(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        out, self.out = self.out, []
        for row, repeat, number in out:
            for k in range(repeat):
                yield number + k, row

    # --------------------------------------------------------------------------- events
    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == _T_TABLE:
            self.tables += self.depth == 0
            self.depth += 1
        elif tag == _T_NULL_DATE:
            self.mac_1904 = attrs.get(_A_DATE, "")[:10] == "1904-01-01"
        elif self.tables != 1 or self.depth != 1 or self.done:
            return  # another sheet, or a table inside a cell
        elif tag in _T_CELLS:
            if self.row is not None:
                self.cell = attrs
                self.text, self.chars, self.paragraphs, self.in_p = [], 0, 0, 0
        elif tag == _T_ROW:
            self.row, self.pending = [], 0
            self.repeat = _count(attrs.get(_A_ROWS))
        elif self.cell is None:
            return
        elif tag == _T_NOTE:
            self.skip += 1
        elif self.skip:
            return
        elif tag in _T_PARAS:
            self.in_p += 1
            self.paragraphs += 1
            if self.paragraphs > 1:
                self._add("\n")
        elif tag == _T_SPACE:
            self._add(" " * min(_count(attrs.get(_A_SPACES)), _CELL_CHARS))
        elif tag == _T_TAB:
            self._add("\t")
        elif tag == _T_BREAK:
            self._add("\n")

    def end(self, tag: str) -> None:
        if tag == _T_TABLE:
            self.depth -= 1
            self.done = self.done or (self.depth == 0 and self.tables == 1)
        elif self.tables != 1 or self.depth != 1 or self.done:
            return
        elif tag in _T_CELLS:
            if self.cell is not None:
                self._end_cell(self.cell)
                self.cell = None
        elif tag == _T_ROW:
            if self.row is not None:
                self._end_row(self.row)
                self.row = None
        elif self.cell is None:
            return
        elif tag == _T_NOTE:
            self.skip -= 1
        elif tag in _T_PARAS and not self.skip:
            self.in_p -= 1

    def characters(self, content: str) -> None:
        if self.cell is not None and self.in_p > 0 and not self.skip:
            self._add(content)

    def _add(self, text: str) -> None:
        if self.chars < _CELL_CHARS:
            self.text.append(text)
            self.chars += len(text)

    def _end_cell(self, cell: dict[str, str]) -> None:
        """Write the cell (repeated as asked) into the row, at most the XLSX's columns."""
        row, width = self.row, _table.XLSX_MAX_COLUMNS
        assert row is not None
        repeat = _count(cell.get(_A_COLS))
        value = _value(cell, "".join(self.text)[:_CELL_CHARS])
        if value is None:
            self.pending = min(self.pending + repeat, width - len(row))
            return
        row.extend([None] * self.pending)
        self.pending = 0
        row.extend([value] * max(0, min(repeat, width - len(row))))

    def _end_row(self, row: list[Any]) -> None:
        """Keep a row with a value (as often as repeated); an empty one, however repeated
        (the rest of the sheet, as LibreOffice writes it), is nothing."""
        number, self.number = self.number, self.number + self.repeat
        if not row:
            return
        filled = len(row) - row.count(None)
        if filled * self.repeat > _table.XLSX_MAX_CELLS:  # before a crafted repeat is unrolled
            raise _table.too_many_cells(self.what)
        self.out.append((tuple(row), self.repeat, number))


def _count(text: str | None) -> int:
    """A repeat count (number-columns-repeated, number-rows-repeated, text:s c): 1 if absent."""
    if text is None:
        return 1
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise ValueError(f"repeat count {text[:20]!r} is not a positive number")
    return int(text)


_REPEAT_RE = re.compile(r"repeat count (?P<count>'.*'|\".*\") is not a positive number")


def _repeat_zh(detail: str) -> str | None:
    """The Chinese of :func:`_count`'s refusal, its value kept; None for other words."""
    hit = _REPEAT_RE.fullmatch(detail)
    return f"重复次数 {hit['count']} 不是正整数" if hit is not None else None


def _value(cell: dict[str, str], text: str) -> Any:
    """A cell's value as the table reader takes an XLSX cell's: numbers as written, dates as
    date-times (a date alone as a date), times as times of day, anything else its text."""
    kind = cell.get(_A_TYPE)
    if kind in ("float", "percentage", "currency") and cell.get(_A_VALUE):
        return cell[_A_VALUE]
    if kind == "date" and cell.get(_A_DATE_VALUE):
        iso = cell[_A_DATE_VALUE]
        try:
            stamp = dt.datetime.fromisoformat(iso)
        except ValueError:
            return iso
        return stamp.date() if "T" not in iso else stamp
    if kind == "time" and cell.get(_A_TIME_VALUE):
        m = _DURATION_RE.fullmatch(cell[_A_TIME_VALUE])
        if m is not None and int(m.group(1)) < 24:
            secs = float(m.group(3))
            micro = round((secs - int(secs)) * 1e6)
            return dt.time(int(m.group(1)), int(m.group(2)), int(secs), min(micro, 999_999))
        return text or cell[_A_TIME_VALUE]
    if kind == "string" and _A_STRING in cell:
        return cell[_A_STRING][:_CELL_CHARS] or None
    return text.strip() or None


_A_VALUE = f"{_OFFICE} value"
_A_DATE_VALUE = f"{_OFFICE} date-value"
_A_TIME_VALUE = f"{_OFFICE} time-value"
_A_STRING = f"{_OFFICE} string-value"

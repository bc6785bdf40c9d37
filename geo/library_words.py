"""The Chinese of the libraries' own words that messages quote: expat's XML errors, JSON's,
psycopg's (libpq's) connection failures, pandas' / dateutil's date-time parse errors, and
the words of zipfile (with zlib, bz2, lzma) and xlrd on a broken office file.

WHY: a message quoted the library's English inside its Chinese part ("文件不完整或不是有效的
XML（no element found: line 404, column 0）", "无法连接数据库（…Connection refused）"), so a
clerk reading the Chinese met English at the one place that says what went wrong (outside
tester T37, F13). Each function gives the Chinese of a library's text, the places (line,
column, host, port, value) kept; a text not in the tables gives the generic cause in Chinese
(never the English: that stays in the message's English part, word for word).

No imports of the libraries themselves: only their words.
"""

from __future__ import annotations

import re

# ------------------------------------------------------------------------------------ XML
# expat's error texts (XML_ErrorString), as ElementTree's ParseError and ExpatError give them
_XML_WORDS = {
    "out of memory": "内存不足",
    "no element found": "文件意外结束（可能被截断）",
    "syntax error": "语法错误",
    "not well-formed (invalid token)": "格式错误（无效的字符或记号）",
    "unclosed token": "标记未结束（文件可能被截断）",
    "partial character": "字符不完整（文件可能被截断或编码有误）",
    "mismatched tag": "标签不匹配（结束标签与开始标签不对应）",
    "duplicate attribute": "属性重复",
    "junk after document element": "根元素结束后还有多余内容",
    "illegal parameter entity reference": "非法的参数实体引用",
    "undefined entity": "引用了未定义的实体",
    "recursive entity reference": "实体递归引用",
    "asynchronous entity": "实体不同步",
    "reference to invalid character number": "引用了无效的字符编号",
    "reference to binary entity": "引用了二进制实体",
    "reference to external entity in attribute": "属性中引用了外部实体",
    "XML or text declaration not at start of entity": "XML 声明不在文件开头",
    "unknown encoding": "未知的编码",
    "encoding specified in XML declaration is incorrect": "XML 声明中的编码不正确",
    "unclosed CDATA section": "CDATA 段未结束（文件可能被截断）",
    "error in processing external entity reference": "处理外部实体引用出错",
    "document is not standalone": "文档不是独立文档",
    "entity declared in parameter entity": "在参数实体中声明了实体",
    "unbound prefix": "使用了未声明的命名空间前缀",
    "must not undeclare prefix": "不得取消声明命名空间前缀",
    "incomplete markup in parameter entity": "参数实体中的标记不完整",
    "XML declaration not well-formed": "XML 声明格式错误",
    "text declaration not well-formed": "文本声明格式错误",
    "illegal character(s) in public id": "公共标识符中有非法字符",
    "parsing aborted": "解析被中止",
    "reserved prefix (xml) must not be undeclared or bound to another namespace name": (
        "保留前缀 xml 不得取消声明或绑定到其他命名空间"
    ),
    "reserved prefix (xmlns) must not be declared or undeclared": (
        "保留前缀 xmlns 不得声明或取消声明"
    ),
    "prefix must not be bound to one of the reserved namespace names": (
        "前缀不得绑定到保留的命名空间"
    ),
    "limit on input amplification factor (from DTD and entities) breached": (
        "实体展开超出限制（DTD 或实体过度放大）"
    ),
}
_XML_AT = re.compile(r"(?P<what>.*?): line (?P<line>\d+), column (?P<column>\d+)")


def xml_zh(text: str) -> str:
    """The Chinese of an expat error: "no element found: line 404, column 0" → "第 404 行第 1
    列处文件意外结束（可能被截断）"; words not in the table: the place and 格式有误.

    WHY the column + 1: expat counts a line's columns (characters) from 0 and its lines from
    1; the Chinese says both as an editor shows them, from 1 (T39 L14: "第 404 行第 0 列").
    The English part says the same place: see :func:`xml_en`."""
    text = str(text).strip()
    at = _XML_AT.fullmatch(text)
    what = at["what"] if at else text
    said = _XML_WORDS.get(what.strip(), "格式有误")
    return f"第 {at['line']} 行第 {int(at['column']) + 1} 列处{said}" if at else said


def xml_en(text: str) -> str:
    """expat's error text for a message's English part: its own words, the column counted
    from 1 as :func:`xml_zh` counts it ("mismatched tag: line 6, column 2" → "mismatched
    tag: line 6, column 3"); any other text as it is.

    WHY: the Chinese said 第 6 行第 3 列 and the English, quoting expat, "line 6, column 2":
    the two halves of one message named two places (T41 #3)."""
    text = str(text).strip()
    at = _XML_AT.fullmatch(text)
    if at is None:
        return text
    return f"{at['what']}: line {at['line']}, column {int(at['column']) + 1}"


def is_xml_error(text: str) -> bool:
    """True when ``text`` is one of expat's error texts (with or without its place)."""
    at = _XML_AT.fullmatch(str(text).strip())
    return (at["what"] if at else str(text).strip()) in _XML_WORDS


# ----------------------------------------------------------------------------------- JSON
# the json module's error texts (JSONDecodeError.msg)
_JSON_WORDS = (
    ("Expecting value", "缺少值"),
    ("Expecting property name enclosed in double quotes", "应为双引号括起的属性名"),
    ("Expecting ',' delimiter", "缺少逗号 ','"),
    ("Expecting ':' delimiter", "缺少冒号 ':'"),
    ("Unterminated string starting at", "开始的字符串没有结束（文件可能被截断）"),
    ("Invalid control character at", "字符串中有非法的控制字符"),
    ("Invalid \\uXXXX escape", "有无效的 \\uXXXX 转义"),
    ("Invalid \\escape", "有无效的转义符 \\"),
    ("Extra data", "有多余的内容（JSON 已在此前结束）"),
)


def json_zh(msg: str, line: int, column: int) -> str:
    """The Chinese of a JSONDecodeError (its ``msg``, ``lineno``, ``colno``): "第 3 行第 7 列
    处缺少逗号 ','"; words not in the table: the place and 格式有误. The json module counts
    both from 1, as an editor does (its ``pos``, the "char N" of its English, from 0)."""
    said = next((zh for en, zh in _JSON_WORDS if msg.startswith(en)), "格式有误")
    return f"第 {line} 行第 {column} 列处{said}"


# ------------------------------------------------------------------------------------ CSV
# pandas' C tokenizer's and the csv module's words on a table they cannot split
_CSV_WORDS = (
    (
        r"EOF inside string starting at row (?P<row>\d+)",
        "第 {row} 行（从 0 起数）起的引号没有闭合，文件可能被截断",
    ),
    (
        r"Expected (?P<want>\d+) fields in line (?P<line>\d+), saw (?P<saw>\d+)",
        "第 {line} 行有 {saw} 个字段，应为 {want} 个",
    ),
    (r"field larger than field limit \((?P<limit>\d+)\)", "有字段超过长度上限（{limit}）"),
    (r"line contains NUL", "有行含 NUL 字符"),
    (r"new-line character seen in unquoted field", "未加引号的字段中有换行符"),
    (r"unexpected end of data", "数据意外结束"),
    (r"(?P<what>'.*') expected after '\"'", "引号后应为 {what}"),
)


def csv_zh(text: str, lines_before: int | None = None) -> str:
    """The Chinese of pandas' or the csv module's refusal of a table: "Error tokenizing
    data. C error: Expected 3 fields in line 5, saw 4" → "第 5 行有 4 个字段，应为 3 个";
    words not in the table: 无法拆分为列.

    ``lines_before``: the lines of the file above the text pandas read (a header and title
    rows it was not shown). Given, the line pandas names is said as the file's own line,
    counted from 1 with those lines (T39 L14: pandas' "row 2" of the rows below a header
    read "第 2 行（从 0 起数）" for the file's 4th line)."""
    for pattern, zh in _CSV_WORDS:
        hit = re.search(pattern, str(text))
        if hit is not None:
            found = hit.groupdict()
            if lines_before is not None and "row" in found:  # pandas: from 0
                found["row"] = str(lines_before + int(found["row"]) + 1)
                zh = zh.replace("（从 0 起数）", "")
            elif lines_before is not None and "line" in found:  # pandas: from 1
                found["line"] = str(lines_before + int(found["line"]))
            return zh.format(**found)
    return "无法拆分为列"


def csv_line(text: str, lines_before: int) -> int | None:
    """The file's line (from 1) of the line or row pandas names in ``text`` (see
    :func:`csv_zh`), for the English part; None when it names none."""
    hit = re.search(r"starting at row (\d+)|fields in line (\d+)", str(text))
    if hit is None:
        return None
    return lines_before + (int(hit[1]) + 1 if hit[1] is not None else int(hit[2]))


# ---------------------------------------------------------------------------- office files
# zipfile's words (and zlib's, bz2's, lzma's under it) on a broken zip: an .xlsx, an .ods, a
# .kmz. A file name the words quote is kept (cut: a damaged directory makes it long)
_ZIP_WORDS = (
    (
        r"File is not a zip file",
        "不是 zip 压缩文件：文件被截断或损坏，或是改了扩展名的其他文件",
    ),
    (r"Bad magic number for file header", "压缩包内的文件头损坏"),
    (r"Bad magic number for central directory", "压缩包的目录损坏"),
    (r"Bad offset for central directory", "压缩包的目录位置有误，文件被截断或损坏"),
    (r"Truncated central directory", "压缩包的目录不完整，文件被截断"),
    (r"Truncated file header", "压缩包内的文件头不完整，文件被截断"),
    (
        r"Bad CRC-32 for file (?P<name>'.*'|\".*\")$",
        "压缩包内文件 {name} 的 CRC-32 校验失败，文件已损坏",
    ),
    (
        r"File name in directory (?P<name>'[^']*'?|\"[^\"]*\"?)",
        "压缩包内文件 {name} 在目录与文件头中的名称不一致，文件已损坏",
    ),
    (
        r"Corrupt extra field (?P<kind>[0-9a-fA-F]+) \(size=(?P<size>\d+)\)",
        "压缩包内文件的扩展字段损坏（类型 {kind}，长度 {size}）",
    ),
    (r"Corrupt zip64 extra field", "压缩包内文件的 ZIP64 扩展字段损坏"),
    (
        r"File .*?filename=(?P<name>'[^']*'|\"[^\"]*\").* is encrypted, password required",
        "压缩包内文件 {name} 已加密，须有密码才能解压：请另存为无密码的文件",
    ),
    (
        r"File (?P<name>'.*'|\".*\") is encrypted, password required",
        "压缩包内文件 {name} 已加密，须有密码才能解压：请另存为无密码的文件",
    ),
    (
        r"strong encryption \(flag bit 6\)",
        "压缩包使用了强加密，须有密码才能解压：请另存为无密码的文件",
    ),
    (r"compressed patched data \(flag bit 5\)", "压缩包使用了不支持的“补丁”压缩数据"),
    (r"That compression method is not supported", "压缩包使用了不支持的压缩方法"),
    (r"compression type (?P<n>\d+)", "压缩包使用了不支持的压缩方法（编号 {n}）"),
    (r"zip file version (?P<v>[\d.]+)", "压缩包需要 zip 版本 {v}，不受支持"),
    (r"zipfiles that span multiple disks are not supported", "不支持分卷压缩包"),
    (
        r"There is no item named (?P<name>'.*'|\".*\") in the archive",
        "压缩包里没有 {name}，不是完整的工作簿",
    ),
    (r"Error -?\d+ while decompressing data", "解压失败：压缩数据损坏"),  # zlib
    (r"Invalid data stream", "解压失败：压缩数据损坏"),  # bz2
    (r"Corrupt input data|Input format not supported by decoder", "解压失败：压缩数据损坏"),  # lzma
    (r"Compressed file ended before the end-of-stream marker", "压缩数据意外结束，文件被截断"),
    (r"^EOFError$", "压缩数据意外结束，文件被截断"),
    (r"negative seek value (?P<n>-?\d+)", "压缩包中的位置 {n} 无效，文件已损坏"),
)
# xlrd's words (and Python's, from where xlrd reads past a record's end) on a broken .xls:
# an OLE2 compound file whose sector tables or BIFF records are damaged
_XLS_WORDS = (
    (r"Workspace file -- no spreadsheet data", "是 Excel 工作区文件，不含表格数据"),
    (
        r"Unsupported format, or corrupt file",
        "工作簿数据流的开头（BOF 记录）损坏，或不是受支持的 Excel 格式",
    ),
    (r"Not an OLE2 compound document", "不是 OLE2 复合文件"),
    (r"Expected \"little-endian\" marker", "OLE2 文件头损坏，没有字节序标记"),
    (
        r"accessing sector (?P<sid>\d+) but only (?P<n>\d+) in file",
        "OLE2 扇区表指向第 {sid} 个扇区，文件却只有 {n} 个，文件被截断或损坏",
    ),
    (r"invalid sector id: (?P<sid>-?\d+)", "OLE2 扇区表中有无效的扇区号 {sid}"),
    (r"corruption: seen\[(?P<sid>\d+)\]", "OLE2 扇区链损坏（扇区 {sid} 被重复使用）"),
    (
        r"sector allocation table invalid entry \((?P<sid>-?\d+)\)",
        "OLE2 扇区分配表中有无效的项（{sid}）",
    ),
    (
        r"(?P<name>'[^']*') stream length \((?P<size>\d+) bytes\) > file data size "
        r"\((?P<have>\d+) bytes\)",
        "数据流 {name} 长 {size} 字节，超过文件的 {have} 字节，文件被截断",
    ),
    (r"size exceeds expected (?P<n>\d+) bytes", "数据流超过应有的 {n} 字节，文件已损坏"),
    (r"start_sid \((?P<sid>-?\d+)\) is -ve", "数据流的起始扇区号为负（{sid}）"),
    (
        r"Requested stream is not a 'user stream'|Requested component is a 'storage'",
        "工作簿数据流的目录项损坏",
    ),
    (r"Can't determine file's BIFF version", "无法确定 BIFF 版本"),
    (r"BIFF version (?P<v>.+) is not supported", "不支持的 BIFF 版本（{v}）"),
    (r"Sheet \d+ \((?P<name>.*)\) missing EOF record", "工作表 {name} 没有结束记录，文件被截断"),
    (
        r"STRING/CONTINUE: expected (?P<want>\d+) chars, found (?P<got>\d+)",
        "文本记录应有 {want} 个字符，实际有 {got} 个，文件已损坏",
    ),
    (
        r"Expected [A-Z][\w*, ]* record|Missing CONTINUE",
        "记录的顺序有误，文件已损坏",
    ),
    (r"PALETTE record: expected size", "调色板记录的长度有误，文件已损坏"),
    (r"Bug or corrupt file", "文件损坏"),
    (
        r"unpack requires a buffer of (?P<n>\d+) bytes",
        "记录的数据不足 {n} 字节，文件被截断或损坏",
    ),
    (r"index out of range", "读取越过了数据的末尾，文件被截断或损坏"),
    (r"codec can't decode", "文本数据损坏，无法按其编码读出"),
    (r"^(?:IndexError|AssertionError|KeyError|-?\d+)$", "内部结构不一致，文件已损坏"),
)
_NAME_MAX = 80  # of a file name quoted from a zip's words


def _said(table: tuple[tuple[str, str], ...], text: str) -> str | None:
    """The Chinese of the first entry of ``table`` matching ``text``, the values it quotes
    kept (a quoted name cut at :data:`_NAME_MAX`); None when none matches."""
    for pattern, zh in table:
        hit = re.search(pattern, text)
        if hit is not None:
            found = {k: v or "" for k, v in hit.groupdict().items()}
            if "name" in found and len(found["name"]) > _NAME_MAX:
                found["name"] = found["name"][:_NAME_MAX] + "…"
            return zh.format(**found)
    return None


def zip_zh(text: str) -> str:
    """The Chinese of zipfile's refusal of a zip (an .xlsx, .ods or .kmz): "File is not a zip
    file" → "不是 zip 压缩文件：…", "Bad CRC-32 for file 'content.xml'" → "压缩包内文件
    'content.xml' 的 CRC-32 校验失败，文件已损坏"; words not in the table: 压缩包损坏."""
    return _said(_ZIP_WORDS, str(text).strip()) or "压缩包损坏"


def office_zh(text: str) -> str:
    """The Chinese of a workbook reader's error (an .xlsx's or .ods's: openpyxl, zipfile,
    zlib, expat): zipfile's words (:func:`zip_zh`), expat's with their place (工作簿中的
    XML 第 1 行第 1203 列处标记未结束), else 无法解压或解析 (T39 L2: "File is not a zip
    file" stood inside the Chinese)."""
    text = str(text).strip()
    if is_xml_error(text):
        return f"工作簿中的 XML {xml_zh(text)}"
    return _said(_ZIP_WORDS, text) or "无法解压或解析"


def xls_zh(text: str) -> str:
    """The Chinese of xlrd's refusal of an old Excel workbook (.xls), its values kept:
    "MSAT extension: accessing sector 16777214 but only 10 in file" → "OLE2 扇区表指向第
    16777214 个扇区，文件却只有 10 个，…"; Python's words from xlrd reading a cut record
    ("array index out of range", "unpack requires a buffer of 8 bytes") say the file is cut
    or damaged; words not in the table: 无法解析文件结构 (T39 L2)."""
    return _said(_XLS_WORDS, str(text).strip()) or "无法解析文件结构"


# ----------------------------------------------------------------------------- connection
# where a connection failed: psycopg's / libpq's lead before the cause
_SERVER_AT = re.compile(
    r'connection to server at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)'
)
_SOCKET_AT = re.compile(r'connection to server on socket "(?P<socket>[^"]*)"')
# why, by the words of libpq, psycopg and the operating system (the server's FATAL: lines
# in English, as a server in the C locale writes them); the first that matches is said
_CONNECT_WORDS = (
    (r"password authentication failed for user \"(?P<user>[^\"]*)\"", "用户 {user} 密码验证失败"),
    (r"password authentication failed", "密码验证失败"),
    (r"fe_sendauth: no password supplied", "未提供密码"),
    (r"database \"(?P<db>[^\"]*)\" does not exist", "数据库 {db} 不存在"),
    (r"role \"(?P<role>[^\"]*)\" does not exist", "数据库用户（角色）{role} 不存在"),
    (r"could not translate host name \"(?P<host>[^\"]*)\"", "无法解析主机名 {host}"),
    (r"failed to resolve host '(?P<host>[^']*)'", "无法解析主机名 {host}"),
    (r"Name or service not known|nodename nor servname", "无法解析主机名"),
    (r"[Cc]onnection refused", "连接被拒绝"),
    (r"timeout expired|timed out", "连接超时"),
    (r"No such file or directory", "套接字文件不存在（本机数据库服务器未运行？）"),
    (r"server closed the connection unexpectedly", "服务器意外关闭了连接"),
    (r"the database system is starting up", "数据库正在启动"),
    (r"the database system is shutting down", "数据库正在关闭"),
    (r"the database system is in recovery mode", "数据库正在恢复"),
    (r"too many clients already|remaining connection slots are reserved", "数据库的连接数已满"),
    (
        r"no pg_hba\.conf entry for host \"(?P<client>[^\"]*)\"",
        "服务器不接受来自 {client} 的连接（pg_hba.conf）",
    ),
    (r"Network is unreachable", "网络不可达"),
    (r"No route to host", "没有到该主机的路由"),
    (r"terminating connection due to administrator command", "管理员终止了连接"),
    (r"invalid response to SSL negotiation", "SSL 协商失败（该端口上可能不是 PostgreSQL）"),
    (r"server does not support SSL, but SSL was required", "服务器不支持 SSL，但要求使用 SSL"),
    (r"connection is (?:bad|closed|lost)|consuming input failed", "连接已断开"),
    (r"No space left on device", "磁盘上没有剩余空间"),
)


def connection_zh(line: str) -> str:
    """The Chinese of a failed connection's first line (psycopg/libpq): 'connection failed:
    connection to server at "127.0.0.1", port 1 failed: Connection refused' → "连接服务器
    127.0.0.1 端口 1 失败：连接被拒绝"; a cause not in the table: where it failed and 失败,
    or 连接数据库失败."""
    server, sock = _SERVER_AT.search(line), _SOCKET_AT.search(line)
    where = None
    if server is not None:
        where = f"连接服务器 {server['host']} 端口 {server['port']} 失败"
    elif sock is not None:
        where = f"连接套接字 {sock['socket']} 失败"
    for pattern, zh in _CONNECT_WORDS:
        hit = re.search(pattern, line)
        if hit is not None:
            why = zh.format(**hit.groupdict())
            return f"{where}：{why}" if where else why
    return where or "连接数据库失败"


# what a failed connection's cause is, by libpq's and the resolver's words: the one a reader
# can fix in the URL (its user and password, its database, its host) or the server's
# pg_hba.conf, the first that matches (see connection_cause)
_CONNECT_CAUSES = (
    (
        r"password authentication failed|fe_sendauth: no password supplied"
        r"|role \"[^\"]*\" does not exist",
        "login",
    ),
    (r"database \"[^\"]*\" does not exist", "database"),
    (
        r"could not translate host name|failed to resolve host|Name or service not known"
        r"|nodename nor servname|Temporary failure in name resolution",
        "host",
    ),
    (r"no pg_hba\.conf entry", "pg_hba"),
)


def connection_cause(line: str) -> str | None:
    """Why a connection failed, by what a reader can do about it: "login" (a wrong password
    or user, no password), "database" (no such database), "host" (a host name that does not
    resolve), "pg_hba" (the server's pg_hba.conf refuses this client); None for the rest (a
    server that is down or unreachable, refusing or timing out, busy, starting): those say
    whether the server runs. WHY: `gridward db status` told a wrong password "is the server
    running?" (T39 M6); the remedy follows the cause."""
    return next((cause for pattern, cause in _CONNECT_CAUSES if re.search(pattern, line)), None)


# a database error that is not a connection's: the usual ones (SQLSTATE class 40, a full disk)
_DB_WORDS = (
    (r"deadlock detected", "检测到死锁"),
    (r"could not serialize access", "并发修改冲突，无法串行化"),
    (r"No space left on device", "磁盘上没有剩余空间"),
    (r"canceling statement due to statement timeout", "语句执行超时，已取消"),
    (r"canceling statement due to lock timeout", "等待锁超时，已取消"),
)


def database_zh(line: str, kind: str) -> str:
    """The Chinese of a database error's first line; ``kind`` as :class:`geo.errors.DbFailure`
    gives it (``unavailable``: a connection's, see :func:`connection_zh`). Words not in the
    tables: "" for an error of another kind (the caller's 数据库错误 is all the Chinese
    says), 并发修改冲突 for a conflict."""
    hit = next((zh for p, zh in _DB_WORDS if re.search(p, line)), None)
    if hit is not None:
        return hit
    if kind == "unavailable":
        return connection_zh(line)
    return "并发修改冲突" if kind == "conflict" else ""


# ------------------------------------------------------------------------------ date-time
# pandas' and dateutil's words on a time they cannot read (the value they quote is kept)
_TIME_WORDS = (
    (
        r"Unknown (?:datetime )?string format(?:, unable to parse)?: (?P<v>.*)",
        "{v} 的日期时间格式无法识别",
    ),
    (r"month must be in 1\.\.12: (?P<v>.*)", "月份须在 1 到 12 之间：{v}"),
    (r"month must be in 1\.\.12", "月份须在 1 到 12 之间"),
    (r"day is out of range for month: (?P<v>.*)", "日超出该月的天数：{v}"),
    (r"day is out of range for month", "日超出该月的天数"),
    (r"hour must be in 0\.\.23: (?P<v>.*)", "小时须在 0 到 23 之间：{v}"),
    (r"minute must be in 0\.\.59: (?P<v>.*)", "分钟须在 0 到 59 之间：{v}"),
    (r"second must be in 0\.\.59: (?P<v>.*)", "秒须在 0 到 59 之间：{v}"),
    (r"(?:hour|minute|second) must be in 0\.\.\d+", "时、分或秒超出范围"),
    (r"year (?P<y>-?\d+) is out of range: (?P<v>.*)", "年份 {y} 超出范围：{v}"),
    (r"year (?P<y>-?\d+) is out of range", "年份 {y} 超出范围"),
    (r"Time data (?P<v>.*?) is not ISO8601 format", "时间 {v} 不是 ISO 8601 格式"),
    (r"time data (?P<v>.*?) does(?: not|n't) match format (?P<f>.*)", "时间 {v} 与格式 {f} 不符"),
    (r"Out of bounds nanosecond timestamp: (?P<v>.*)", "时间 {v} 超出可表示的范围（1677–2262 年）"),
    (r"String does not contain a date: (?P<v>.*)", "文本中没有日期：{v}"),
    (r"Given date string (?P<v>.*) not likely a datetime", "文本 {v} 不像日期时间"),
    (r"offset must be a timedelta strictly between", "时区偏移须在 ±24 小时之内"),
)
_AT_POSITION = re.compile(r",? at position (?P<n>\d+)\s*$")


def time_zh(text: str) -> str:
    """The Chinese of pandas' or dateutil's refusal of a time: "Unknown datetime string format,
    unable to parse: abc" → "无法识别的日期时间格式：abc"; words not in the table: 格式无法识别."""
    text = str(text).strip()
    at = _AT_POSITION.search(text)
    if at is not None:
        text = text[: at.start()]
    for pattern, zh in _TIME_WORDS:
        hit = re.match(pattern, text)
        if hit is not None:
            said = zh.format(**{k: v or "" for k, v in hit.groupdict().items()})
            break
    else:
        said = "格式无法识别"
    return f"{said}（位置 {at['n']}）" if at is not None else said

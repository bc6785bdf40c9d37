"""User-facing errors.

Every bad input must end as one readable line (CLI) or a 4xx JSON body (API). Code raises
these with a message that names the problem; the CLI and the API translate them, so no
layer has to guess whether a message is safe and meaningful to show.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import Any


class GridwardError(Exception):
    """Base class: an error whose message is written for the user. ``code``: what a program
    reads instead of the words (the API body's ``code``; default: by status,
    :func:`error_code`), for refusals a client must tell apart under one status (a copy of
    another walk and a withdrawn walk are both 409)."""

    status_code: int = 400
    exit_code: int = 2
    code: str | None = None  # a subclass's own; else the status's word

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InputError(GridwardError):
    """The input (file, parameter, geometry) is wrong; nothing was stored."""

    status_code = 422


class TooLargeError(InputError):
    """A file or body over its size limit (413, 文件过大, in the API and the CLI alike)."""

    status_code = 413


class NotFoundError(GridwardError):
    """A referenced object does not exist."""

    status_code = 404


class ForbiddenError(GridwardError):
    """The caller may not do this here (a planner, outside their areas); nothing was stored.
    For refusals that must name where, which an API route's generic 403 cannot."""

    status_code = 403


class ConflictError(GridwardError):
    """The request conflicts with the current state (stale plan, duplicate id, version)."""

    status_code = 409


class SetupError(GridwardError):
    """The machine lacks something gridward needs (binaries, permissions, a setting).

    A message in English only opens with 运行环境有误 (the set-up is wrong), not the 503 tag
    服务暂不可用 ("temporarily unavailable, try again"): an admin told to retry a missing
    package or a production secret waits for nothing (outside tester Z, M7)."""

    status_code = 503
    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(message if reads_chinese_first(message) else f"运行环境有误 {message}")


@dataclass(frozen=True)
class DbFailure:
    """What a database error means to the person who met it. ``kind``: ``conflict`` (SQLSTATE
    class 40, a deadlock or serialization failure: nothing was written, send it again),
    ``unavailable`` (the connection: down or lost) or ``other``; ``name`` the driver's class,
    ``line`` the first line of its message."""

    kind: str
    name: str
    line: str


def db_failure(exc: BaseException) -> DbFailure | None:
    """:class:`DbFailure` of ``exc`` (SQLAlchemy's wrapper or psycopg's own error, as COPY
    raises it), None for anything else. WHY one place: the API's handler, a multi-file
    upload's per-file answer and the CLI each told these apart, one by a psycopg class that
    deadlocks are not a subclass of (psycopg gives class 40 no common base). By class name,
    so the CLI's error path imports no driver."""
    orig = getattr(exc, "orig", None) or exc
    classes = (*type(exc).__mro__, *type(orig).__mro__)
    wrapped = any(c.__name__ == "DBAPIError" for c in classes)
    if not wrapped and not type(orig).__module__.startswith("psycopg"):
        return None
    state = str(getattr(orig, "sqlstate", "") or "")
    if state.startswith("40"):
        kind = "conflict"
    elif any(c.__name__ == "OperationalError" for c in classes):
        kind = "unavailable"
    else:
        kind = "other"
    line = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return DbFailure(kind, type(orig).__name__, line)


# What kind of problem an error is, in Chinese, by HTTP status: the tag put before a message
# written in English only (see chinese_first)
_TAGS = {
    400: "请求有误",
    401: "未登录",
    403: "无权限",
    404: "未找到",
    405: "不支持的请求",
    409: "冲突",
    413: "文件过大",
    415: "格式不支持",
    422: "输入有误",
    429: "请求过多",
    500: "内部错误",
    503: "服务暂不可用",
}


# The API error body's ``code`` by status, where the raiser gave none: stable words a program
# matches on (T67 #7: an integrator had only the sentence to tell refusals apart)
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    411: "length_required",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    507: "disk_full",
}


def error_code(status: int, code: str | None = None) -> str:
    """``code`` when given, else the status's word (:data:`ERROR_CODES`; ``client_error`` /
    ``server_error`` for a status without one)."""
    if code:
        return code
    return ERROR_CODES.get(status) or ("client_error" if status < 500 else "server_error")


_CJK = "\u3400-\u9fff\uf900-\ufaff"
# the text before the first English word ("a" is one; the W of "W001", an id, is not)
# an English word: lower-case letters, the first maybe a capital, not part of a code token.
# WHY not any letters: a message may open with the thing it is about, as the Chinese names
# it ("OSM 文件 … 不存在", "GeoJSON 没有…", "--before 2026-05-12 晚于今天", "GRIDWARD_PORT 须为
# 整数"): an acronym, a name like GeoJSON, an option, a variable, a file name, a quoted value
# are not English to read
_LEAD = re.compile(
    r"^(.*?)(?=(?<![A-Za-z0-9_\-/.'<])[A-Z]?[a-z]+(?![A-Za-z0-9_\-/'>]|\.\w)|$)",
    re.S,
)
_RUN = re.compile(f"[{_CJK}]+")
# a person's name and id up front, "张三 (W001) …": a name, not a Chinese sentence
_NAME_FIRST = re.compile(f"^\\s*[{_CJK}]{{1,4}}\\s*\\(")


def reads_chinese_first(message: str) -> bool:
    """Whether ``message`` opens in Chinese: Chinese stands before its first English word
    ("方案 5 不存在 plan 5 …", "设置有误 setting …"), and not just a person's name with their
    id ("张三 (W001) has left …"). WHY not "holds a Chinese word": "unknown role '网格管理员':
    use …" holds one, and a Chinese reader still meets an English sentence (an outside tester
    listed a dozen)."""
    head = _LEAD.match(message)
    lead = head.group(1) if head else ""
    runs = _RUN.findall(lead)
    if not runs:
        return False
    return not (len(runs) == 1 and _NAME_FIRST.match(lead))


def chinese_first(message: str, status: int) -> str:
    """``message`` as users read it: Chinese first. A message that opens in Chinese
    (:func:`reads_chinese_first`) is left as it is; any other (pydantic's validation words,
    refusals written in English with a Chinese word or name inside) gets a short Chinese tag
    naming the kind of problem ("未找到 area 999 does not exist"). WHY here: city staff read
    Chinese first, and one rule at the API's and the CLI's exits covers every message, old
    and new, without translating each."""
    if reads_chinese_first(message):
        return message
    tag = _TAGS.get(status) or ("请求有误" if 400 <= status < 500 else "服务错误")
    return f"{tag} {message}"


# what an id names, and how to find one, in the Chinese part of parse_row_id's refusal
_ROW_ZH = {
    "duty": ("职责", "请填 gridward assign set 打印的整数（职责编号）"),
    "track": ("轨迹", "请填上传时打印的整数（轨迹编号，GET /tracks 可列出）"),
}


def parse_row_id(value: Any, what: str, hint: str) -> int:
    """A database id (1 … 2³¹−1) given as a number or text; InputError "编号 'x' 无效 …
    ``what`` 'x' is not a ``what`` id: ``hint``" otherwise (a CLI argument or a JSON field,
    before any query)."""
    shown = str(value).strip()
    ok = shown.isascii() and shown.isdigit() and len(shown) <= 10
    if isinstance(value, bool) or not ok or not 0 < int(shown) < 2**31:
        what_zh, hint_zh = _ROW_ZH.get(what, (what, hint))
        raise InputError(
            f"{what_zh}编号 '{shown[:40]}' 无效，须为正整数；{hint_zh}。 "
            f"{what} '{shown[:40]}' is not a {what} id: {hint}"
        )
    return int(shown)


def person_zh(name: str, external_id: str | None, person_id: int) -> str:
    """A person as a clerk names them in a message: 张三（人员编号 S12，系统编号 id:5）.
    Here, with the other message helpers, so the CLI reads it without the models."""
    code = f"人员编号 {external_id}，" if external_id else ""
    return f"{name}（{code}系统编号 id:{person_id}）"


def person_en(name: str, external_id: str | None, person_id: int) -> str:
    """:func:`person_zh` in the English: 张三 (S12, id:5)."""
    code = f"{external_id}, " if external_id else ""
    return f"{name} ({code}id:{person_id})"


def count_en(n: int, one: str, many: str) -> str:
    """A count and its English noun, singular for one: "1 person", "2 people" (T41 #11:
    "1 new people have no name", the English said every count in the plural). The Chinese
    needs no such form."""
    return f"{n} {one if n == 1 else many}"


def verb_en(n: int, one: str, many: str) -> str:
    """The English word agreeing with a count of ``n``: ``one`` for 1, else ``many``."""
    return one if n == 1 else many


# the operating system's reasons a file could not be read or written, in Chinese
ERRNO_ZH = {
    errno.ENOENT: "文件或文件夹不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EISDIR: "这是文件夹，须为文件",
    errno.ENOTDIR: "路径中有一段不是文件夹",
    errno.ENOSPC: "磁盘空间已满",
    errno.EROFS: "文件系统只读",
    errno.EEXIST: "文件已存在",
    errno.ENAMETOOLONG: "文件名太长",
}


def os_reason_zh(reason: str) -> str | None:
    """:data:`ERRNO_ZH` for a reason given as the system's text ("No such file or
    directory"), as GDAL passes it on without the errno; None when it is none of them."""
    low = reason.strip().lower()
    return next((zh for code, zh in ERRNO_ZH.items() if os.strerror(code).lower() == low), None)

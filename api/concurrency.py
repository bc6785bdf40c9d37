"""Optimistic concurrency for grids and plans: ETag from a version number, If-Match on writes.

Read: ``set_etag(response, row.version)``. Write::

    expected = require_if_match(request, current_version)    # 428 missing, 412 stale
    n = conn.execute(update(t).where(t.c.id == id, t.c.version == expected)
                     .values(..., version=expected + 1)).rowcount
    check_updated(n)                                          # 412 if someone won the race

The first check gives a clear early answer; the conditional UPDATE is what makes it safe when
two writers pass the first check at the same moment: exactly one of them updates the row.
"""

from __future__ import annotations

import re

from fastapi import Request, Response

from geo.errors import GridwardError


class PreconditionFailed(GridwardError):
    """412: the client's version is not the current one (someone else changed it)."""

    status_code = 412


class PreconditionRequired(GridwardError):
    """428: this write needs ``If-Match`` so that no one overwrites a change unseen."""

    status_code = 428


_TAG = re.compile(r'^\s*(W/)?"(?:v)?([0-9]{1,12})"\s*$')


def etag(version: int) -> str:
    """The strong ETag of a version: ``"v7"``."""
    return f'"v{int(version)}"'


def set_etag(response: Response, version: int) -> None:
    """Put the version's ETag on a response."""
    response.headers["ETag"] = etag(version)


def parse_etag(value: str) -> int | None:
    """The version in an ETag or If-Match value (``"v7"``, ``"7"``, ``W/"v7"``), else None."""
    m = _TAG.match(value or "")
    return int(m.group(2)) if m else None


def require_if_match(request: Request, current_version: int, required: bool = True) -> int:
    """Check ``If-Match`` against the current version; returns the version the client saw.

    428 when missing and ``required``; 412 when it names another version. ``*`` matches any
    existing version (RFC 9110). Without the header and not required, returns the current one.
    """
    header = request.headers.get("if-match")
    if header is None or not header.strip():
        if required:
            raise PreconditionRequired(
                f"修改须带 If-Match 请求头（读取时的 ETag，当前为 {etag(current_version)}） "
                "this change needs an If-Match header with the ETag you read "
                f"(current: {etag(current_version)})"
            )
        return int(current_version)
    if header.strip() == "*":
        return int(current_version)
    versions = [parse_etag(part) for part in header.split(",")]
    if any(v is None for v in versions):
        raise PreconditionFailed(
            f"请求头的 If-Match 值无效：{header[:60]!r} 不是 {etag(1)} 这样的 ETag "
            f"If-Match {header[:60]!r} is not an ETag like {etag(1)}"
        )
    if int(current_version) not in versions:
        raise PreconditionFailed(
            f"已被他人修改：您读取的是 {header.strip()[:40]}，当前为 {etag(current_version)}；"
            "请重新载入后再改 "
            f"changed by someone else: you have {header.strip()[:40]}, current is "
            f"{etag(current_version)}; reload and apply your change again"
        )
    return int(current_version)


_WHAT_ZH = {"the record": "这条记录"}  # check_updated's ``what`` in its Chinese part


def check_updated(rowcount: int, what: str = "the record") -> None:
    """412 when a version-guarded UPDATE matched no row (another writer won the race)."""
    if rowcount == 0:
        what_zh = _WHAT_ZH.get(what, what)
        raise PreconditionFailed(
            f"已被他人修改：{what_zh}刚被他人改过，请重新载入 "
            f"{what} was changed by someone else meanwhile: reload it"
        )

"""Checks and writes of a file-mode command's ``--out``: before any work, never over an
input, never half-written.

WHY one module: ``match`` refused an ``--out`` naming its network and wrote atomically, while
``partition`` and ``assign stewards`` replaced their own input files without a word and wrote
in place (an outside tester lost a people registry to ``--out people.csv``), and wrote
GeoJSON or CSV text under any suffix (``grids.gpkg``). The writes themselves go through
:func:`geo.vector_io.atomic_file`.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from geo.errors import ERRNO_ZH, InputError
from geo.vector_io import not_regular

# the inputs a command names (check_out's labels), in the Chinese part of its refusal
_INPUT_ZH = {
    "network": "路网",
    "track": "轨迹",
    "area": "区域",
    "buildings": "楼栋",
    "streets": "街巷",
    "alleys": "巷",
    "people": "人员",
    "existing": "现有职责",
}


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (links and ``..`` included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop: not an input we could have read
        return False


NAME_MAX = 255  # bytes in one file name, on every Linux file system


def longest_name(suffix: str) -> int:
    """The longest name (bytes) an output with ``suffix`` may have: the write puts
    atomic_file's ".<stem>.partial<suffix>" beside it and, for a GeoPackage, SQLite's
    "-journal" beside that (a 248-byte .geojson name, a 239-byte .gpkg one, failed there,
    after the match)."""
    return NAME_MAX - len(".partial.") - (len("-journal") if suffix.lower() == ".gpkg" else 0)


def unnameable_char(text: str) -> tuple[str, str] | None:
    """The first character of ``text`` that GDAL cannot write a file name with, described in
    Chinese and in English; None when there is none. A control character (a line break: GDAL
    dropped it from the name and failed, T58 F12) or a byte that is not UTF-8 (Python's
    stand-in for it, a lone surrogate, failed in GDAL's encoder after the match)."""
    for ch in text:
        code = ord(ch)
        if code < 32 or code == 127:
            return f"换行等控制字符 {ch!r}", f"a control character (a line break, a tab), {ch!r}"
        if 0xD800 <= code <= 0xDFFF:
            byte = ch.encode("utf-8", "surrogateescape").hex().upper() if code >= 0xDC80 else ""
            shown = f"0x{byte}" if byte else repr(ch)
            return f"非 UTF-8 字节 {shown}", f"a byte that is not UTF-8, {shown}"
    return None


def check_typed_path(given: str, option: str) -> None:
    """Refuse an output path (``option``'s value as typed) that is empty or that GDAL cannot
    write to (:func:`unnameable_char`), before any work: such a path failed only at the
    write, after the match, and an empty one (a script's unset variable) read as the current
    folder. The path as typed, not made absolute: a relative one is what GDAL is given."""
    if not given:
        raise InputError(
            f"输出路径 {option} 为空（脚本中的变量未设置？），请给出路径 "
            f"{option} is empty (an unset variable in a script?): give a path"
        )
    bad = unnameable_char(given)
    if bad is not None:
        what_zh, what = bad
        raise InputError(
            f"输出路径 {option} {given!r} 含{what_zh}，无法以此路径写文件：请换一个路径 "
            f"{option} {given!r} holds {what}: no file can be written there; choose another "
            "path"
        )


def unwritable(folder: Path) -> tuple[Path, str, str] | None:
    """Where a new file in ``folder`` (a folder in its nearest existing one, while it is still
    to be made) is refused, and why in English and Chinese; None when it can be made. Made
    and removed at once. WHY not ``os.access``: root passes it where the file system refuses
    (``/sys/kernel``, ``/proc/1``: T58 F9, F10), and the write failed after the work."""
    where = next((p for p in (folder, *folder.absolute().parents) if p.exists()), folder)
    try:
        if where is folder:
            fd, name = tempfile.mkstemp(prefix=".gridward-probe-", dir=folder)
            os.close(fd)
            os.unlink(name)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".gridward-probe-", dir=where))
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:  # "no such file" in a folder that is there: /proc/1
            return where, why, "该处为虚拟文件夹，不接受新文件"
        return where, why, ERRNO_ZH.get(exc.errno or 0, why)
    return None


def _said(out: Path, option: str) -> tuple[str, str, str, str]:
    """How a refusal names ``out`` and what it asks instead, in English and Chinese: as typed
    after ``--out``, or as the file ``option``'s folder would have held (a batch user typed
    no ``--out``: "--out D/x.geojson is the network file" named an option never given)."""
    if option == "--out":
        return f"--out {out}", f"--out {out}", "choose another output path", "换一个输出路径"
    return (
        f"{option} output {out}",
        f"{option} 的输出文件 {out}",
        f"choose another {option}",
        "换一个输出文件夹",
    )


def check_out(
    out: Path,
    suffixes: tuple[str, ...],
    inputs: dict[str, Path | None],
    example_stem: str = "out",
    option: str = "--out",
) -> None:
    """Refuse, before any work, an ``--out`` that is a folder, has a suffix the command does
    not write (``suffixes``, lower case, preferred first, "" for none), names one of
    ``inputs`` (label → path), has a name too long for its write, or lies where nothing can
    be written. ``option``: what the user typed, ``--out`` (``out`` itself) or the option
    naming the folder ``out`` was to be written in (a batch's ``--out-dir``)."""
    said, said_zh, again, again_zh = _said(out, option)
    size, limit = len(os.fsencode(out.name)), longest_name(out.suffix)
    if size > limit:  # before the rest: a stat of such a name fails
        raise InputError(
            f"输出文件名太长：{said_zh} 的文件名有 {size} 字节（UTF-8），最多 {limit} 字节，"
            f"请缩短 {said}: its name is {size} bytes long (UTF-8), at most {limit}; "
            "shorten it"
        )
    if out.is_dir():
        example = out / f"{example_stem}{suffixes[0]}"
        if option != "--out":
            raise InputError(
                f"输出路径 {said_zh} 是文件夹，不能写成文件：请移走它或{again_zh} "
                f"{said} is a folder, not a file it can write: move it away or {again}"
            )
        raise InputError(
            f"输出路径 {said_zh} 是文件夹，请给文件名（如 {example}） "
            f"{said} is a folder: give a file name, e.g. {example}"
        )
    if out.suffix.lower() not in suffixes:
        shown = [s for s in suffixes if s]
        listed = ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]
        listed_zh = "、".join(shown[:-1]) + f" 或 {shown[-1]}" if len(shown) > 1 else shown[0]
        raise InputError(
            f"输出文件类型不支持：{said_zh} 的类型 '{out.suffix}' 不支持，"
            f"请改用 {listed_zh} 格式 "
            f"{said}: unsupported file type '{out.suffix}': use {listed}"
        )
    for what, path in inputs.items():
        if path is not None and same_file(out, path):
            what_zh = _INPUT_ZH.get(what, what)
            raise InputError(
                f"输出文件与输入文件相同：{said_zh} 就是{what_zh}文件，请{again_zh} "
                f"{said} is the {what} file; {again}"
            )
    # a device, FIFO, socket or link: refused before the work too (a link to an input is
    # named as that input above), naming the option as the other refusals do
    found = not_regular(out)
    if found is not None:
        kind, kind_zh = found
        raise InputError(
            f"输出路径 {said_zh} 是{kind_zh}，不是普通文件，不能被覆盖；请{again_zh} "
            f"{said} is {kind}, not a regular file: it cannot be replaced; {again}"
        )
    refused = unwritable(out.parent)
    if refused is not None:
        where, why, why_zh = refused
        raise InputError(
            f"无法写入输出文件 {said_zh}：不能在 {where} 中新建文件（{why_zh}） "
            f"{said}: cannot write in {where} ({why})"
        )

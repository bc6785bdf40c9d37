"""Checks and writes of a file-mode command's ``--out``: before any work, never over an
input, never half-written.

WHY one module: ``match`` refused an ``--out`` naming its network and wrote atomically, while
``partition`` and ``assign stewards`` replaced their own input files without a word and wrote
in place (an outside tester lost a people registry to ``--out people.csv``), and wrote
GeoJSON or CSV text under any suffix (``grids.gpkg``). The writes themselves go through
:func:`geo.vector_io.atomic_file`.
"""

from __future__ import annotations

import os
from pathlib import Path

from geo.errors import InputError
from geo.vector_io import check_replaceable

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


def check_out(
    out: Path,
    suffixes: tuple[str, ...],
    inputs: dict[str, Path | None],
    example_stem: str = "out",
) -> None:
    """Refuse, before any work, an ``--out`` that is a folder, has a suffix the command does
    not write (``suffixes``, lower case, preferred first, "" for none), names one of
    ``inputs`` (label → path), or lies where nothing can be written."""
    if out.is_dir():
        example = out / f"{example_stem}{suffixes[0]}"
        raise InputError(
            f"输出路径 --out {out} 是文件夹，请给文件名（如 {example}） "
            f"--out {out} is a folder: give a file name, e.g. {example}"
        )
    if out.suffix.lower() not in suffixes:
        shown = [s for s in suffixes if s]
        listed = ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]
        listed_zh = "、".join(shown[:-1]) + f" 或 {shown[-1]}" if len(shown) > 1 else shown[0]
        raise InputError(
            f"输出文件类型不支持：--out {out} 的类型 '{out.suffix}' 不支持，"
            f"请改用 {listed_zh} 格式 "
            f"--out {out}: unsupported file type '{out.suffix}': use {listed}"
        )
    for what, path in inputs.items():
        if path is not None and same_file(out, path):
            what_zh = _INPUT_ZH.get(what, what)
            raise InputError(
                f"输出文件与输入文件相同：--out {out} 就是{what_zh}文件，请换一个输出路径 "
                f"--out {out} is the {what} file; choose another output path"
            )
    # a device, FIFO, socket or link: refused before the work too (a link to an input is
    # named as that input above)
    check_replaceable(out)
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"无法写入输出文件 --out {out}：不能在 {parent or out.parent} 中写入 "
            f"--out {out}: cannot write in {parent or out.parent}"
        )

"""Checks and writes of a file-mode command's ``--out``: before any work, never over an
input, never half-written.

WHY one module: ``match`` refused an ``--out`` naming its network and wrote atomically, while
``partition`` and ``assign stewards`` replaced their own input files without a word and wrote
in place (an outside tester lost a people registry to ``--out people.csv``), and wrote
GeoJSON or CSV text under any suffix (``grids.gpkg``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from geo.errors import InputError


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (links and ``..`` included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop: not an input we could have read
        return False


def check_out(out: Path, suffixes: tuple[str, ...], inputs: dict[str, Path | None]) -> None:
    """Refuse, before any work, an ``--out`` that is a folder, has a suffix the command does
    not write (``suffixes``, lower case, "" for none), names one of ``inputs`` (label → path),
    or lies where nothing can be written."""
    if out.is_dir():
        raise InputError(f"--out {out} is a folder: give a file name")
    if out.suffix.lower() not in suffixes:
        shown = ", ".join(s for s in suffixes if s)
        raise InputError(f"--out {out}: unsupported file type '{out.suffix}': use {shown}")
    for what, path in inputs.items():
        if path is not None and same_file(out, path):
            raise InputError(f"--out {out} is the {what} file; choose another output path")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot write in {parent or out.parent}")


def write_atomic(out: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a hidden file beside ``out``, then rename it over ``out``: a run
    stopped half way leaves the old file (or none), never a half-written one."""
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    try:
        write(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)

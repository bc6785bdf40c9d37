"""``gridward match`` with several tracks: ``--track`` given again or naming a folder, the
outputs in ``--out-dir``.

WHY: a district matching 50 walks with a loop paid 79 s, most of it start-up and reading and
indexing the same network 50 times (outside tester T54, #14). Here the network is read,
checked, indexed and its faults said once; each track then goes through the one-track path
(:func:`api.cli_tracks.match_file`: the same checks, matching and warnings), one failing
track does not stop the others, and ``summary.csv`` tells a script what became of each.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.cli_tracks import (
    EDGE_ID,
    MatchOptions,
    NothingCredited,
    _read_network,
    _read_track_within,
    _warn_network,
    check_input_file,
    match_file,
)
from api.out_files import check_out, check_typed_path, same_file, unnameable_char, unwritable
from geo.errors import ERRNO_ZH, GridwardError, InputError, chinese_first
from geo.report_export import csv_cell

if TYPE_CHECKING:
    from api.cli_tracks import TrackMatched

# what a folder given as --track holds that is a track (as upload reads them)
TRACK_SUFFIXES = (".csv", ".gpx", ".geojson", ".json")
FORMATS = {"geojson": (".geojson", "GeoJSON"), "gpkg": (".gpkg", "GPKG"), "csv": (".csv", "CSV")}
SUMMARY = "summary.csv"
# what a batch writes into --out-dir (its outputs, summary.csv): never read from a folder as
# tracks, so an --out-dir among the tracks does not feed the next run (T58 F6)
WRITTEN_SUFFIXES = tuple(f".matched{suffix}" for suffix, _ in FORMATS.values())
COLUMNS = ["track", "out", "status", "points", "matched", "edges", "walked_m", "sigma_m",
           "reason", "warnings"]  # fmt: skip


@dataclass
class _Row:
    """One track's line of summary.csv."""

    track: Path
    out: Path
    status: str = "failed"  # written | failed | empty
    done: TrackMatched | None = None
    reason: str = ""
    warnings: tuple[str, ...] = ()

    def cells(self) -> list[str]:
        d = self.done
        figures = (
            ["", "", "", "", ""]
            if d is None
            else [str(d.points), str(d.matched), str(d.edges), f"{d.walked_m:.1f}",
                  f"{d.sigma_m:.1f}"]
        )  # fmt: skip
        written = d is not None and d.written
        # text cells as the product's other CSVs write them: a track named "=HYPERLINK(…)"
        # is no formula in Excel or WPS (T58 F7); the figures are numbers
        text = [str(self.track), str(self.out) if written else "", self.reason,
                " | ".join(self.warnings)]  # fmt: skip
        track, out, reason, warnings = (csv_cell(cell) for cell in text)
        return [track, out, self.status, *figures, reason, warnings]


def match_batch(
    network: Path,
    given: list[Path],
    out: str | None,
    out_dir: str | None,
    out_format: str | None,
    o: MatchOptions,
) -> None:
    """Match every track of ``given`` (files, folders) against one reading of ``network``,
    each written to ``out_dir``. Every path is checked before any matching."""
    _check_outputs_given(given, out, out_dir)
    assert out_dir is not None
    suffix, driver = _format(out_format)
    tracks = _expand(given)
    folder = _check_out_dir(out_dir, given)
    _probe(folder)
    outs, summary = _check_outs(folder, tracks, network, suffix)

    from rich.console import Console

    from geo.tracks.network import WalkNetwork

    err = Console(stderr=True)
    with err.status("读取路网 reading network…"):
        net = WalkNetwork.from_segments(_read_network(network, o.network_crs), EDGE_ID)
    _warn_network(net)  # once, not once per track
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(
            f"无法创建输出文件夹 --out-dir {folder}：{ERRNO_ZH.get(exc.errno or 0, reason)} "
            f"cannot make --out-dir {folder}: {reason}"
        ) from None
    rows = _match_all(net, tracks, outs, driver, o, err)
    _write_summary(summary, rows)

    n = len(rows)
    failed = sum(r.status == "failed" for r in rows)
    empty = sum(r.status == "empty" for r in rows)
    written = n - failed - empty
    typer.echo(
        f"轨迹 {n} 条 · 已写入 {written} · 失败 {failed} · 未计入任何路段 {empty} "
        f"{n} tracks · written {written} · failed {failed} · nothing credited {empty}"
    )
    typer.echo(f"已写入汇总 {summary} wrote {summary}")
    if failed:
        raise InputError(
            f"{n} 条轨迹中有 {failed} 条失败、未写入，原因见上面各行及 {summary} "
            f"{failed} of {n} tracks failed, not written: see their lines above and {summary}"
        )
    refused = sum(r.done is not None and not r.done.written for r in rows)
    if refused:
        raise NothingCredited(
            f"{refused} 条轨迹未计入任何路段（--require-match），未写入其文件，原因见上面的 "
            f"warning 行 {refused} track(s) credited nothing (--require-match): their files "
            "not written; see the warnings above"
        )


def _check_outputs_given(given: list[Path], out: str | None, out_dir: str | None) -> None:
    """Refuse ``--out`` where a folder is wanted, both, or neither, saying which to use."""
    if out is not None and out_dir is not None:
        raise InputError(
            f"--out {out} 与 --out-dir {out_dir} 只能给一个：一条轨迹用 --out 给出输出文件，"
            "多条轨迹或文件夹用 --out-dir 给出输出文件夹 "
            f"--out {out} and --out-dir {out_dir}: give one, --out for one track's file, "
            "--out-dir for several tracks or a folder"
        )
    if out is not None and len(given) == 1:  # a folder (one file with --out: one track)
        folder = given[0]
        raise InputError(
            f"{folder} 是文件夹：其中每条轨迹各写一个文件，请用 --out-dir 代替 --out，或给出其中"
            f"的一个文件（如 {folder / '*.gpx'}） "
            f"{folder} is a folder: its tracks are written one file each, so use --out-dir "
            f"instead of --out, or pass one file (e.g. {folder / '*.gpx'})"
        )
    if out is not None:
        raise InputError(
            f"给了 {len(given)} 个 --track，--out {out} 只能写一条轨迹：请用 --out-dir 给出输出"
            f"文件夹（每条轨迹一个文件） {len(given)} --track given: --out {out} holds one "
            "track; use --out-dir for a folder, one file per track"
        )
    if out_dir is None:
        raise InputError(
            "用法有误：缺少输出，一条轨迹请用 --out 给出输出文件，多条轨迹或文件夹请用 --out-dir "
            "给出输出文件夹（查看 gridward match --help） missing output: give --out for one "
            "track's file, or --out-dir for several tracks or a folder (see: gridward match "
            "--help)"
        )


def _format(out_format: str | None) -> tuple[str, str]:
    """``--format`` as a suffix and a driver (default GeoJSON)."""
    key = (out_format or "geojson").lower().lstrip(".")
    if key not in FORMATS:
        raise InputError(
            f"输出格式 --format {out_format} 不支持，请用 geojson、gpkg 或 csv "
            f"--format {out_format} is not supported: use geojson, gpkg or csv"
        )
    return FORMATS[key]


def _expand(given: list[Path]) -> list[Path]:
    """The track files: each file as given, each folder's track files sorted by name (hidden
    files and what a batch writes left out, their count said). A missing file, or a folder
    without tracks, is refused before any work; so are two tracks of one name (their outputs
    would be one file) and a name no output can carry. One file given twice is taken once,
    with a warning (a shell glob overlapping a name given too)."""
    tracks: list[Path] = []
    for path in given:
        if not path.is_dir():
            check_input_file(path)
            tracks.append(path)
            continue
        found = sorted(
            (p for p in path.iterdir()
             if p.suffix.lower() in TRACK_SUFFIXES and not p.name.startswith(".")
             and p.is_file()),
            key=lambda p: p.name,
        )  # fmt: skip
        kept = [p for p in found if not _batch_output(p)]
        if skipped := len(found) - len(kept):
            typer.echo(
                f"warning: 文件夹 {path} 中有 {skipped} 个文件是批量匹配写出的"
                f"（*.matched.*、{SUMMARY}），未当作轨迹读入 skipped {skipped} file(s) in "
                f"{path} that a batch match writes (*.matched.*, {SUMMARY}): not read as "
                "tracks",
                err=True,
            )
        if not kept:
            kinds = ", ".join(TRACK_SUFFIXES)
            raise InputError(
                f"文件夹 {path} 中没有轨迹文件（{kinds.replace(', ', '、')}） "
                f"no track files ({kinds}) in the folder {path}"
            )
        tracks += kept
    seen: dict[str, Path] = {}
    once = []
    for path in tracks:
        _check_name(path)
        first = seen.setdefault(path.stem, path)
        if first is path:
            once.append(path)
            continue
        if same_file(first, path):  # the same file again: matched once (T58 F11)
            if str(first) == str(path):
                zh, en = f"轨迹文件 {path} 重复给出", f"track file {path} given more than once"
            else:
                zh, en = f"{first} 与 {path} 是同一个文件", f"{first} and {path} are one file"
            typer.echo(f"warning: {zh}，只匹配一次 {en}: matched once", err=True)
            continue
        out = f"{path.stem}.matched"
        raise InputError(
            f"轨迹 {first} 与 {path} 同名，输出会是同一个文件 {out}.*：请改名其中一个 "
            f"tracks {first} and {path} share a name: both would be written to {out}.*; "
            "rename one"
        )
    return once


def _batch_output(path: Path) -> bool:
    """Whether ``path`` (in a folder read as tracks) is what a batch writes."""
    name = path.name.lower()
    return name == SUMMARY or name.endswith(WRITTEN_SUFFIXES)


def _check_name(track: Path) -> None:
    """Refuse a track whose name GDAL cannot name its output after
    (:func:`api.out_files.unnameable_char`: a line break, a byte that is not UTF-8): GDAL
    dropped the line break from the name and failed, after the other tracks were matched
    (T58 F12), nor could its stdout line be read."""
    bad = unnameable_char(track.name)
    if bad is not None:
        what_zh, what = bad
        raise InputError(
            f"轨迹文件名 {track.name!r}（在 {track.parent} 中）含{what_zh}，输出文件无法以此命名："
            f"请改名 track file name {track.name!r} in {track.parent} holds {what}: its "
            "output cannot be named after it; rename it"
        )


def _check_out_dir(out_dir: str, given: list[Path]) -> Path:
    """``--out-dir``: a folder, or nothing yet (made later), not a folder of tracks read
    (the next run would read the outputs as tracks)."""
    check_typed_path(out_dir, "--out-dir")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(
            f"输出文件夹 --out-dir {folder} 已存在，但不是文件夹，请给一个文件夹 "
            f"--out-dir {folder} exists and is not a folder: give a folder"
        )
    for path in given:
        if path.is_dir() and same_file(path, folder):
            raise InputError(
                f"输出文件夹 --out-dir {folder} 就是轨迹文件夹 {path}：输出会在下次被当作轨迹"
                f"读入，请换一个文件夹 --out-dir {folder} is the track folder {path}: the "
                "outputs would be read as tracks next time; choose another folder"
            )
    return folder


def _probe(folder: Path) -> None:
    """A place that refuses new files (:func:`api.out_files.unwritable`) is told now, naming
    ``--out-dir``, not after every track is matched."""
    refused = unwritable(folder)
    if refused is not None:
        where, reason, reason_zh = refused
        raise InputError(
            f"无法写入输出文件夹 --out-dir {folder}：在 {where} 中无法新建文件（{reason_zh}），"
            f"请换一个可写的文件夹 cannot write in --out-dir {folder}: no new file can be made "
            f"in {where} ({reason}); choose a writable folder"
        )


def _file_keys(paths: list[Path]) -> dict[tuple[int, int], Path]:
    """Each existing file of ``paths`` by (device, inode): which one an output names."""
    keys = {}
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        keys.setdefault((st.st_dev, st.st_ino), path)
    return keys


def _input_at(out: Path, keys: dict[tuple[int, int], Path]) -> Path | None:
    """The track file ``out`` names, through a link too (check_out refuses it as that
    input), else None."""
    try:
        st = out.stat()
    except OSError:
        return None
    return keys.get((st.st_dev, st.st_ino))


def _check_outs(
    folder: Path, tracks: list[Path], network: Path, suffix: str
) -> tuple[list[Path], Path]:
    """Each track's output path and summary.csv, checked as ``--out`` is
    (:func:`api.out_files.check_out`): never an input, never anything but a regular file,
    somewhere writable."""
    keys = _file_keys(tracks)
    outs = []
    for track in tracks:
        out = folder / f"{track.stem}.matched{suffix}"
        inputs = {"network": network, "track": _input_at(out, keys) or track}
        check_out(out, (suffix,), inputs, option="--out-dir")
        outs.append(out)
    summary = folder / SUMMARY
    inputs = {"network": network, "track": _input_at(summary, keys)}
    check_out(summary, (".csv",), inputs, option="--out-dir")
    return outs, summary


def _match_all(
    net, tracks: list[Path], outs: list[Path], driver: str, o: MatchOptions, err
) -> list[_Row]:
    """Each track through :func:`api.cli_tracks.match_file`, its line on stdout as it ends,
    a bar on a terminal's stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    rows = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # a script's stderr: the warning: and error: lines alone
    ) as bar:
        task = bar.add_task("匹配 matching", total=len(tracks))
        for track, out in zip(tracks, outs, strict=True):
            bar.update(task, description=f"匹配 matching {track.name}")
            rows.append(_one(net, track, out, driver, o))
            bar.advance(task)
    return rows


def _one(net, track: Path, out: Path, driver: str, o: MatchOptions) -> _Row:
    """One track of the batch: matched and written, or why not."""
    row = _Row(track, out)
    try:
        data = _read_track_within(track, o.limit)
        done = match_file(net, track, data, out, driver, o)
    except (GridwardError, OSError) as exc:
        row.reason = _failure(exc)
        # Chinese first as a whole: the reason is "中文 English" (T58 F8)
        typer.echo(f"{track.name} 失败，未写入：{row.reason} (failed, not written)")
        return row
    row.done = done
    row.warnings = (*done.notes, *([done.why] if done.why else []))
    for w in row.warnings:
        typer.echo(f"warning: {track.name}: {w}", err=True)
    line = f"{track.name} {done.figures()}"
    if done.edges:
        row.status = "written"
    else:
        row.status, row.reason = "empty", done.why or ""
        line += (
            " · 未计入任何路段，已写入空文件 nothing credited: empty file written"
            if done.written
            else " · 未计入任何路段，未写入（--require-match） nothing credited: not written "
            "(--require-match)"
        )
    typer.echo(line)
    return row


def _failure(exc: GridwardError | OSError) -> str:
    """The one line the one-track command gives for ``exc`` (``api.cli.main``), without its
    ``error:``."""
    if isinstance(exc, GridwardError):
        return chinese_first(exc.message, exc.status_code)
    where = f": {exc.filename}" if exc.filename else ""
    why = ERRNO_ZH.get(exc.errno or 0, "")
    zh = "无法读写文件" + (f" {exc.filename}" if exc.filename else "")
    zh += f"：{why}" if why else ""
    return f"{zh} {exc.strerror or exc}{where}"


def _write_summary(path: Path, rows: list[_Row]) -> None:
    """summary.csv: one row per track, UTF-8 with a BOM (Excel reads it as UTF-8, as every
    CSV gridward writes), written atomically."""
    from geo.vector_io import atomic_file

    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(r.cells() for r in rows)

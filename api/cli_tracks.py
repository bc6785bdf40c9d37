"""File-mode track commands: ``gridward match`` and ``gridward tracks check``.

No database: a network file and a track file in, matched edges out. The lead's DB-backed
``tracks upload`` and ``report`` commands attach to the same ``tracks`` group (``tracks_app``).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from api.out_files import check_out, check_typed_path
from geo.errors import ERRNO_ZH, GridwardError, InputError, chinese_first, os_reason_zh

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from geo.settings import Settings
    from geo.tracks.network import WalkNetwork
    from geo.tracks.parse import ParsedTrack

tracks_app = typer.Typer(
    help="巡查轨迹 Patrol tracks: check (files, no database), upload (store and match), "
    "worker (match queued uploads), rematch (stored tracks again), drop-fixes (retention), "
    "reassign (to another person), delete / restore (withdraw one uploaded by mistake).",
    no_args_is_help=True,
)

NETWORK_CRS_HELP = (
    "路网坐标系 Datum of a longitude/latitude network file: wgs84 (GPS, OSM), gcj02 "
    "(Amap/Tencent 高德/腾讯) or bd09 (Baidu 百度); read into WGS-84, so the output stays "
    "WGS-84. A network declaring a projected CRS in the file (a crs member) needs none."
)
REQUIRE_MATCH_HELP = (
    "无匹配即失败 Exit 3, writing nothing, when no segment is credited (by default that "
    "exits 0 with a warning: line and an empty file)."
)

CRS_HELP = (
    "坐标系 Datum of the track coordinates: wgs84 (GPS), gcj02 (Amap/Tencent 高德/腾讯), "
    "bd09 (Baidu 百度), or an EPSG code such as EPSG:4490 or EPSG:32650 (UTM metres)."
)


def check_input_file(path: Path, what: str = "file") -> None:
    """Raise an InputError naming the problem unless ``path`` is a readable file: a folder
    gets its own message, since a shell glob that matched nothing leaves the folder name."""
    if path.is_dir():
        raise InputError(
            f"{path} 是文件夹，请给出其中的文件，如 {path / '*.gpx'} "
            f"{path} is a folder: pass the files, e.g. {path / '*.gpx'}"
        )
    if not path.is_file():
        raise InputError(
            f"找不到{_WHAT_ZH.get(what, what)} {path}，请检查路径 {what} not found: {path}"
        )


def read_track_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of one track file, at most ``max_bytes`` (InputError beyond)."""
    from geo.tracks.parse import read_limited

    check_input_file(path)
    with path.open("rb") as fh:
        return read_limited(fh, max_bytes)


# what check_input_file's message names, in Chinese
_WHAT_ZH = {"file": "文件", "network file": "路网文件"}

EDGE_ID = "edge_id"
# what a wrong datum makes wrong where nothing is credited (geo.tracks.datum.DatumHint.message)
MATCHED = ("匹配出的街巷", "the alleys matched")
TO_CREDIT = ("上传后记入的街巷", "the alleys an upload would credit")
# ... and where nothing is: no segment matched, no fix left to credit (T41 #4)
MATCHED_NONE = ("本次未匹配到任何路段", "nothing was matched")
TO_CREDIT_NONE = ("上传后不会计入任何路段", "an upload would credit nothing")
MAX_MB = 1024 * 1024  # 1 TB: beyond any track file; inf (or 1e400) would overflow the byte count


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Library warnings (pyogrio, geopandas, pandas) silenced: the command says what matters in
    its own ``warning:``/``error:`` lines, and a stray UserWarning on stderr reads as a failure
    to a script (and, before an ``error:``, as a second and third error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# a table, not a vector file: GDAL reads it as features without geometry, and the network was
# refused as "segments without geometry", never saying it is no GeoJSON (T54 #12)
TABLE_SUFFIXES = {".csv": "CSV", ".tsv": "TSV", ".txt": "text", ".xlsx": "Excel",
                  ".xls": "Excel", ".ods": "ODS"}  # fmt: skip


def _read_network(path: Path, network_crs: str = "wgs84") -> gpd.GeoDataFrame:
    """The network file, its ``edge_id`` values typed as the file types them
    (:func:`geo.vector_io.json_property_values`) and checked (:func:`_check_edge_ids`);
    longitude/latitude in ``network_crs`` (wgs84, gcj02, bd09) converted to WGS-84."""
    import geopandas as gpd
    import pandas as pd

    from geo.vector_io import json_property_values

    check_input_file(path, "network file")
    table = TABLE_SUFFIXES.get(path.suffix.lower())
    if table is not None:
        raise InputError(
            f"路网文件 {path} 是 {table} 表格，不是 GeoJSON 或 GeoPackage：路网须为线段"
            f"（LineString）的矢量文件，每段带 {EDGE_ID} "
            f"cannot read network {path}: a {table} table is not GeoJSON or GeoPackage; the "
            f"network must be a vector file of LineString segments, each with an {EDGE_ID}"
        )
    try:
        with _quiet():
            gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        why = _first_line(exc)
        why_zh = _read_problem_zh(why)
        raise InputError(
            f"无法读取路网文件 {path}：{why_zh}，请确认它是 GeoJSON 或 GeoPackage 文件 "
            f"cannot read network {path}: {why}"
        ) from None
    gdf = _network_to_wgs84(gdf, path, network_crs)
    if EDGE_ID in gdf.columns and len(gdf):
        if not pd.api.types.is_numeric_dtype(gdf[EDGE_ID]):  # text (str or object dtype)
            gdf[EDGE_ID] = json_property_values(path, gdf[EDGE_ID])
        _check_edge_ids(gdf[EDGE_ID])
    return gdf


def _read_problem_zh(why: str) -> str:
    """GDAL's reason a network file could not be read, as a short Chinese reason (its English
    stays in the message's English part)."""
    low = why.lower()
    if "not recognized as" in low or "not recognised as" in low:
        return "文件内容不是 GeoJSON、GeoPackage 等可识别的矢量格式"
    return os_reason_zh(why.rsplit(": ", 1)[-1]) or "文件内容有误或不完整，无法按矢量文件读取"


def _network_to_wgs84(gdf: gpd.GeoDataFrame, path: Path, network_crs: str) -> gpd.GeoDataFrame:
    """A longitude/latitude network drawn in GCJ-02 or BD-09 (``network_crs``), as WGS-84.
    A file declaring a projected CRS is left to :class:`WalkNetwork` (it reads any CRS) and
    refused with a datum given: its coordinates are no map app's longitude/latitude."""
    import geopandas as gpd

    from geo.crs import WGS84, geometries_to_wgs84, normalize_crs

    datum = normalize_crs(network_crs)
    if datum == WGS84:
        return gdf
    declared = gdf.crs
    if declared is not None and normalize_crs(declared.to_string()) != WGS84:
        name = declared.to_string()
        raise InputError(
            f"路网文件 {path} 声明了坐标系 {name}，--network-crs {network_crs} 只用于经纬度"
            f"路网（WGS-84、GCJ-02、BD-09）：请去掉 --network-crs "
            f"network {path} declares its CRS, {name}: --network-crs {network_crs} is for "
            "longitude/latitude networks (WGS-84, GCJ-02, BD-09); leave it out"
        )
    geoms = geometries_to_wgs84(gdf.geometry.to_numpy(), datum)
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs="EPSG:4326"))


def _check_network_crs(network_crs: str) -> None:
    """Refuse a --network-crs that is not a map datum: a network in metres says so in its
    file (a ``crs`` member), which is read as it is."""
    from geo.crs import normalize_crs
    from geo.tracks.datum import DATUMS

    if normalize_crs(network_crs) not in DATUMS:
        raise InputError(
            f"路网坐标系 --network-crs {network_crs} 不支持，请用 wgs84、gcj02 或 bd09"
            f"（投影坐标的路网请在文件中声明坐标系，如 GeoJSON 的 crs 成员） "
            f"--network-crs {network_crs} is not supported: use wgs84, gcj02 or bd09 "
            "(a projected network declares its CRS in the file, e.g. a GeoJSON crs member)"
        )


def _id_problem(value: Any) -> str | None:
    """What one non-null ``edge_id`` has that no id may (None: nothing): a list or object
    cannot name one edge, true/false names two at most, and an empty string is as missing as
    null (a spreadsheet's blank cell)."""
    import numpy as np

    if isinstance(value, str):
        return "an empty string" if not value.strip() else None
    if isinstance(value, bool | np.bool_):
        return "true/false"
    if isinstance(value, int | float | np.integer | np.floating):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return "a list"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"


# _id_problem's words, in Chinese
_ID_PROBLEM_ZH = {
    "an empty string": "空文本",
    "true/false": " true/false",
    "a list": "列表",
    "an object": "对象",
}


def _check_edge_ids(ids: pd.Series) -> None:
    """Refuse ids a script cannot join its output back on (:func:`_id_problem`), naming the
    feature, before the network is built: an unhashable one ended in a traceback there. Also
    refuse a number and a string that read alike (``5`` and ``"5"``): text outputs merge them."""
    import pandas as pd

    missing = ids.isna().to_numpy()
    if missing.any():
        n = int(missing.argmax()) + 1
        raise InputError(
            f"路网中有路段缺少 '{EDGE_ID}'（第 {n} 个要素） "
            f"network has segments without '{EDGE_ID}' (feature {n})"
        )
    if pd.api.types.is_numeric_dtype(ids) and not pd.api.types.is_bool_dtype(ids):
        return  # plain numbers: duplicates are WalkNetwork's check
    for n, value in enumerate(ids.tolist(), 1):
        why = _id_problem(value)
        why_zh = _ID_PROBLEM_ZH.get(why or "", why)
        if why == "an empty string":
            raise InputError(
                f"路网中有路段缺少 '{EDGE_ID}'（第 {n} 个要素的值是{why_zh}） "
                f"network has segments without '{EDGE_ID}' (feature {n} has {why})"
            )
        if why is not None:
            raise InputError(
                f"路网 '{EDGE_ID}' 须为数字或文本（第 {n} 个要素的值是{why_zh}） "
                f"network '{EDGE_ID}' must be a number or a string (feature {n} has {why})"
            )
    text = ids.map(str)
    if text.duplicated().any() and not ids.duplicated().any():
        a, b = ids[text == text[text.duplicated()].iloc[0]].tolist()[:2]
        raise InputError(
            f"路网 '{EDGE_ID}' 有重复（如 {a!r} 和 {b!r}，数字与文本写法相同） "
            f"network '{EDGE_ID}' is not unique (e.g. {a!r} and {b!r})"
        )


def _check_max_mb(max_mb: float | None) -> None:
    """Refuse a --max-mb that is no size: 0, negative, NaN, or beyond any file (inf)."""
    if max_mb is None:
        return
    if not max_mb > 0:
        raise InputError(
            f"文件大小上限 --max-mb {max_mb:g} 无效，须大于 0 "
            f"--max-mb must be more than 0, not {max_mb:g}"
        )
    if not max_mb <= MAX_MB:
        raise InputError(
            f"文件大小上限 --max-mb {max_mb:g} 太大，最多 {MAX_MB:,}（1 TB） "
            f"--max-mb must be at most {MAX_MB:,} (1 TB), not {max_mb:g}"
        )


def _check_out(given: str, network: Path, track: Path) -> tuple[Path, str]:
    """``--out`` as a path and its driver, checked before any work
    (:func:`api.out_files.check_out`): a bad path must not cost a match, and the atomic write
    must replace neither an input nor anything but a regular file
    (:func:`geo.vector_io.check_replaceable`: a device, a FIFO, a symbolic link, T54 #4).

    ``given`` as typed: a trailing ``/`` names a folder, which a Path drops (``x.geojson/``
    wrote a file ``x.geojson``, T54 #11). A missing folder is made, as in the other
    file-mode commands (:func:`geo.vector_io.write_vector`). An empty path, or one GDAL cannot
    name a file with (a line break, a byte that is not UTF-8), is refused here too: the latter
    failed at the write, after the match (:func:`api.out_files.check_typed_path`)."""
    from geo.vector_io import DRIVERS  # every choice keeps the geometry

    check_typed_path(given, "--out")
    out = Path(given)
    if given.endswith(("/", os.sep)) and not out.is_dir():
        example = out / "matched.geojson"
        raise InputError(
            f"输出路径 --out {given} 以 / 结尾，指的是文件夹，请给文件名（如 {example}） "
            f"--out {given} ends in /, naming a folder: give a file name, e.g. {example}"
        )
    # no suffix: GeoJSON, as before --out learned other formats (scripts rely on it)
    check_out(out, (".geojson", ".gpkg", ".csv", ".json", ""), {"network": network,
              "track": track}, example_stem="matched")  # fmt: skip
    return out, DRIVERS.get(out.suffix.lower(), "GeoJSON")


def _write(gdf: gpd.GeoDataFrame, out: Path, driver: str) -> None:
    """:func:`geo.vector_io.write_vector` (atomic), its errors as one line naming ``out``."""
    from geo.vector_io import write_vector

    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")  # the name write_vector uses
    try:
        with _quiet():
            write_vector(gdf, out, "matched", driver, allowed=("GeoJSON", "GPKG", "CSV"))
    except InputError:  # said for the user already (a path that is not a regular file)
        raise
    except Exception as exc:  # OSError, pyogrio's DataSourceError, ...
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
        why = why.replace(str(tmp), str(out))
        # GDAL's "Failed to create GeoJSON datasource: P: P: No such file or directory": the
        # reason is the last part (an outside tester read the path twice, T54 #12)
        if why.startswith("Failed to create") and ": " in why:
            why = why.rsplit(": ", 1)[1]
        # "no such file" when writing: the place cannot hold a new file (a missing or
        # virtual folder such as /proc), not a file that is missing
        why_zh = os_reason_zh(why) or "写入失败"
        if why_zh == ERRNO_ZH[errno.ENOENT]:
            why_zh = "不能在那里创建文件（路径不存在，或该处不能建文件）"
        raise InputError(
            f"无法写入文件 {out}：{why_zh}，请换一个可写的路径 cannot write {out}: {why}"
        ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class NothingCredited(GridwardError):
    """``gridward match --require-match`` credited no segment: exit 3, nothing written (a
    batch script checking ``$?`` took an empty result for a good one, T54 #10)."""

    status_code = 422
    exit_code = 3


OUT_HELP = (
    "输出文件 Matched edges of one track: .geojson (GeoJSON), .gpkg (GeoPackage) or .csv "
    "(geometry as WKT)."
)
TRACK_HELP = (
    "轨迹文件 Track file: .csv (lon,lat,time), .gpx or .geojson. Give it several times, or "
    "a folder (its .csv, .gpx, .geojson and .json files), to match many with --out-dir."
)
OUT_DIR_HELP = (
    "输出文件夹 Folder for several tracks (made if missing): one <track name>.matched.geojson "
    "(or --format's suffix) per track, and summary.csv."
)
FORMAT_HELP = "输出格式 File type written into --out-dir: geojson, gpkg or csv (default geojson)."


@dataclass(frozen=True)
class MatchOptions:
    """What ``gridward match`` asks of every track (its options, checked)."""

    crs: str
    network_crs: str
    mode: str
    limit: int  # bytes a track file may have
    require_match: bool
    settings: Settings


@dataclass
class TrackMatched:
    """One track matched by :func:`match_file`: its figures and what to say about it."""

    points: int  # fixes the matcher took (after cleaning)
    parsed: int  # fixes read from the file
    matched: int
    pieces: int
    edges: int
    walked_m: float
    sigma_m: float
    cleaning: dict[str, int]
    notes: list[str]  # warnings about the file: the reader's, ids written as text
    why: str | None  # a datum hint, or why nothing was credited
    written: bool  # False: nothing credited with --require-match

    def figures(self) -> str:
        """The figures, as ``gridward match`` prints them for one track (its first line)."""
        return (
            f"points 点数 {self.points} (of {self.parsed} parsed) · matched 已匹配 "
            f"{self.matched} · pieces 分段 {self.pieces} · edges 路段 {self.edges} · "
            f"walked 步行 {self.walked_m:,.0f} m · σ {self.sigma_m:.1f} m"
        )


def match(
    network: Path = typer.Option(
        ..., "--network", help="路网文件 GeoJSON of LineString segments with a unique edge_id."
    ),
    track: list[Path] = typer.Option(..., "--track", metavar="<path>", help=TRACK_HELP),
    out: str | None = typer.Option(  # text, not a Path: a Path drops a trailing / (_check_out)
        None, "--out", metavar="<path>", help=OUT_HELP
    ),
    out_dir: str | None = typer.Option(None, "--out-dir", metavar="<folder>", help=OUT_DIR_HELP),
    out_format: str | None = typer.Option(None, "--format", metavar="<type>", help=FORMAT_HELP),
    crs: str = typer.Option("wgs84", "--crs", help=CRS_HELP),
    network_crs: str = typer.Option("wgs84", "--network-crs", help=NETWORK_CRS_HELP),
    mode: str = typer.Option(
        "walk", "--mode", help="出行方式 walk or bike (cleaning speeds, matcher defaults)."
    ),
    max_mb: float | None = typer.Option(
        None,
        "--max-mb",
        help="文件大小上限（MB） Size limit of the track file in MB (default: the upload limit, "
        "GRIDWARD_MAX_UPLOAD_BYTES, 20 MB unless set).",
    ),
    require_match: bool = typer.Option(False, "--require-match", help=REQUIRE_MATCH_HELP),
) -> None:
    """匹配轨迹到路网 Map-match tracks to a network file: matched edges with covered share.

    One track: --track FILE --out FILE. Several (--track given again, or a folder): --out-dir
    DIR, the network read once, one line per track and summary.csv (track, out, status, points,
    matched, edges, walked_m, sigma_m, reason, warnings).

    退出码 Exit codes: 0 written (also when nothing is credited, with a warning: line, unless
    --require-match); 2 bad input or option, nothing written; 3 nothing credited with
    --require-match, nothing written. With several tracks: 0 every track written; 2 a bad
    option (nothing done) or a track failed (its line says why; the others written); 3 with
    --require-match, a track credited nothing (its file not written) and none failed."""
    from geo.crs import normalize_crs
    from geo.settings import get_settings

    if mode not in ("walk", "bike"):
        raise InputError(
            f"出行方式 '{mode}' 有误，请用 walk（步行）或 bike（骑行） "
            f"unknown mode '{mode}': use walk or bike"
        )
    _check_max_mb(max_mb)
    normalize_crs(crs)  # an unknown name fails before any file is read
    _check_network_crs(network_crs)

    def options() -> MatchOptions:
        s = get_settings()
        # the upload limit unless --max-mb says otherwise: a file `tracks upload` takes
        # matches here
        limit = s.max_upload_bytes if max_mb is None else int(max_mb * 1024 * 1024)
        return MatchOptions(crs, network_crs, mode, limit, require_match, s)

    if out_dir is not None or len(track) > 1 or out is None or track[0].is_dir():
        from api.cli_match_batch import match_batch

        match_batch(network, track, out, out_dir, out_format, options())
        return
    if out_format is not None:
        raise InputError(
            f"--format {out_format} 只用于 --out-dir；一条轨迹的输出类型由 --out 的后缀决定"
            f"（如 matched.gpkg） --format {out_format} goes with --out-dir: one track's "
            "file type is the suffix of --out (e.g. matched.gpkg)"
        )
    out_path, driver = _check_out(out, network, track[0])
    _match_one(network, track[0], out_path, driver, options())


def _match_one(network: Path, track: Path, out_path: Path, driver: str, o: MatchOptions) -> None:
    """One track, ``--out`` checked: its lines on stdout, its warnings on stderr."""
    from rich.console import Console

    from geo.tracks.network import WalkNetwork

    data = _read_track_within(track, o.limit)
    err = Console(stderr=True)
    with err.status("读取路网 reading network…"):
        net = WalkNetwork.from_segments(_read_network(network, o.network_crs), EDGE_ID)
    done = match_file(net, track, data, out_path, driver, o, err.status)
    typer.echo(done.figures())
    typer.echo(f"cleaning 清洗: {done.cleaning}")
    for w in done.notes:
        typer.echo(f"warning: {w}", err=True)
    _warn_network(net)
    if done.why:
        typer.echo(f"warning: {done.why}", err=True)
    if not done.written:
        raise NothingCredited(
            f"未计入任何路段（--require-match），未写入 {out_path}，原因见上面的 warning 行 "
            f"nothing was credited (--require-match): {out_path} not written; see the "
            "warning above"
        )
    typer.echo(f"wrote {out_path}")


def match_file(
    net: WalkNetwork,
    track: Path,
    data: bytes,
    out_path: Path,
    driver: str,
    o: MatchOptions,
    step: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
) -> TrackMatched:
    """Parse, check (times as upload checks them), clean and match one track file's bytes
    (:func:`_read_track_within`), and write its matched edges to ``out_path`` (checked:
    :func:`_check_out`) unless nothing is credited with ``--require-match``. The one per-track
    path of ``gridward match``, one track or many; ``step``: a status line around each stage.
    Raises what a refused track raises (InputError, TooLargeError)."""
    import geopandas as gpd

    from geo.match_words import why_nothing_matched
    from geo.track_times import check_times
    from geo.tracks.clean import CleanParams, clean_with_report
    from geo.tracks.match import MatchParams, match_track
    from geo.tracks.parse import parse_track

    stage = step or (lambda _text: contextlib.nullcontext())
    s = o.settings
    with stage("解析、清洗轨迹 parsing and cleaning the track…"), _quiet():
        parsed = parse_track(data, track.name, crs=o.crs, max_bytes=o.limit, default_tz=s.timezone)
        if len(parsed.points):
            # upload's refusals of a clock in the future and of shuffled times, in its words:
            # a shuffled file was matched here, 31 of 245 fixes, with nothing said (T54 #9)
            gpx_utc = parsed.zoneless and parsed.format == "gpx"
            check_times(parsed.points, s, zoneless_utc=gpx_utc)
        clean = CleanParams(mode=o.mode, max_accuracy_m=s.max_accuracy_m)
        pieces, rep = clean_with_report(parsed.points, clean)
    params = MatchParams.for_mode(o.mode)
    with stage("匹配中 matching…"):
        res = match_track(net, pieces, params)
    geom = dict(zip(net.edge_ids.tolist(), net.geoms_wgs84, strict=True))
    edges = res.edges.copy()
    if driver != "GPKG":  # a GeoPackage has a DATETIME type; GeoJSON and CSV have text
        for c in ("first_time", "last_time"):
            edges[c] = edges[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    gdf = gpd.GeoDataFrame(edges, geometry=[geom[e] for e in edges[EDGE_ID]], crs="EPSG:4326")
    refused = o.require_match and not len(edges)
    if not refused:
        _write(gdf, out_path, driver)
    notes = list(parsed.warnings)
    text_ids = _text_ids_words(gdf, out_path, driver)
    if text_ids:
        notes.append(text_ids)
    # an empty output alone leaves the planner guessing why (the datum line says it already)
    why = _datum_words(net, parsed.points, o.crs, o.network_crs, len(edges))
    if why is None and not len(edges):
        why = why_nothing_matched(rep, clean, params, res.matched_points)
    return TrackMatched(
        points=res.total_points,
        parsed=len(parsed.points),
        matched=res.matched_points,
        pieces=res.pieces,
        edges=len(edges),
        walked_m=float(edges["covered_m"].sum()) if len(edges) else 0.0,
        sigma_m=res.sigma_m,
        cleaning={k: v for k, v in rep.as_dict().items() if k not in ("gaps",) and v},
        notes=notes,
        why=why,
        written=not refused,
    )


def _read_track_within(track: Path, limit: int) -> bytes:
    """:func:`read_track_file`, a file over ``limit`` refused naming the limit in MB and the
    remedy, ``--max-mb`` (T54 #13: it gave the bytes alone); the English as it was, then both."""
    from geo.errors import TooLargeError

    try:
        return read_track_file(track, limit)
    except TooLargeError:
        mib = 1024 * 1024
        limit_mb = f"{limit / mib:.3g} MB"  # 0.01, not 0.00999928 (T56 #9)
        need = max(1, math.ceil(track.stat().st_size / mib))
        raise TooLargeError(
            f"文件过大：轨迹文件 {track} 超过 {limit:,} 字节（{limit_mb}）的上限；如确需匹配，"
            f"请用 --max-mb {need} 调高上限 "
            f"file too large: more than {limit:,} bytes (limit), {limit_mb}: {track} needs "
            f"--max-mb {need}"
        ) from None


def _warn_network(net: WalkNetwork) -> None:
    """The network's own faults, each as one ``warning:`` line: ends that nearly meet, ways
    not split at junctions, and segments drawn twice."""
    from geo.tracks.network import NEAR_MISS_M

    if net.near_misses:  # a cut network loses recall silently where a walk crosses the gap
        typer.echo(
            f"warning: 有 {net.near_misses} 个路段端点与另一端点相距不到 {NEAR_MISS_M:g} 米却未"
            f"相接（端点相距 {net.snap_m:g} 米以内才连接）：路线无法从那里通过 "
            f"{net.near_misses} segment ends lie within {NEAR_MISS_M:g} m of another "
            f"end without meeting it (ends are joined within {net.snap_m:g} m): routes "
            "cannot pass there",
            err=True,
        )
    t_junctions = net.t_junctions()
    if t_junctions:  # whole ways not split at their junctions: no turn possible there
        typer.echo(
            f"warning: 有 {t_junctions} 个路段端点与另一路段中部相距不到 {NEAR_MISS_M:g} 米，"
            "那里却没有路口：路线无法在那里转弯，经过那里的巡查会少计长度（整条道路组成的路网须在"
            "相交处打断） "
            f"{t_junctions} segment ends lie within {NEAR_MISS_M:g} m of "
            "another segment's middle, with no junction there: routes cannot turn there, so "
            "walks through them lose metres (a network of whole ways must be split where "
            "they meet)",
            err=True,
        )
    twice = duplicate_edges(net)
    if twice:
        shown = [f"{net.edge_ids[a]} & {net.edge_ids[b]}" for a, b in twice[:2]]
        pairs, pairs_zh = ", ".join(shown), "、".join(s.replace(" & ", " 与 ") for s in shown)
        typer.echo(
            f"warning: 有 {len(twice)} 对路段几何相同（正向或反向，每个点相距不到 "
            f"{SAME_M:g} 米），如 {pairs_zh}：同一条街巷画了两次（可能每个方向各一次），走过的"
            "街巷可能记在任一份上，往返走过的会两份都计入，按路段汇总会重复计算；请删去重复的"
            f"一份 {len(twice)} pair{'s' if len(twice) > 1 else ''} of segments have the "
            "same geometry (either direction, "
            f"within {SAME_M:g} m at every point), e.g. {pairs}: a street drawn twice "
            "(perhaps once each way) is credited on either copy, on both when walked there "
            "and back, so totals per segment count it twice; remove one copy",
            err=True,
        )


# two segments whose every point lies this close to the other are one street drawn twice
SAME_M = 0.5


def duplicate_edges(net: WalkNetwork) -> list[tuple[int, int]]:
    """Pairs of edges (internal indices, in file order) with the same geometry, drawn either
    way: between the same two nodes (ends within the network's snap distance are one node),
    every point of each within ``SAME_M`` of the other (Hausdorff distance). WHY: a network
    with each street drawn once per direction (ids ``N-f``/``N-r``) was taken without a word,
    and a spur walked in and out was credited on both copies (T54 #8)."""
    import numpy as np
    import shapely

    if len(net.u) < 2:
        return []
    lo, hi = np.minimum(net.u, net.v), np.maximum(net.u, net.v)
    key = lo * max(net.n_nodes, 1) + hi
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    left: list[int] = []
    right: list[int] = []
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
        group = order[start : start + size]
        for i in range(size):
            for j in range(i + 1, size):
                left.append(int(group[i]))
                right.append(int(group[j]))
    if not left:
        return []
    a, b = np.asarray(left), np.asarray(right)
    d = shapely.hausdorff_distance(net.geoms_m[a], net.geoms_m[b])
    same = d <= SAME_M
    return sorted(zip(a[same].tolist(), b[same].tolist(), strict=True))


def _text_ids_words(gdf: gpd.GeoDataFrame, out: Path, driver: str) -> str | None:
    """Say so when ids mixing numbers and strings were written as text: GeoJSON keeps each
    id's type (:func:`geo.vector_io.write_vector`), a GeoPackage or CSV column holds one."""
    from geo.vector_io import mixed_type_columns

    if driver != "GeoJSON" and EDGE_ID in mixed_type_columns(gdf):
        return (
            f"路网的 {EDGE_ID} 混有数字和文本；{out.name} 把它们都存为文本（.geojson "
            "会保留各自的类型） "
            f"the network's {EDGE_ID} mixes numbers and strings; {out.name} holds "
            f"them all as text (.geojson keeps each one's type)"
        )
    return None


def _datum_words(
    net: WalkNetwork, points: pd.DataFrame, crs: str, network_crs: str, matched: int
) -> str | None:
    """The upload path's datum hint (:mod:`geo.tracks.datum`) as one warning's words: a track in
    another datum still matches, to the wrong streets, so exit code and output stay as asked.
    ``matched``: the segments matched (none: the hint says nothing was matched, not that the
    alleys matched are wrong: T41 #4). Else, the other way round, the network's: a track that
    fits the network far better moved into GCJ-02 or BD-09 says the network file is drawn in
    that datum (``--network-crs``; T54 #3: a 高德-based network file and an honest GPS track
    matched 7 wrong edges with nothing said). None: nothing to say."""
    from geo.tracks.datum import DATUMS

    hint = _datum_hint(net, points, crs)
    drawn = _network_datum_hint(net, points, network_crs)
    if hint is not None:
        # its remedy once, as this command takes it (T37 F14: crs=… too, the API's)
        todo_zh, todo = hint.cli_remedy("match")
        if drawn is not None:
            # the same shift either way (a network declared gcj02 that is GPS): which file
            # is off, only the user knows, so both remedies
            opt, other = f"--network-crs {drawn.name}", DATUMS[drawn.crs]
            todo_zh += f"；若是路网画在 {other} 中，则请改用 {opt}"
            todo += f"; or, if the network is the one drawn in {other}, with {opt}"
        return hint.message((todo_zh, todo), MATCHED, matched, MATCHED_NONE)
    return None if drawn is None else _network_datum_words(drawn, matched)


def _network_datum_hint(net: WalkNetwork, points: pd.DataFrame, network_crs: str):
    """:func:`geo.tracks.datum.network_datum_hint` of a parsed track (None without fixes)."""
    from geo.tracks.datum import network_datum_hint

    if not len(points):
        return None
    lon, lat = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
    return network_datum_hint(net, lon, lat, network_crs)


def _network_datum_words(hint: Any, matched: int) -> str:
    """The network datum hint (a :class:`geo.tracks.datum.DatumHint` whose ``crs`` is the
    datum the network looks drawn in), Chinese first, ending in ``--network-crs``."""
    from geo.tracks.datum import DATUMS

    mine, other = DATUMS[hint.declared], DATUMS[hint.crs]
    near, far = round(hint.declared_m, 1), round(hint.other_m, 1)
    opt = f"--network-crs {hint.name}"
    wrong_zh, wrong = (
        ("匹配出的街巷多半不是您走过的，输出的几何也不是 WGS-84", "the alleys matched are most "
         "likely not the ones walked, and the output's geometry is not WGS-84")
        if matched else MATCHED_NONE
    )  # fmt: skip
    return (
        f"路网坐标像是 {other}，不是 {mine}：定位点离路网的街巷平均 {near:.0f} 米，把路网按 "
        f"{hint.name} 读为 {far:.0f} 米；{wrong_zh}：请用 {opt} 重新匹配 "
        f"the network looks drawn in {other}, not {mine}: the fixes lie {near:.0f} m from its "
        f"streets on average, {far:.0f} m with the network read as {hint.name}; {wrong}: "
        f"match it again with {opt}"
    )


def upload_checks(path: Path, crs: str, settings: Settings | None = None) -> ParsedTrack:
    """The checks ``tracks upload`` / ``POST /tracks`` make before a new file is stored
    (:func:`geo.track_store._store`): size (``GRIDWARD_MAX_UPLOAD_BYTES``), datum, parsing
    (zone-less times in ``GRIDWARD_TIMEZONE``), at least one timed point, and times neither
    in the future nor out of order. InputError with upload's message otherwise.

    WHY the same calls in the same order: ``check`` must say OK exactly when upload would take
    the file. Not checked: what only the database knows (the person, "already stored")."""
    from geo.settings import get_settings
    from geo.track_times import check_upload

    s = settings or get_settings()
    data = read_track_file(path, s.max_upload_bytes)  # as `tracks upload` reads it
    return check_upload(data, path.name, crs, s)


@tracks_app.command("check")
def check(
    files: list[Path] = typer.Argument(
        ...,
        help="待检查的轨迹文件 Track files to check "
        "(GPX, KML/KMZ, GeoJSON, CSV/TSV, .xlsx, .ods, NMEA).",
    ),
    crs: str = typer.Option("wgs84", "--crs", help=CRS_HELP),
    mode: str = typer.Option("walk", "--mode", help="出行方式 walk or bike."),
) -> None:
    """检查轨迹文件 Check track files as upload would, without storing them: OK or the reason.

    The same checks as `gridward tracks upload` (size limit GRIDWARD_MAX_UPLOAD_BYTES, datum,
    parsing with GRIDWARD_TIMEZONE, times not in the future nor out of order), then cleaning;
    with a database running, its streets say when the file looks like another datum."""
    from geo.match_words import why_nothing_matched
    from geo.settings import get_settings
    from geo.tracks.clean import CleanParams, clean_with_report
    from geo.tracks.match import MatchParams

    if mode not in ("walk", "bike"):
        raise InputError(
            f"出行方式 '{mode}' 有误，请用 walk（步行）或 bike（骑行） "
            f"unknown mode '{mode}': use walk or bike"
        )
    s = get_settings()
    net = _stored_network(s)
    bad = 0
    for f in files:
        try:
            p = upload_checks(f, crs, s)
            clean = CleanParams(mode=mode, max_accuracy_m=s.max_accuracy_m)
            pieces, rep = clean_with_report(p.points, clean)
            notes = list(p.warnings)
            hint = _datum_hint(net, p.points, crs)
            if hint is not None:
                # its remedy once, as the command line takes it (T37 F14)
                # no fix left after cleaning: an upload credits nothing (T41 #4)
                said = hint.message(
                    hint.cli_remedy("check"),
                    TO_CREDIT,
                    0 if rep.points_out == 0 else None,
                    TO_CREDIT_NONE,
                )
                notes.append(f"warning: {said}")
            if rep.points_out == 0:  # stored as upload would, but nothing in it to match
                notes.append(f"warning: {why_nothing_matched(rep, clean, MatchParams())}")
            # Chinese first, then the status word and the file, the details in Chinese, the
            # same in English, then the warnings (each Chinese first)
            typer.echo(
                f"可上传 OK    {f}: {p.format}，{len(p.points)} 个定位点，清洗后保留 "
                f"{rep.points_out} 个，{len(pieces)} 个轨迹段 "
                f"{p.format}, {len(p.points)} points, {rep.points_out} kept, "
                f"{len(pieces)} piece(s)" + (f"; {'; '.join(notes)}" if notes else "")
            )
        except InputError as exc:
            bad += 1
            typer.echo(f"不能上传 ERROR {f}: {chinese_first(exc.message, exc.status_code)}")
    if bad:
        # an InputError (not typer.Exit) so the exit code is non-zero however the app is run
        raise InputError(
            f"{len(files)} 个轨迹文件中有 {bad} 个未通过检查，原因见上面各行 "
            f"{bad} of {len(files)} track file(s) rejected"
        )


def _stored_network(s: Settings) -> WalkNetwork | None:
    """The stored streets, when a database is there to read without starting one: upload
    compares a track with them for its datum hint, so check does too (an outside tester's
    GCJ-02 file was "OK" here and credited the wrong alleys when uploaded). None otherwise:
    the check is then about the file alone."""
    from geo.day_networks import walk_network
    from geo.db import database_url, get_engine

    try:
        return walk_network(get_engine(database_url(s, start=False)))
    except Exception:  # no database, not running, or no streets yet
        return None


def _datum_hint(net: WalkNetwork | None, points: pd.DataFrame, crs: str):  # -> DatumHint | None
    """:func:`geo.tracks.datum.datum_hint` of a parsed track (None without a network)."""
    from geo.tracks.datum import datum_hint

    if net is None or not len(points):
        return None
    return datum_hint(net, points["lon"].to_numpy(float), points["lat"].to_numpy(float), crs)


def register(app: typer.Typer) -> None:
    """Add ``match`` and the ``tracks`` group to the gridward app."""
    app.command("match")(match)
    app.add_typer(tracks_app, name="tracks")

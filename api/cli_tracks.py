"""File-mode track commands: ``gridward match`` and ``gridward tracks check``.

No database: a network file and a track file in, matched edges out. The lead's DB-backed
``tracks upload`` and ``report`` commands attach to the same ``tracks`` group (``tracks_app``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from geo.errors import InputError

tracks_app = typer.Typer(help="Patrol tracks 巡查轨迹: check, upload.", no_args_is_help=True)


def _read(path: Path, max_bytes: int) -> bytes:
    from geo.tracks.parse import read_limited

    if not path.is_file():
        raise InputError(f"file not found: {path}")
    with path.open("rb") as fh:
        return read_limited(fh, max_bytes)


def match(
    network: Path = typer.Option(
        ..., "--network", help="GeoJSON of LineString segments with a unique edge_id."
    ),
    track: Path = typer.Option(
        ..., "--track", help="Track file: .csv (lon,lat,time), .gpx or .geojson."
    ),
    out: Path = typer.Option(..., "--out", help="Output GeoJSON of matched edges."),
    crs: str = typer.Option(
        "wgs84", "--crs", help="Datum of the track: wgs84, gcj02, bd09 or EPSG."
    ),
    mode: str = typer.Option(
        "walk", "--mode", help="walk or bike (cleaning speeds, matcher defaults)."
    ),
    max_mb: float = typer.Option(20.0, "--max-mb", help="Size limit of the track file in MB."),
) -> None:
    """Map-match one track to a network file (匹配轨迹到路网): matched edges with covered share."""
    import geopandas as gpd
    from rich.console import Console

    from geo.tracks.clean import CleanParams, clean_with_report
    from geo.tracks.match import MatchParams, match_track
    from geo.tracks.network import WalkNetwork
    from geo.tracks.parse import parse_track

    if mode not in ("walk", "bike"):
        raise InputError(f"unknown mode '{mode}': use walk or bike")
    err = Console(stderr=True)
    with err.status("reading network 读取路网…"):
        if not network.is_file():
            raise InputError(f"network file not found: {network}")
        try:
            segs = gpd.read_file(network)
        except Exception as exc:  # pyogrio raises several types for unreadable files
            raise InputError(f"cannot read network {network}: {exc}") from None
        net = WalkNetwork.from_segments(segs, "edge_id")
    with err.status("parsing and cleaning track 解析轨迹…"):
        parsed = parse_track(_read(track, int(max_mb * 1024 * 1024)), track.name, crs=crs)
        pieces, rep = clean_with_report(parsed.points, CleanParams(mode=mode))
    with err.status("matching 匹配中…"):
        res = match_track(net, pieces, MatchParams.for_mode(mode))
    geom = dict(zip(net.edge_ids.tolist(), net.geoms_wgs84, strict=True))
    edges = res.edges.copy()
    for c in ("first_time", "last_time"):
        edges[c] = edges[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    gdf = gpd.GeoDataFrame(edges, geometry=[geom[e] for e in edges["edge_id"]], crs="EPSG:4326")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    gdf.to_file(out, driver="GeoJSON")
    walked = float((edges["covered_m"]).sum()) if len(edges) else 0.0
    typer.echo(
        f"points 点数 {res.total_points} (of {len(parsed.points)} parsed) · matched 已匹配 "
        f"{res.matched_points} · pieces 分段 {res.pieces} · edges 路段 {len(edges)} · "
        f"walked 步行 {walked:,.0f} m · σ {res.sigma_m:.1f} m"
    )
    dropped = {k: v for k, v in rep.as_dict().items() if k not in ("gaps",) and v}
    typer.echo(f"cleaning 清洗: {dropped}")
    for w in parsed.warnings:
        typer.echo(f"warning 警告: {w}")
    typer.echo(f"wrote {out}")


@tracks_app.command("check")
def check(
    files: list[Path] = typer.Argument(
        ..., help="Track files to check (GPX, KML/KMZ, GeoJSON, CSV)."
    ),
    crs: str = typer.Option("wgs84", "--crs", help="Datum of the tracks."),
    mode: str = typer.Option("walk", "--mode", help="walk or bike."),
) -> None:
    """Parse and clean track files without storing them (检查轨迹文件): OK or the reason."""
    from geo.tracks.clean import CleanParams, clean_with_report
    from geo.tracks.parse import parse_track

    bad = 0
    for f in files:
        try:
            p = parse_track(_read(f, 20 * 1024 * 1024), f.name, crs=crs)
            pieces, rep = clean_with_report(p.points, CleanParams(mode=mode))
            typer.echo(
                f"OK    {f}: {p.format}, {len(p.points)} points, {rep.points_out} kept, "
                f"{len(pieces)} piece(s)" + (f"; {'; '.join(p.warnings)}" if p.warnings else "")
            )
        except InputError as exc:
            bad += 1
            typer.echo(f"ERROR {f}: {exc.message}")
    if bad:
        # an InputError (not typer.Exit) so the exit code is non-zero however the app is run
        raise InputError(f"{bad} of {len(files)} track file(s) rejected")


def register(app: typer.Typer) -> None:
    """Add ``match`` and the ``tracks`` group to the gridward app."""
    app.command("match")(match)
    app.add_typer(tracks_app, name="tracks")

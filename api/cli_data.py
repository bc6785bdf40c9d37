"""``gridward import`` and ``gridward export``: real data in and out of PostGIS."""

from __future__ import annotations

from pathlib import Path

import typer

import_app = typer.Typer(help="Import data into PostGIS. 导入数据", no_args_is_help=True)

CRS_HELP = "CRS of the coordinates: wgs84 (default), gcj02, bd09, cgcs2000, or EPSG:xxxx"


def _show(counts: dict[str, int]) -> None:
    typer.echo(", ".join(f"{k}={v}" for k, v in counts.items()))


@import_app.command("osm")
def import_osm(
    file: Path = typer.Argument(..., help="OSM XML (.osm) or PBF (.osm.pbf) file"),
) -> None:
    """Import streets, alleys and buildings from an OpenStreetMap extract. 导入OSM"""
    from api.progress import progress_bar
    from geo.db import get_engine
    from geo.importer import import_osm as run

    engine = get_engine()
    with progress_bar("import osm") as bar:
        counts = run(engine, file, progress=bar)
    _show(counts)


@import_app.command("areas")
def import_areas(
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile or CSV (WKT)"),
    crs: str = typer.Option(None, "--crs", help=CRS_HELP),
    level: str = typer.Option(
        None, "--level", help="district, subdistrict, township, community or village"
    ),
) -> None:
    """Import administrative areas (columns code, name, level). 导入行政区划"""
    from api.progress import progress_bar
    from geo.db import get_engine
    from geo.importer import import_areas as run

    engine = get_engine()
    with progress_bar("import areas") as bar:
        counts = run(engine, file, crs=crs, level=level, progress=bar)
    _show(counts)


@import_app.command("buildings")
def import_buildings(
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile or CSV (WKT)"),
    crs: str = typer.Option(None, "--crs", help=CRS_HELP),
) -> None:
    """Import building footprints (households given, or estimated). 导入楼栋"""
    from api.progress import progress_bar
    from geo.db import get_engine
    from geo.importer import import_buildings as run

    engine = get_engine()
    with progress_bar("import buildings") as bar:
        counts = run(engine, file, crs=crs, progress=bar)
    _show(counts)


@import_app.command("households")
def import_households(
    file: Path = typer.Argument(..., help="CSV (building_id or lon/lat, households) or vector"),
    crs: str = typer.Option(None, "--crs", help=CRS_HELP),
) -> None:
    """Set given household counts on existing buildings. 导入户数"""
    from api.progress import progress_bar
    from geo.db import get_engine
    from geo.importer import import_households as run

    engine = get_engine()
    with progress_bar("import households") as bar:
        counts = run(engine, file, crs=crs, progress=bar)
    _show(counts)


@import_app.command("people")
def import_people(
    file: Path = typer.Argument(..., help="CSV or XLSX: person_id, name, phone, role, lon/lat"),
) -> None:
    """Import the people registry (roles 网格长/专职网格员/街巷长/小巷管家). 导入人员"""
    from geo.db import get_engine
    from geo.staffing import import_people as run

    _show(run(get_engine(), file, actor="cli"))


def export(
    layer: str = typer.Argument(..., help="grids, buildings, segments, streets or areas"),
    out: Path = typer.Option(..., "--out", "-o", help="output .geojson or .gpkg"),
) -> None:
    """Export a stored layer to GeoJSON or GeoPackage. 导出"""
    from geo.db import get_engine
    from geo.export import export_layer

    n = export_layer(get_engine(), layer, out)
    typer.echo(f"wrote {n} {layer} to {out}")


def register(app: typer.Typer) -> None:
    """Add ``import`` and ``export``."""
    app.add_typer(import_app, name="import")
    app.command("export")(export)

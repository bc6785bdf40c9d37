"""Vector tiles /tiles/{layer}/{z}/{x}/{y}.pbf (Mapbox Vector Tile, made by PostGIS)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import Engine

from api.auth import allow
from api.deps import get_engine
from geo.errors import InputError
from geo.tiles import TILE_LAYERS, render_tile

router = APIRouter(tags=["layers"])

MVT = "application/vnd.mapbox-vector-tile"


def _int(name: str, value: str) -> int:
    # Parsed here, not by FastAPI, so that the error names the tile part as a bad layer's does.
    try:
        return int(value)
    except ValueError:
        got = value[:20]
        raise InputError(
            f"瓦片 {name} 须为整数（现为 '{got}'） tile {name} must be an integer, got '{got}'"
        ) from None


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.pbf",
    summary="Vector tile 矢量瓦片 (grids / buildings / segments)",
    description="Layers: " + ", ".join(TILE_LAYERS) + ". Web Mercator XYZ tile addressing.",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 422: {"description": "bad layer or tile address"}},
    dependencies=[Depends(allow("viewer", "steward"))],
)
def tile(layer: str, z: str, x: str, y: str, engine: Engine = Depends(get_engine)) -> Response:
    # A bad layer or address is the app's 422 for bad input (InputError), as every other
    # route's bad path or query value is. WHY: it was a 400 ("a path, not a form"), which no
    # tile client tells apart from a 422, while an app handling the API's errors met the one
    # route that differed (T40 #15).
    data = render_tile(engine, layer, _int("z", z), _int("x", x), _int("y", y))
    return Response(
        content=data,
        media_type=MVT,
        headers={"Cache-Control": "public, max-age=60"},
    )

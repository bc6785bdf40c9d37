"""File-mode partition: its input files' coordinates (outside tester T64 #1, #2): metres
in a file without a CRS, a WGS-84 file beside files of the projected CRS --crs names, streets
of no use. Layouts are built in tmp_path from tests.test_partition.layout; a run that a
script would see (exit code, one ``error:`` line) goes through a subprocess. The helpers here
serve tests.test_partition_file_areas and tests.test_partition_file_edges too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import mapping
from typer.testing import CliRunner

from api.cli import app
from tests.test_import import GRIDWARD
from tests.test_partition import layout

REPO = Path(__file__).resolve().parents[1]
X0, Y0 = 440_000.0, 4_430_000.0  # the south-west corner of every layout (UTM 50N)
_TO_GK = Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True)


def _gk(g: shapely.Geometry) -> shapely.Geometry:
    """WGS-84 → CGCS2000 3-degree Gauss-Krüger CM 117E (EPSG:4548), metres."""
    return shapely.transform(g, lambda c: np.column_stack(_TO_GK.transform(c[:, 0], c[:, 1])))


def _geojson(path: Path, geoms, props: list[dict] | None = None) -> Path:  # noqa: ANN001
    """A GeoJSON FeatureCollection as a GIS writes it without a ``crs`` member (RFC 7946:
    read as WGS-84, whatever its coordinates are)."""
    geoms = list(geoms)
    props = props or [{} for _ in geoms]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": mapping(g), "properties": p}
            for g, p in zip(geoms, props, strict=True)
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _city(nx: int = 3, ny: int = 2):  # noqa: ANN202
    return layout(nx, ny, [[45, 60, 30, 75, 55, 40]])


def _buildings_props(b: gpd.GeoDataFrame) -> list[dict]:
    return [{"id": f"B{i}", "households": int(h)} for i, h in enumerate(b["households"], 1)]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*GRIDWARD, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def _one_error(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), res.stderr
    return lines[0]


def _warnings(res) -> list[str]:  # noqa: ANN001
    return [x for x in res.stderr.splitlines() if x.startswith("warning:")]


BOUNDS = ["--min-households", "300", "--max-households", "500"]


# --------------------------------------------------------------------- #1, #2: coordinates
@pytest.mark.parametrize("which", ["area", "buildings", "streets"])
def test_metres_in_a_file_without_a_crs_are_one_error_line_naming_it(tmp_path, which) -> None:
    """T64 #1: an area in Gauss-Krüger metres in a GeoJSON without a CRS ended in a traceback
    (exit 1); buildings or streets so were read as degrees too. Each file is checked: exit 2,
    one error: line naming the file, Chinese first, saying to declare the CRS with --crs."""
    area, b, s = _city()
    files = {
        "area": ([area], [{"code": "110108015003"}]),
        "buildings": (b.geometry, _buildings_props(b)),
        "streets": (s.geometry, None),
    }
    paths = {}
    for what, (geoms, props) in files.items():
        geoms = [_gk(g) if what == which else g for g in geoms]
        paths[what] = _geojson(tmp_path / f"{what}.geojson", geoms, props)
    out = tmp_path / "grids.geojson"
    args = ["partition", *(x for w, p in paths.items() for x in (f"--{w}", str(p)))]
    line = _one_error(_run([*args, *BOUNDS, "--out", str(out)]))
    what_zh = {"area": "区域", "buildings": "楼栋", "streets": "街巷"}[which]
    assert line.startswith(f"error: {what_zh}文件 {paths[which]} 的坐标（如 "), line
    assert "超出经纬度范围" in line and "请用 --crs 声明其坐标系" in line, line
    assert f"{which} file {paths[which]}: coordinates outside longitude/latitude range" in line
    assert "declare the file's CRS with --crs" in line, line
    assert not out.exists()


def _mixed(tmp_path: Path, streets_deg: gpd.GeoSeries) -> list[str]:
    """Area and buildings in EPSG:4548 metres without a CRS, streets as given (degrees)."""
    area, b, _s = _city()
    a = _geojson(tmp_path / "area.geojson", [_gk(area)], [{"code": "110108015003"}])
    bl = _geojson(tmp_path / "buildings.geojson", map(_gk, b.geometry), _buildings_props(b))
    st = _geojson(tmp_path / "streets.geojson", streets_deg)
    return ["partition", "--area", str(a), "--buildings", str(bl), "--streets", str(st),
            "--crs", "EPSG:4548", *BOUNDS]  # fmt: skip


def test_crs_names_a_projected_crs_and_the_streets_are_degrees(tmp_path) -> None:
    """T64 #2: --crs EPSG:4548 converted a WGS-84 streets file too, which landed near the
    equator: street share 0.0, no word. A file all in longitude/latitude range is read as
    WGS-84 with a warning naming it, and the grids follow its streets as they do when every
    file is in WGS-84."""
    area, b, s = _city()
    out = tmp_path / "grids.geojson"
    res = CliRunner().invoke(app, [*_mixed(tmp_path, s.geometry), "--out", str(out)])
    assert res.exit_code == 0, res.output
    streets = tmp_path / "streets.geojson"
    notes = _warnings(res)
    assert len(notes) == 1, res.stderr
    assert notes[0].startswith(f"warning: 街巷文件 {streets} 的坐标都在经纬度范围内"), notes
    assert "not in the projected CRS EPSG:4548 --crs names: read as WGS-84" in notes[0]
    share = json.loads(out.read_text(encoding="utf-8"))["summary"]["street_boundary_share"]
    wgs = tmp_path / "wgs"
    wgs.mkdir()
    a = _geojson(wgs / "area.geojson", [area], [{"code": "110108015003"}])
    bl = _geojson(wgs / "buildings.geojson", b.geometry, _buildings_props(b))
    st = _geojson(wgs / "streets.geojson", s.geometry)
    args = ["partition", "--area", str(a), "--buildings", str(bl), "--streets", str(st)]
    res = CliRunner().invoke(app, [*args, *BOUNDS, "--out", str(wgs / "g.geojson")])
    assert res.exit_code == 0, res.output
    want = json.loads((wgs / "g.geojson").read_text(encoding="utf-8"))["summary"]
    assert want["street_boundary_share"] > 0.5
    assert share == pytest.approx(want["street_boundary_share"], abs=1e-3)


def test_streets_none_of_which_lies_in_the_area_are_a_warning(tmp_path) -> None:
    """T64 #2: streets of no use (another place, a wrong CRS) were dropped without a word;
    now one warning: line says none lies in the area and the grids cannot follow streets."""
    _area, _b, s = _city()
    far = [shapely.affinity.translate(g, 0.05, 0) for g in s.geometry]  # about 4 km east
    out = tmp_path / "grids.geojson"
    args = _mixed(tmp_path, far)
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    streets = tmp_path / "streets.geojson"
    notes = [x for x in _warnings(res) if "没有一条在区域内" in x]
    assert len(notes) == 1, res.stderr
    assert notes[0].startswith(f"warning: 街巷文件 {streets} 的 {len(far)} 条街巷没有一条在区域内")
    assert f"none of its {len(far)} streets lies in the area" in notes[0], notes
    assert "the grids cannot follow streets" in notes[0], notes
    # streets in the area: no such line
    res = CliRunner().invoke(app, [*_mixed(tmp_path, s.geometry), "--out", str(out)])
    assert res.exit_code == 0 and "没有一条在区域内" not in res.stderr, res.stderr

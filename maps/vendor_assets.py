"""Vendor the map pages' and the API docs' JavaScript/CSS from the npm registry into
``maps/static/vendor``.

Why: the pages must work with no internet (offices, CI), so folium's default CDN links are
replaced by files served by the app itself (see :mod:`maps.assets`). This script is the one
way those files get into the repository: ``npm pack`` (which checks the registry's integrity
hash) of pinned versions, then copy only the files the pages load, with their licences.

Run: ``.venv/bin/python maps/vendor_assets.py`` (needs ``npm`` and the npm registry).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"

# package@version → (files to copy from the package, licence text if the package has none)
PACKAGES: dict[str, tuple[list[str], str | None]] = {
    "leaflet@1.9.3": (
        [
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
            "LICENSE",
        ],
        None,
    ),
    "leaflet-draw@1.0.4": (
        [
            "dist/leaflet.draw.js",
            "dist/leaflet.draw.css",
            "dist/images/spritesheet.png",
            "dist/images/spritesheet-2x.png",
            "dist/images/spritesheet.svg",
        ],
        # The npm package ships no licence file; its package.json says MIT and the upstream
        # repository's MIT-LICENSE.md reads as follows.
        "Copyright 2012-2017 Jon West, Jacob Toye, and Leaflet\n\n"
        "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
        'software and associated documentation files (the "Software"), to deal in the Software '
        "without restriction, including without limitation the rights to use, copy, modify, "
        "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
        "permit persons to whom the Software is furnished to do so, subject to the following "
        "conditions:\n\nThe above copyright notice and this permission notice shall be "
        "included in all copies or substantial portions of the Software.\n\n"
        'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, '
        "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A "
        "PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT "
        "HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF "
        "CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE "
        "OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n",
    ),
    # /docs and /redoc (api/app.py): FastAPI's pages loaded these from cdn.jsdelivr.net and
    # were blank offline, on government intranets and behind the Great Firewall (T40 #3).
    # swagger-ui-dist 5 and redoc 2 are the majors FastAPI's own pages load.
    "swagger-ui-dist@5.35.0": (
        [
            "swagger-ui-bundle.js",
            "swagger-ui-bundle.js.LICENSE.txt",
            "swagger-ui.css",
            "favicon-32x32.png",
            "LICENSE",
            "NOTICE",
        ],
        None,
    ),
    "redoc@2.5.4": (
        [
            "bundles/redoc.standalone.js",
            "bundles/redoc.standalone.js.LICENSE.txt",
            "LICENSE",
        ],
        None,
    ),
}
# folders of a package whose files are copied to its vendor folder's top
_FLATTENED = ("dist/", "bundles/")


def vendor(spec: str, files: list[str], licence: str | None, work: Path) -> None:
    name, version = spec.rsplit("@", 1)
    out = subprocess.run(
        ["npm", "pack", "--json", spec], cwd=work, capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)[0]
    tgz = work / info["filename"]
    dest = VENDOR / name
    if dest.exists():
        shutil.rmtree(dest)
    with tarfile.open(tgz) as tar:
        for rel in files:
            member = tar.extractfile(f"package/{rel}")
            if member is None:
                raise SystemExit(
                    f"{spec}：包中缺少文件（{rel}） {spec}: {rel} missing from the package"
                )
            target = dest / next(
                (rel.removeprefix(f) for f in _FLATTENED if rel.startswith(f)), rel
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
    if licence is not None:
        (dest / "LICENSE").write_text(licence, encoding="utf-8")
    (dest / "SOURCE.txt").write_text(
        f"npm package {name}@{version}\nintegrity {info['integrity']}\n", encoding="utf-8"
    )
    where = dest.relative_to(VENDOR.parents[2])
    print(f"{spec}：{len(files)} 个文件 → {where}（已复制） {spec}: {len(files)} files → {where}")


def main() -> int:
    if shutil.which("npm") is None:
        print("error: 未安装 npm npm is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (files, licence) in PACKAGES.items():
            vendor(spec, files, licence, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The report texts the district's text reviewer (outside tester T71, 林老师, 文字审校) read:
what the notes say and how, as a Chinese office reads them.

The demo network and communities (:func:`tests.test_tracks_db.demo`), imported for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from geo.areas_import import import_areas
from geo.report_notes import days_named, reimport_clauses
from tests.conftest import FIXTURES
from tests.test_tracks_db import demo  # noqa: F401 (a fixture)


def _clauses(db: Any, cut: Any) -> tuple[list[str], list[str]]:
    with db.connect() as conn:
        return reimport_clauses(conn, cut, days_named(ZoneInfo("Asia/Shanghai")))


def test_an_areas_import_that_wrote_nothing_is_no_change(demo: Any, tmp_path: Path) -> None:  # noqa: F811
    """#18: ``gridward import areas`` of the same file (写入 0) was named in every closed
    report and the signed copy as 重新导入区域, a change that may move the figures; one that
    renames a community still is, as 重新导入区划."""
    with demo.connect() as conn:
        cut = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    same = import_areas(demo, FIXTURES / "communities.geojson", level="community")
    assert (same["areas_written"], same["parents"]) == (0, 0)
    assert _clauses(demo, cut) == ([], [])

    doc = json.loads((FIXTURES / "communities.geojson").read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["name"] = "清华园西北新社区"
    renamed = tmp_path / "communities.geojson"
    renamed.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert import_areas(demo, renamed, level="community")["areas_written"] == 1
    zh, en = _clauses(demo, cut)
    assert len(zh) == 1 and zh[0].endswith(" 重新导入区划（社区、街道行按现在的边界计）"), zh
    assert en[0].startswith("the areas were re-imported on "), en


def _about_rows(period: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """The XLSX 报表 sheet's rows (item → value) of ``period`` with ``summary``."""
    from geo.report_export import _about

    return dict(_about(period, 0.8, summary).to_numpy().tolist())


def _running_week() -> Any:
    import datetime as dt

    from geo.report_period import report_period

    return report_period("weekly", dt.date(2026, 11, 27), dt.date(2026, 11, 27))


SUMMARY = {"pending": 100, "notes": [], "area": None, "data_as_of": None, "signed": None}


def test_the_pending_row_gives_its_count_in_both_languages() -> None:
    """#23: the XLSX 待巡 row said 100 in Chinese and no number in English."""
    said = _about_rows(_running_week(), SUMMARY)["待巡 pending"]
    assert "100 street/alley-days of today" in said, said

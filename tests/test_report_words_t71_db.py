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


def test_beijing_time_in_the_chinese_and_the_zone_id_in_the_english(monkeypatch: Any) -> None:
    """#21: the Chinese said Asia/Shanghai (an IANA id is jargon to an office, which says
    北京时间); the English keeps the id, and another zone is its id in both."""
    import datetime as dt

    import pytest

    from geo.errors import InputError
    from geo.report_export import local_text
    from geo.report_signoffs import closed_period
    from geo.settings import get_settings

    at = "2026-11-26T19:40:12+00:00"
    assert local_text(at) == "2026-11-27 03:40:12（北京时间 Asia/Shanghai）"
    assert local_text(at, lang="zh") == "2026-11-27 03:40:12（北京时间）"
    assert local_text(at, seconds=False, lang="en") == "2026-11-27 03:40 Asia/Shanghai"
    zone = _about_rows(_running_week(), SUMMARY)["时区 time zone"]
    assert zone.startswith("首次时间、末次时间均为北京时间，按北京时间分日 first_time"), zone
    assert zone.endswith("local times in Asia/Shanghai, and days are Asia/Shanghai days"), zone
    with pytest.raises(InputError) as got:
        closed_period("daily", dt.date(2026, 11, 27), dt.date(2026, 11, 27))
    assert "（北京时间）" in str(got.value) and "(Asia/Shanghai)" in str(got.value), got.value
    monkeypatch.setenv("GRIDWARD_TIMEZONE", "Europe/Berlin")
    get_settings.cache_clear()
    try:
        assert local_text(at) == "2026-11-26 20:40:12 Europe/Berlin"
        assert local_text(at, lang="zh") == "2026-11-26 20:40:12 Europe/Berlin"
        zone = _about_rows(_running_week(), SUMMARY)["时区 time zone"]
        assert zone.startswith("Europe/Berlin：首次时间、末次时间均为 Europe/Berlin 当地时间")
    finally:
        monkeypatch.delenv("GRIDWARD_TIMEZONE")
        get_settings.cache_clear()


def test_the_whole_city_is_named_as_everywhere_else() -> None:
    """#31: the XLSX said 全部 all areas where the web, the CLI and the signed list say
    全市 whole city."""
    assert _about_rows(_running_week(), SUMMARY)["区域 area"] == "全市 whole city"


def test_the_alley_day_unit_is_explained_once_and_today_s_count_reads_as_a_sentence() -> None:
    """#22: 街巷·天 was explained nowhere, and 100 个街巷·天今天未完成 ran two phrases
    together."""
    from geo.patrol_reports import report_summary

    empty = {"people": [], "alleys": None}
    summary = report_summary(empty, _running_week())  # type: ignore[arg-type]
    said = [n for n in summary["notes"] if n.startswith("街巷·天：")]
    assert said == [
        "街巷·天：一条街巷在一天内的巡查任务，计为 1；周查、月评把各天的相加 "
        "street/alley-day: one street's or alley's patrol duty on one day, counted "
        "as 1; a weekly or monthly report adds up its days"
    ], summary["notes"]
    assert "今天有 0 项街巷·天尚未完成，不计入达标率" in summary["notes"][0], summary["notes"]
    rows = _about_rows(_running_week(), SUMMARY)
    assert rows["待巡 pending"] == (
        "今天有 100 项街巷·天尚未完成，不计入达标率 "
        "100 street/alley-days of today not done yet, in no rate"
    )


def test_the_threshold_has_one_name_and_one_form(demo: Any, tmp_path: Path) -> None:  # noqa: F811
    """#5: the XLSX said 达标比例 patrolled share 0.8 where the web says 达标线 … 80%."""
    import datetime as dt

    import openpyxl

    from geo.patrol_reports import build_report, share_text
    from geo.report_export import export_report
    from geo.report_period import report_period

    day, today = dt.date(2026, 11, 26), dt.date(2026, 11, 27)
    rep = build_report(demo, "daily", day, today=today)
    for share, form in ((0.8, "0%"), (0.875, "0.0%")):
        path = export_report(rep, tmp_path / "d.xlsx", report_period("daily", day, today), share)
        sheet = openpyxl.load_workbook(path)["报表 report"]
        (cell,) = [r[1] for r in sheet.iter_rows(2) if r[0].value == "达标线 patrolled when"]
        assert (cell.value, cell.number_format) == (share, form)
    assert (share_text(0.8), share_text(0.875)) == ("80%", "87.5%")


def test_a_week_reads_from_to_with_zhi() -> None:
    """#30: 周查 weekly check 2026-11-23 – 2026-11-29 (an en dash in the Chinese) and the
    signing refusal's awkward … 到 2026-11-29 结束."""
    import datetime as dt

    import pytest

    from geo.errors import InputError
    from geo.report_signoffs import closed_period

    week = _running_week()
    assert week.title().startswith("周查 weekly check 2026-11-23 至 2026-11-29"), week.title()
    with pytest.raises(InputError) as got:
        closed_period("weekly", dt.date(2026, 11, 27), dt.date(2026, 11, 27))
    assert str(got.value).startswith(
        "报表期尚未结束，不能签发：周查（weekly）本期（2026-11-23 至 2026-11-29）到 2026-11-29 "
        "才结束（北京时间），今天是 2026-11-27；请在 2026-11-30 或之后签发 the weekly period "
        "2026-11-23 to 2026-11-29 is still running"
    ), got.value


def test_a_signing_on_the_command_line_names_no_os_account_as_a_person() -> None:
    """#39: the signed copy said 由 cli:root 签发; the stored signer stays cli:root."""
    from geo.report_export import signer_text

    summary = {
        **SUMMARY,
        "signed": {
            "id": 1,
            "version": 1,
            "signed_at": "2026-11-27T01:00:00+00:00",
            "signed_by": "cli:root",
            "copy": True,
        },
    }
    said = _about_rows(_running_week(), summary)["签发 signed"]
    assert said == (
        "签发件：第 1 版，2026-11-27 09:00:00（北京时间）由命令行（系统账号 root）签发"
        "（编号 id:1） "
        "the signed copy: version 1, signed at 2026-11-27 09:00:00 Asia/Shanghai by the command "
        "line (system account root) (id 1)"
    ), said
    assert signer_text("admin") == ("admin", "admin")

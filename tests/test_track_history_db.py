"""A track's history from the audit log (geo.track_history, outside tester T69 #4): a walk
withdrawn and restored kept nothing on ``GET /tracks/{id}`` that said it had ever been
withdrawn, by whom, when or why (``withdrawn: null``, only its ``matches``), and the audit
log that had it has no HTTP route, so an evaluator (孙科长, API and pages only) could not
settle "who took my walk away". Now the track's ``history`` gives each withdrawal, restore,
reassignment and refused re-send with its time (+08:00), action, account and reason; a
steward reading her own walk sees officials named, not another steward; the patrol map says
a restored walk was once withdrawn. On the demo city (``gridward demo``: yesterday's walks),
real PostGIS, each answer checked against /openapi.json with every object closed."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from geo.settings import city_today
from tests.test_api_answer_schemas_db import Contract, _token, demo_city_readers

PATH = "/tracks/{track_id}"


@pytest.fixture(scope="module")
def town(engine) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The demo city with an account of each role (tests.test_api_answer_schemas_db), a
    planner of the whole district, and a second steward who walked yesterday (her account
    and one of her tracks); the first steward's track too."""
    for city in demo_city_readers(engine, "history", Contract):
        db = city["db"]
        with db.connect() as conn:
            mine = conn.execute(
                text("SELECT id FROM tracks WHERE person_id = :p ORDER BY id LIMIT 1"),
                {"p": city["person"]},
            ).scalar_one()
            other = conn.execute(
                text(
                    "SELECT t.id, t.person_id FROM tracks t JOIN assignments a ON "
                    "a.person_id = t.person_id AND a.role = 'alley_steward' "
                    "WHERE t.person_id <> :p AND t.status = 'matched' ORDER BY t.id LIMIT 1"
                ),
                {"p": city["person"]},
            ).one()
        city["heads"]["district"] = _token(db, "history-district", "planner", (city["district"],))
        city["heads"]["steward2"] = _token(db, "history-steward2", "steward", (), other.person_id)
        yield city | {"mine": mine, "other": other.id, "person2": other.person_id}


def _page(town: dict[str, Any], track: int, who: str) -> dict[str, Any]:
    """GET /tracks/{id} as ``who``, valid against its documented schema (closed)."""
    answer = town["client"].get(f"/tracks/{track}", headers=town["heads"][who])
    assert answer.status_code == 200, answer.text
    return town["contract"].check("get", PATH, answer)


def test_a_withdrawn_and_restored_walk_says_who_withdrew_it_when_and_why(town) -> None:  # noqa: ANN001
    """T69 #4 as she met it: a planner withdraws the steward's walk with a reason, an admin
    restores it; the evaluator (viewer) reads on the track who withdrew it, when, why and
    what it took away, and who restored it; the steward herself reads the same."""
    client, heads, track = town["client"], town["heads"], town["mine"]
    assert _page(town, track, "viewer")["history"] == []  # nothing done since its upload
    gone = client.delete(
        f"/tracks/{track}", params={"reason": "T69 测试撤回"}, headers=heads["district"]
    )
    assert gone.status_code == 200, gone.text
    gone = gone.json()
    back = client.post(
        f"/tracks/{track}/restore", json={"reason": "误撤 by mistake"}, headers=heads["admin"]
    )
    assert back.status_code == 200, back.text
    back = back.json()
    assert back["status"] == "matched", back

    page = _page(town, track, "viewer")
    assert page["withdrawn"] is None and page["status"] == "matched"  # as before: cleared
    restore, withdraw = page["history"]  # newest first, as ``matches``
    assert withdraw == {
        "audit_id": gone["audit_id"],
        "at": gone["withdrawn_at"],
        "action": "track.withdraw",
        "action_label": "撤回 withdrawn",
        "by": "history-district",
        "reason": "T69 测试撤回",
        "note": f"撤回时扣除巡查 {gone['visits']} 段、{gone['walked_m']:.1f} 米（巡查日 "
        f"{gone['days'][0]}） took away {gone['visits']} segment visits, "
        f"{gone['walked_m']:.1f} m (walked on {gone['days'][0]})",
    }
    assert gone["visits"] > 0 and gone["walked_m"] > 0
    assert gone["days"] == [page["started_at"][:10]]  # the walk's day (yesterday's walks)
    assert withdraw["at"].endswith("+08:00")  # the city's time, as every other time here
    assert restore["audit_id"] == back["audit_id"]
    assert dt.datetime.fromisoformat(restore["at"]) > dt.datetime.fromisoformat(withdraw["at"])
    assert (restore["action"], restore["action_label"]) == ("track.restore", "恢复 restored")
    assert (restore["by"], restore["reason"]) == ("history-admin", "误撤 by mistake")
    # the steward disputing it reads the same: officials are named to her
    assert _page(town, track, "steward")["history"] == page["history"]


def test_a_walk_given_to_her_names_officials_but_not_the_steward_it_was_from(town) -> None:  # noqa: ANN001
    """The second steward withdraws her walk (不是我走的 not mine), sends the same file again
    (refused: 409), an admin restores it and gives it to the first steward. The evaluator
    reads every step named (the refused re-send too, with whose it was); the first steward
    reads it as hers now: the admin's restore and reassignment named, the other steward's
    withdrawal without her account or reason, the people as 他人 / 本人, no refused file."""
    client, heads, track = town["client"], town["heads"], town["other"]
    gone = client.request(
        "DELETE", f"/tracks/{track}", json={"reason": "不是我走的"}, headers=heads["steward2"]
    )
    assert gone.status_code == 200, gone.text
    with town["db"].connect() as conn:
        raw, name = conn.execute(
            text("SELECT raw, filename FROM tracks WHERE id = :t"), {"t": track}
        ).one()
    again = client.post("/tracks", files=[("file", (name, raw))], headers=heads["steward2"])
    assert again.status_code == 409, again.text
    restored = client.post(f"/tracks/{track}/restore", headers=heads["admin"])
    assert restored.status_code == 200, restored.text
    given = client.patch(
        f"/tracks/{track}", json={"person_id": town["person"]}, headers=heads["admin"]
    )
    assert given.status_code == 200 and given.json()["changed"], given.text

    seen = _page(town, track, "viewer")["history"]
    assert [e["action"] for e in seen] == [
        "track.person",
        "track.restore",
        "track.refused",
        "track.withdraw",
    ]
    person, restore, refused, withdraw = seen
    assert (withdraw["by"], withdraw["reason"]) == ("history-steward2", "不是我走的")
    assert (refused["by"], refused["action_label"]) == (
        "history-steward2",
        "拒收同一巡查的文件 a file of this walk refused",
    )
    assert refused["note"].startswith(f"文件 {name}：轨迹 {track} 已撤回"), refused
    assert (restore["by"], restore["reason"]) == ("history-admin", None)
    with town["db"].connect() as conn:
        names = dict(
            conn.execute(
                text("SELECT id, name FROM people WHERE id IN (:a, :b)"),
                {"a": town["person"], "b": town["person2"]},
            ).all()
        )
    assert person["by"] == "history-admin" and person["note"].startswith(
        f"由 {names[town['person2']]}（"
    ), person
    assert f"改归 {names[town['person']]}（" in person["note"], person

    hers = _page(town, track, "steward")["history"]
    assert [e["action"] for e in hers] == ["track.person", "track.restore", "track.withdraw"]
    assert hers[0] | {"note": None} == person | {"note": None}
    assert hers[0]["note"] == "由 他人 改归 本人 from another person to you"
    assert hers[1] == restore
    assert (hers[2]["by"], hers[2]["reason"]) == (None, None)
    assert hers[2]["audit_id"] == withdraw["audit_id"] and hers[2]["note"] == withdraw["note"]
    # the walk's steward before is told nothing of it now (as before)
    assert client.get(f"/tracks/{track}", headers=heads["steward2"]).status_code == 403


def test_the_patrol_map_says_a_walk_was_withdrawn_and_restored(town) -> None:  # noqa: ANN001
    """The evaluator's patrol map of yesterday lists the restored walk as once withdrawn and
    says when, by whom and why under the list; a walk never withdrawn is not marked; the
    steward's own page says nothing of it (as for flags)."""
    client, heads, track = town["client"], town["heads"], town["mine"]
    gone = client.delete(
        f"/tracks/{track}", params={"reason": "复核 recheck"}, headers=heads["district"]
    )
    assert gone.status_code == 200, gone.text
    back = client.post(f"/tracks/{track}/restore", headers=heads["admin"])
    assert back.status_code == 200, back.text
    restore = _page(town, track, "viewer")["history"][0]
    assert restore["audit_id"] == back.json()["audit_id"]
    back_at = dt.datetime.fromisoformat(restore["at"]).strftime("%Y-%m-%d %H:%M")
    day = str(city_today() - dt.timedelta(days=1))
    page = client.get("/maps/patrols", params={"date": day}, headers=heads["viewer"])
    assert page.status_code == 200, page.text
    said = {
        int(m[1]): html.unescape(m[2])
        for m in re.finditer(
            r'<p class="gw-note gw-restored" data-track="(\d+)">(.*?)</p>', page.text
        )
    }
    # this walk, and only walks that were restored (another test's may be among them)
    assert track in said, said
    for other in said:
        assert "track.restore" in {e["action"] for e in _page(town, other, "viewer")["history"]}
    listed = [int(t) for t in re.findall(r'<option value="(\d+)">', page.text)]
    assert len(listed) > len(said), (listed, said)  # the walks never withdrawn: not marked
    assert said[track].startswith(f"↺ 轨迹 {track}（"), said
    zh, en = said[track].split(f" track {track}: ")
    at = dt.datetime.fromisoformat(gone.json()["withdrawn_at"]).strftime("%Y-%m-%d %H:%M")
    assert zh.startswith(f"↺ 轨迹 {track}（") and "）曾撤回，已恢复：" in zh, zh
    assert zh.endswith(
        f"{at} 由 history-district 撤回（原因：复核 recheck）；{back_at} 由 history-admin 恢复"
    ), zh
    assert en.startswith("once withdrawn, restored: withdrawn ") and en.endswith(
        f"withdrawn {at} by history-district (复核 recheck); restored {back_at} by history-admin"
    ), en
    assert f"轨迹 track {track} · " in page.text and "· 曾撤回 once withdrawn</option>" in page.text
    own = client.get("/maps/patrols", params={"date": day}, headers=heads["steward"])
    assert own.status_code == 200, own.text
    assert f'<option value="{track}">' in own.text  # her walk is drawn, and not said
    assert "gw-restored" not in own.text and "曾撤回" not in own.text

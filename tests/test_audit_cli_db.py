"""``gridward audit``: the audit log for admins, newest first, filtered by day, actor, action."""

from __future__ import annotations

from sqlalchemy import text

from geo import audit
from tests.test_assign_cli import run_inproc  # noqa: F401 (a fixture)


def test_audit_lists_newest_first_with_filters(db, pg_url, monkeypatch, run_inproc):  # noqa: F811
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    with db.begin() as conn:
        old = audit.record(conn, "alice", "grid.update", "grid", 42, {"households": 310})
        audit.record(conn, "cli", "track.upload", "track", 7, {"note": "x" * 400})
        audit.record(conn, "bob", "track.withdraw", "track", 7, {"reason": "测试 test walk"})
        audit.record(conn, "bob", "trackside.edit")  # not of the 'track' family
        conn.execute(
            text("UPDATE audit_log SET at = '2025-01-02 03:00+08' WHERE id = :i"), {"i": old}
        )
    try:
        res = run_inproc("audit")
        assert res.returncode == 0, res.stderr
        head, *rows = res.stdout.splitlines()
        assert head.startswith("编号 id\t时间 at (Asia/Shanghai)")
        assert [r.split("\t")[3] for r in rows] == [
            "trackside.edit", "track.withdraw", "track.upload", "grid.update",
        ]  # fmt: skip
        assert rows[1].split("\t")[4:] == ["track 7", '{"reason":"测试 test walk"}']
        assert rows[2].endswith("…") and len(rows[2].split("\t")[5]) == 160  # one line each
        assert "2025-01-02 03:00:00" in rows[3]
        res = run_inproc("audit", "--action", "track")
        assert [r.split("\t")[3] for r in res.stdout.splitlines()[1:]] == [
            "track.withdraw", "track.upload",
        ]  # fmt: skip
        res = run_inproc("audit", "--actor", "bob", "--limit", "1")
        assert [r.split("\t")[3] for r in res.stdout.splitlines()[1:]] == ["trackside.edit"]
        res = run_inproc("audit", "--since", "2025-06-01")
        assert "grid.update" not in res.stdout and "track.upload" in res.stdout
        res = run_inproc("audit", "--since", "June")
        assert res.returncode == 2 and "--since 'June' is not a date" in res.stderr
    finally:
        get_settings.cache_clear()

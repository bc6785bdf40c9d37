"""Upgrading a real database: the tracks of an old install get copy detection's digest and
centre (0020), a failing migration names its own reason, a database newer than the code and
a bad DATABASE_URL are one Chinese-first line, an upgrade says so once on stderr."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from geo.db import migrate, normalize_url
from geo.errors import ConflictError, SetupError
from geo.track_store import store_track
from tests.conftest import _throwaway_database, admin_url
from tests.test_tracks_db import gpx_bytes


def _gpx(w: pd.DataFrame) -> bytes:
    return gpx_bytes(w, "Z")


REPO = Path(__file__).resolve().parents[1]
M = 1 / 111_320  # a metre of latitude, in degrees


def _walk(seed: int, start: str) -> pd.DataFrame:
    """A 7-minute walk along a bent 600 m alley, a fix a second, fixes scattered as a phone's."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, 421)
    lon = 116.3 + 0.004 * s + rng.normal(0, 8 * M * 1.3, len(s))
    lat = 39.99 + 0.002 * np.sin(3 * s) + rng.normal(0, 8 * M, len(s))
    time = pd.Timestamp(start) + pd.to_timedelta(np.arange(len(s)), "s")
    return pd.DataFrame({"lon": lon, "lat": lat, "time": time})


def _csv(w: pd.DataFrame) -> bytes:
    times = w["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        pd.DataFrame({"经度": w["lon"], "纬度": w["lat"], "时间": times})
        .to_csv(index=False)
        .encode()
    )


def _walk_keys(eng: Engine) -> dict[int, tuple]:
    with eng.connect() as conn:
        rows = conn.execute(
            text("SELECT id, fixes_sha256, ST_X(fixes_center), ST_Y(fixes_center) FROM tracks")
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


@pytest.fixture()
def scratch(pg_url: str) -> Iterator[tuple[str, Engine]]:
    """A throwaway database on the session's server (URL, engine), migrated by the test."""
    for url in _throwaway_database(pg_url):
        eng = create_engine(normalize_url(url))
        try:
            yield url, eng
        finally:
            eng.dispose()


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``gridward args`` on ``url`` (this checkout's code, as a module)."""
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_upgrade_gives_old_tracks_their_digest_and_a_redated_copy_is_refused(
    scratch: tuple[str, Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    """H3: tracks stored before 0017/0019 had no digest nor centre, so an old walk sent again
    with its times moved was stored and credited on an upgraded install. 0020 computes them
    as the upload did: from the stored fixes, or the kept file where retention dropped them
    (a GPX here); a file that cannot be read keeps none, named, and the upgrade goes on."""
    _url, eng = scratch
    migrate(eng)
    a, b, c = (
        _walk(1, "2026-03-03T01:00:00Z"),
        _walk(2, "2026-03-04T01:00:00Z"),
        _walk(3, "2026-03-05T01:00:00Z"),
    )
    ta = store_track(eng, _csv(a), "a.csv").track_id
    tb = store_track(eng, _gpx(b), "b.gpx").track_id
    tc = store_track(eng, _csv(c), "c.csv").track_id
    upload = _walk_keys(eng)
    assert all(v[0] and v[1] is not None for v in upload.values()), upload
    with eng.begin() as conn:  # as an install of 0016 left them, then 0017-0019
        conn.execute(text("DELETE FROM track_points WHERE track_id = ANY(:t)"), {"t": [tb, tc]})
        conn.execute(text("UPDATE tracks SET raw = 'not a track'::bytea WHERE id = :t"), {"t": tc})
        conn.execute(text("UPDATE tracks SET fixes_sha256 = NULL, fixes_center = NULL"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0019'"))
    capsys.readouterr()
    migrate(eng)
    err = capsys.readouterr().err
    after = _walk_keys(eng)
    assert after[ta] == upload[ta] and after[tb] == upload[tb], (after, upload)
    assert after[tc] == (None, None, None)
    assert "升级数据库：数据库结构 0019 → 0027 migrating the database schema 0019 → 0027" in err
    assert "补算轨迹指纹" in err and f"cannot be read; copies of them are not found): {tc}" in err
    # the old walks sent again a day and 21 h on: refused as on a fresh install
    for walk, name, make in ((a, "a2.csv", _csv), (b, "b2.gpx", _gpx)):
        moved = walk.assign(time=walk["time"] + pd.Timedelta(hours=45))
        with pytest.raises(ConflictError) as refused:
            store_track(eng, make(moved), name)
        assert refused.value.status_code == 409 and "复制的轨迹" in refused.value.message
    nudge = np.random.default_rng(9).uniform(-0.4 * M, 0.4 * M, (len(a), 2))
    nudged = a.assign(lon=a["lon"] + nudge[:, 0], lat=a["lat"] + nudge[:, 1])
    with pytest.raises(ConflictError, match="相差不到"):  # found by its centre
        store_track(eng, _csv(nudged.assign(time=a["time"] + pd.Timedelta(days=2))), "a3.csv")
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tracks")).scalar_one() == 3


def test_an_up_to_date_database_migrates_silently(
    scratch: tuple[str, Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    """M3 (b): an upgrade says so on stderr once; a connect with nothing to apply says nothing."""
    _url, eng = scratch
    migrate(eng, "0014")
    capsys.readouterr()
    migrate(eng)
    assert capsys.readouterr().err.splitlines() == [
        "升级数据库：数据库结构 0014 → 0027 migrating the database schema 0014 → 0027"
    ]
    migrate(eng)
    assert capsys.readouterr().err == ""


def test_a_failing_migration_names_its_own_reason(scratch: tuple[str, Engine], pg_url: str) -> None:
    """M2: the unlock run on the aborted transaction replaced the real error with "current
    transaction is aborted"; a role without CREATE on schema public is told so, with the
    migration, in one line (exit 3 in the CLI)."""
    url, eng = scratch
    role = f"gw_nocreate_{secrets.token_hex(3)}"
    with eng.begin() as conn:  # PostGIS there (a superuser put it), the schema not the role's
        conn.execute(text("CREATE EXTENSION postgis"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
        conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    limited = make_url(normalize_url(url)).set(username=role, password="pw")
    weak = create_engine(limited)
    try:
        with pytest.raises(SetupError) as failed:
            migrate(weak)
        assert failed.value.message == (
            "数据库升级失败：迁移 0001 失败（permission denied for schema public） "
            "migration 0001 failed: permission denied for schema public"
        )
        res = _cli(limited.render_as_string(hide_password=False), "report", "daily")
        assert res.returncode == 3 and res.stderr.splitlines() == [f"error: {failed.value.message}"]
    finally:
        weak.dispose()
        _drop_role(pg_url, role)


def _drop_role(pg_url: str, role: str) -> None:
    """The test's role gone (roles are the server's, not the throwaway database's)."""
    admin = make_url(normalize_url(admin_url(pg_url))).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_role_that_cannot_create_postgis_is_told_who_can(
    scratch: tuple[str, Engine], pg_url: str
) -> None:
    """L3: "permission denied to create extension" gets the way forward."""
    url, eng = scratch
    role = f"gw_nopostgis_{secrets.token_hex(3)}"
    with eng.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
    limited = make_url(normalize_url(url)).set(username=role, password="pw")
    weak = create_engine(limited)
    try:
        with pytest.raises(SetupError) as failed:
            migrate(weak)
        message = failed.value.message
        assert message.startswith(
            '缺少 PostGIS 扩展（permission denied to create extension "postgis"）：须先由超级用户'
        )
        assert "a superuser must run CREATE EXTENSION postgis in database" in message
    finally:
        weak.dispose()
        _drop_role(pg_url, role)


def test_a_database_newer_than_the_code_is_one_line(
    scratch: tuple[str, Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    """M3 (a): a database migrated by a newer gridward (the code rolled back) was a 106-line
    alembic traceback; it is one line, in the CLI (exit 3) and from /health (503)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    url, eng = scratch
    migrate(eng)
    with TestClient(create_app(eng)) as client:
        with eng.begin() as conn:  # a newer gridward migrated it under the running API
            conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        r = client.get("/health")
    want = (
        "数据库版本较新：数据库结构（0999）比本 gridward 的（0027）新；请安装较新的 gridward，"
        "或恢复升级前做的备份 "
        "the database schema (0999) is newer than this gridward (0027): install "
        "the newer gridward or restore a backup made before the upgrade"
    )
    assert r.status_code == 503 and r.json()["error"] == want, r.text
    with pytest.raises(SetupError) as newer:
        migrate(eng)
    assert newer.value.message == want
    res = _cli(url, "report", "daily")
    assert res.returncode == 3 and res.stderr.splitlines() == [f"error: {want}"], res.stderr


@pytest.mark.parametrize(
    ("what", "tag"),
    [
        ("password", "数据库登录失败（数据库错误（OperationalError）："),
        ("database", "数据库不存在（数据库错误（OperationalError）："),
        ("port", "无法连接数据库（数据库错误（OperationalError）："),
        ("host", "数据库主机未知（数据库错误（OperationalError）："),
    ],
    ids=["password", "database", "port", "host"],
)
def test_database_url_failures_read_chinese_first(pg_url: str, what: str, tag: str) -> None:
    """L3: a wrong password, a missing database, a server that is down, an unknown host:
    one line, exit 1, Chinese first (they were English only)."""
    url = make_url(normalize_url(pg_url)).set(drivername="postgresql")
    bad = {
        "password": url.set(password="wrong"),
        "database": url.set(database="no_such_db"),
        "port": url.set(port=1),
        "host": url.set(host="no-such-host.invalid"),
    }[what]
    res = _cli(bad.render_as_string(hide_password=False), "report", "daily")
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {tag}") and "DATABASE_URL" in lines[0], lines
    # the remedy in Chinese too, then the English as it was (tester T36, F7)
    assert "请检查 DATABASE_URL" in lines[0], lines
    assert " database error (OperationalError): " in lines[0], lines


def test_a_url_of_another_database_says_postgresql_is_needed() -> None:
    """L3: DATABASE_URL=mysql://… was a 52-line traceback (No module named 'MySQLdb')."""
    res = _cli("mysql://gw:secret@localhost/gridward", "report", "daily")
    assert res.returncode == 2 and res.stderr.splitlines() == [
        "error: 设置有误：DATABASE_URL 须为装有 PostGIS 的 PostgreSQL 的网址，以 postgresql:// 或 "
        "postgresql+psycopg:// 开头（现为 mysql://…） "
        "setting DATABASE_URL: gridward needs PostgreSQL with PostGIS: give a "
        "postgresql:// or postgresql+psycopg:// URL (got mysql://…)"
    ], res.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("pg:Pa55word-XYZ@127.0.0.1", "（现为 pg://…）"),  # the scheme's :// mistyped
        ("gw_app:S3cret-District!pw@127.0.0.1", "（现为 gw_app://…）"),
        ("postgresql://gw_app:S3cret@Distr@127.0.0.1:55769/gw", "须写成 %40"),
        ("postgresql://gw_app:S3cret-pw@127.0.0.1:55x69/gw", "端口须为数字"),
    ],
)
def test_a_mistyped_url_is_one_line_without_its_password(url: str, said: str) -> None:
    """T68 #1, #2: without ``://`` the line showed the URL's first 20 characters, password
    and all (into the journal under systemd); an ``@`` in the password was shown as a host;
    a port ``55x69`` ended every command in a traceback."""
    for command in (("db", "status"), ("report", "daily")):
        res = _cli(url, *command)
        lines = res.stderr.splitlines()
        assert res.returncode == 2 and len(lines) == 1, res.stderr
        assert lines[0].startswith("error: 设置有误：DATABASE_URL") and said in lines[0], lines
        for secret in ("Pa55", "S3cret", "Distr"):
            assert secret not in res.stderr + res.stdout, res.stderr

"""``--person`` names a person the same way in every command (api.cli_people): by registry id
(people.external_id) or by people.id, with ``id:`` / ``ext:`` to choose; a number that is one
person's people.id and another's registry id is refused, as is nobody; one line, exit 2,
nothing stored. ``tracks upload --person`` and ``users add --person`` took only a people.id
before (an int option); a people.id still works as it did."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.cli_people import resolve_person
from geo.errors import InputError, NotFoundError
from tests.dbcheck import fingerprint
from tests.test_assign_cli import Result, run, run_inproc  # noqa: F401 (a fixture)

# people.id → (registry id, name). "2" is 李二's people.id and 张三's registry id; "4" is
# 赵四's both ways; "3" is only a people.id (张三's), "77" only a registry id (钱五's).
PEOPLE = {
    1: ("S1", "王一"),
    2: ("S2", "李二"),
    3: ("2", "张三"),
    4: ("4", "赵四"),
    5: ("77", "钱五"),
}


@pytest.fixture
def people(db):
    with db.begin() as conn:
        for pid, (ext, name) in PEOPLE.items():
            conn.execute(
                text(
                    "INSERT INTO people (id, external_id, name, roles) "
                    "VALUES (:i, :e, :n, ARRAY['alley_steward'])"
                ),
                {"i": pid, "e": ext, "n": name},
            )
    return db


@pytest.fixture
def gw(people, pg_url, run_inproc, monkeypatch):  # noqa: F811 (the imported fixture)
    """The console entry point in-process against the test database."""
    from geo.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    yield lambda *args: run_inproc(*map(str, args))
    get_settings.cache_clear()


def _one_error(r: Result, *words: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("value", "pid"),
    [
        ("S2", 2),  # a registry id
        (" S2 ", 2),
        ("3", 3),  # a people.id, as before (nobody's registry id)
        (3, 3),
        ("77", 5),  # a registry id that is a number (no people.id 77)
        ("4", 4),  # both ways the same person: no question
        ("id:2", 2),
        ("ID: 2", 2),
        ("ext:2", 3),
        ("Ext:S2", 2),
        ("id:4", 4),
    ],
)
def test_resolve_person(people, value, pid):
    assert resolve_person(people, value).id == pid


def test_resolve_person_refuses_ambiguous_unknown_and_malformed(people):
    with pytest.raises(InputError) as exc:
        resolve_person(people, "2")
    msg = exc.value.message
    assert "ambiguous" in msg and "李二" in msg and "张三" in msg
    assert "--person id:2" in msg and "--person ext:2" in msg
    for value in ("S9", "99", "id:99", "ext:3", "id:99999999999", 99):
        with pytest.raises(NotFoundError, match="does not exist"):
            resolve_person(people, value)
    for value in ("", "  ", "id:", "ext: ", "id:abc", "id:-3", "id:٣"):
        with pytest.raises(InputError):
            resolve_person(people, value)


def _walk_csv(tmp_path, name: str, lon0: float) -> str:
    """A short walk (its own bytes: the same bytes are one track)."""
    rows = "\n".join(
        f"{lon0 + i * 0.00005:.7f},39.9950000,2026-01-05T02:00:{5 * i:02d}Z" for i in range(10)
    )
    path = tmp_path / name
    path.write_text(f"lon,lat,time\n{rows}\n")
    return str(path)


def _track_person(db, name: str):
    with db.connect() as conn:
        return conn.execute(
            text("SELECT person_id FROM tracks WHERE filename = :f"), {"f": name}
        ).scalar_one()


def test_upload_takes_a_registry_id_or_a_people_id(gw, people, tmp_path):
    for n, (value, pid) in enumerate(
        [("S2", 2), ("3", 3), ("77", 5), ("id:2", 2), ("ext:2", 3), ("4", 4)]
    ):
        name = f"walk{n}.csv"
        r = gw("tracks", "upload", _walk_csv(tmp_path, name, 116.30 + n * 0.001), "--person", value)
        assert r.returncode == 0, (value, r.stdout, r.stderr)
        assert r.stdout.startswith(f"{name}: 轨迹 ") and " track " in r.stdout, r.stdout
        assert _track_person(people, name) == pid, value


def test_upload_refuses_an_ambiguous_or_unknown_person_and_stores_nothing(gw, people, tmp_path):
    path = _walk_csv(tmp_path, "walk.csv", 116.30)
    before = fingerprint(people)
    line = _one_error(gw("tracks", "upload", path, "--person", "2"), "ambiguous", "李二", "张三")
    assert "--person id:2" in line and "--person ext:2" in line
    _one_error(gw("tracks", "upload", path, "--person", "S9"), "'S9' does not exist")
    _one_error(gw("tracks", "upload", path, "--person", "id:99"), "no person has people.id 99")
    # malformed: a usage error naming the option, before the database is asked
    _one_error(gw("tracks", "upload", path, "--person", "id:abc"), "--person", "whole number")
    _one_error(gw("tracks", "upload", path, "--person", ""), "--person", "empty")
    assert fingerprint(people) == before


def test_users_add_takes_a_registry_id_or_a_people_id(gw, people):
    for name, value, pid in (("t-a", "S1", 1), ("t-b", "3", 3), ("t-c", "ext:2", 3)):
        if name == "t-c":  # one active account per person: t-b's goes first
            assert gw("users", "revoke", "t-b").returncode == 0
        r = gw("users", "add", name, "--role", "steward", "--person", value)
        assert r.returncode == 0, (value, r.stdout, r.stderr)
        assert r.stdout.startswith(f"已创建账号 {name}（id ") and f"user {name} (id " in r.stdout, (
            r.stdout
        )
        with people.connect() as conn:
            got = conn.execute(
                text("SELECT person_id FROM users WHERE username = :u"), {"u": name}
            ).scalar_one()
        assert got == pid, value
    before = fingerprint(people)
    _one_error(gw("users", "add", "t-d", "--role", "steward", "--person", "2"), "ambiguous")
    _one_error(gw("users", "add", "t-d", "--role", "steward", "--person", "99"), "does not exist")
    _one_error(gw("users", "add", "t-d", "--role", "steward", "--person", "id:x"), "--person")
    assert fingerprint(people) == before


def test_help_says_what_person_takes(run_inproc):  # noqa: F811 (the imported fixture)
    for cmd in (("tracks", "upload"), ("users", "add")):
        r = run_inproc(*cmd, "--help")
        flat = " ".join(r.stdout.split())
        assert r.returncode == 0
        for words in ("registry id", "people.external_id", "people.id", "id:12", "ext:12"):
            assert words in flat, (cmd, words)


def test_malformed_person_is_a_usage_error_without_a_database() -> None:
    """Through the real console script, with no database configured: the form of --person
    is checked before any database work (the int option's "abc" case, now a valid registry
    id, in tests/test_cli_usage.py has this as its counterpart)."""
    res = run("tracks", "upload", "f.csv", "--person", "id:abc")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "--person" in lines[0] and "--help" in lines[0]
    assert "Traceback" not in res.stderr + res.stdout

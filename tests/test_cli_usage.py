"""Usage errors through the real console script: one ``error:`` line and exit 2, never a
traceback. Run as a subprocess because typer's test runner bypasses ``api.cli.main``, where
the usage errors are turned into that line."""

from __future__ import annotations

import pytest

from tests.test_assign_cli import run


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["match", "--network", "n.geojson", "--track", "t.csv"], "--out"),
        (["match"], "--network"),
        (["bogus"], "bogus"),
        (["report", "daily", "--bogus"], "--bogus"),
        (["report", "daily", "--share", "abc"], "--share"),
        (["tracks", "upload", "f.csv", "--person", "id:abc"], "--person"),
        (["tracks", "drop-fixes", "--keep-days", "0"], "--keep-days"),
        (["tracks", "worker", "--batch", "0"], "--batch"),
        (["tracks", "delete"], "'ID'"),
    ],
)
def test_usage_error_is_one_line_and_exit_2(args: list[str], names: str) -> None:
    res = run(*args)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert names in lines[0] and "--help" in lines[0]
    assert "Traceback" not in res.stderr + res.stdout


@pytest.mark.parametrize(
    ("args", "said", "english"),
    [
        (["report", "dail"], "没有子命令 'dail'，是否要用 'daily'？", "No such command 'dail'"),
        (
            ["report", "daily", "--fromat", "x"],
            "没有选项 --fromat，可用的有：--out",
            "No such option",
        ),
        (
            ["tracks", "worker", "--batch", "0"],
            "选项 '--batch' 的值无效：须不小于 1",
            "Invalid value",
        ),
        (
            ["report", "daily", "--share", "abc"],
            "选项 '--share' 的值无效：须为数字",
            "Invalid value",
        ),
        (["users", "add"], "缺少参数 'username'", "Missing argument 'username'"),
        (["report", "daily", "x"], "多余的参数：x", "unexpected extra argument"),
    ],
)
def test_usage_errors_are_said_in_chinese_then_english(
    args: list[str], said: str, english: str
) -> None:
    """click's English ("No such option: --fromat") came after a bare 用法有误 (T36, F8): the
    Chinese now says what click says, and click's English follows it unchanged."""
    line = run(*args).stderr.strip().splitlines()[0]
    assert line.startswith(f"error: 用法有误：{said}"), line
    assert line.index(english) > line.index(said), line


def test_help_still_exits_0() -> None:
    res = run("tracks", "--help")
    assert res.returncode == 0 and "upload" in res.stdout and not res.stderr


@pytest.mark.parametrize("args", [[], ["tracks"]])
def test_a_bare_command_shows_its_help_without_an_empty_error_line(args: list[str]) -> None:
    """``gridward`` or ``gridward tracks`` alone shows the help (exit 2, as click does) and no
    "error: 用法有误" line with nothing after it below it."""
    res = run(*args)
    assert res.returncode == 2 and "upload" in res.stdout + res.stderr
    assert "error:" not in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"GRIDWARD_TIMEZONE": "Mars/Olympus"}, "GRIDWARD_TIMEZONE"),
        ({"GRIDWARD_PORT": "abc"}, "GRIDWARD_PORT"),
        ({"GRIDWARD_PATROLLED_SHARE": "7"}, "GRIDWARD_PATROLLED_SHARE"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(env: dict[str, str], names: str) -> None:
    """A setting that does not parse (an unknown zone was a 71-line traceback at the first
    report) is named in one line, exit 2."""
    import os
    import subprocess
    import sys

    from tests.test_assign_cli import GRIDWARD, REPO

    cmd = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]
    res = subprocess.run(
        [*cmd, "report", "daily"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: 设置有误：{names} "), res.stderr
    assert env[names] in lines[0]
    # what is wrong is said in Chinese too, not only pydantic's English (tester T36, F7)
    said_zh = {"GRIDWARD_TIMEZONE": "时区无效", "GRIDWARD_PORT": "须为整数，收到 'abc'"}
    said_zh["GRIDWARD_PATROLLED_SHARE"] = "数值过大，须不大于 1，收到 '7'"
    assert said_zh[names] in lines[0], lines[0]


def test_a_database_that_fails_is_one_line_exit_1() -> None:
    """A database that cannot be reached (or a deadlock mid-upload, as a tester saw) ends in
    one ``error: 无法连接数据库 database error …`` line and exit 1: it was a 40-line traceback."""
    import os
    import subprocess
    import sys

    from tests.test_assign_cli import GRIDWARD, REPO

    cmd = [str(GRIDWARD)] if GRIDWARD.exists() else [sys.executable, "-m", "api.cli"]
    res = subprocess.run(
        [*cmd, "report", "daily"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/none"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert lines[0].startswith("error: 无法连接数据库（数据库错误（OperationalError）：")
    assert " database error (OperationalError): " in lines[0], lines
    assert "Traceback" not in res.stderr + res.stdout


def test_an_english_only_message_gets_a_chinese_tag_first() -> None:
    """Users read Chinese first: a refusal written in English only (pydantic's words, older
    messages) is tagged with the kind of problem; a message with Chinese is left alone."""
    from geo.errors import chinese_first

    assert chinese_first("area 999 does not exist", 404) == "未找到 area 999 does not exist"
    assert chinese_first("track_id: Input should be a valid integer", 422).startswith("输入有误 ")
    assert chinese_first("轨迹 3 不存在 track 3 does not exist", 404).startswith("轨迹 3")
    assert chinese_first("teapot", 418) == "请求有误 teapot"


def test_a_message_with_a_chinese_word_inside_still_gets_the_tag() -> None:
    """F14: a Chinese word or name inside an English sentence does not make it read Chinese
    first (the tag was left off: "unknown role '网格管理员': use …", "张三 (W001) has left");
    a message that opens in Chinese, even with a short word and an id ("楼栋 5 重复 …"),
    and one tagged already, are left as they are."""
    from geo.errors import chinese_first

    tagged = {
        "unknown role '网格管理员': use grid_leader (网格长)": 422,
        "the people file lacks the person_id (编号) column": 422,
        "people without a home: 合计": 422,
        "--person '007' is ambiguous: people.id 7 is 张三": 422,
        "张三 (W001) has left (inactive): nothing changed": 409,
        "欧阳修远 (W001) does not hold the role grid_worker": 422,
        "a 专职网格员 grid worker is held on a grid, not on an alley: give --grid": 422,
    }
    for message, status in tagged.items():
        assert chinese_first(message, status) != message, message
    for message in (
        "楼栋 5 重复 building 5 is listed twice",
        "方案 3 不存在 plan 3 does not exist",
        "户数范围须 ≥ 0 min_households must be ≥ 0",
        "冲突 track 3 is being matched",
        "110108015001 社区不存在 community does not exist",
    ):
        assert chinese_first(message, 409) == message
    once = chinese_first("张三 (W001) has left", 409)
    assert chinese_first(once, 409) == once == "冲突 张三 (W001) has left"


def test_a_file_the_system_refuses_is_named_with_the_reason_in_chinese(monkeypatch, capsys):
    """An OSError that reaches the exit (a file gone between check and write) is one line:
    the file and the reason in Chinese, then the system's English; exit 2."""
    import api.cli as cli

    def refuse(**_kw):
        raise PermissionError(13, "Permission denied", "/srv/out/report.csv")

    monkeypatch.setattr(cli, "app", refuse)
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line == (
        "error: 无法读写文件 /srv/out/report.csv：没有权限 Permission denied: /srv/out/report.csv"
    ), line


def test_serve_on_a_taken_or_impossible_port_says_so_before_starting_anything() -> None:
    """`serve --port 99999` was a 96-line traceback and a port in use uvicorn's English after
    the database had started (outside tester T37, F5)."""
    import socket

    res = run("serve", "--port", "99999")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "选项 '--port' 的值无效：须不大于 65535" in res.stderr, res.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run("serve", "--port", str(port))
    assert res.returncode == 3, res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: 端口 {port} 已被占用（127.0.0.1:{port}）：请用 --port"), line
    assert f"port {port} on 127.0.0.1 is in use" in line, line

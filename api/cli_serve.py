"""``gridward serve`` and ``gridward demo``: the API and maps on localhost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from api.runtime import LOG_LEVEL_HELP

if TYPE_CHECKING:
    from geo.settings import Settings


# T68 #11: the defaults come from GRIDWARD_HOST and GRIDWARD_PORT, which --help did not say
HOST_HELP = (
    "监听地址（默认取 GRIDWARD_HOST，未设置时为 127.0.0.1） bind address (default "
    "GRIDWARD_HOST, else 127.0.0.1)"
)
PORT_HELP = "端口（默认取 GRIDWARD_PORT，未设置时为 8000） port (default GRIDWARD_PORT, else 8000)"


def serve(
    host: str = typer.Option(None, help=HOST_HELP),
    port: int = typer.Option(None, min=1, max=65535, help=PORT_HELP),
    log_level: str = typer.Option(None, "--log-level", help=f"日志级别 {LOG_LEVEL_HELP}"),
) -> None:
    """启动服务 Serve the API and maps."""
    import uvicorn

    from api.app import create_app
    from api.http_protocol import JsonErrorH11Protocol
    from api.runtime import configure_logging, uvicorn_log_config
    from geo.db import get_engine
    from geo.settings import get_settings

    level = configure_logging(log_level)  # before the app starts: its start-up logs
    s = get_settings()
    host, port = host or s.host, port or s.port
    _check_free(host, port)  # before the database starts: nothing to undo
    app = create_app(get_engine(create=True))  # serving sets things up: a new cluster is made
    _log_disk(s)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=level.lower(),
        log_config=uvicorn_log_config(),
        http=JsonErrorH11Protocol,  # an unparsable request's 400 is JSON, as every error
        # requests still being answered at a stop get this long, then are cut off
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    # WHY uvicorn.Server, not uvicorn.run: run() swallows the KeyboardInterrupt the server
    # raises again once it has stopped on Ctrl+C, so serve exited 0 where every other
    # command exits 130; SIGTERM is raised again the same way and ends the process by it
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # Ctrl+C: uvicorn has stopped and logged it (its last line)
        _end(130)
    _end(0)


# seconds a stop gives the requests being answered (an upload being matched, a slow client
# still sending) before cutting them off; the jobs get as long (api.background)
SHUTDOWN_GRACE_S = 10


def _end(code: int) -> None:
    """End the process once the server has stopped (its jobs stopped and failed as
    interrupted by the app's shutdown). WHY (T61 #2, #5): the interpreter's exit waited for
    every thread still working: after Ctrl+C, a match batch past the jobs' 10 s ran on for
    87-148 s and committed the tracks its job said were left queued, and a request still
    being answered (a 20-walk upload, a client sending 2 KB/s) kept the process for as long;
    systemd kills at 90 s. Now it ends at once, as after SIGTERM: what those threads had not
    committed is rolled back by the database when the connections drop."""
    import logging
    import os
    import sys

    from api.background import thread_jobs_left

    left = thread_jobs_left()
    if left:
        logging.getLogger("gridward.jobs").warning(
            "停止：%d 个后台任务仍在运行，已放弃（其未提交的工作已撤销） stopping: %d "
            "background jobs still running were abandoned (their uncommitted work rolled back)",
            left,
            left,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _log_disk(settings: Settings) -> None:
    """The `db status` warning in the log when the embedded cluster's disk is full or nearly
    so. WHY (T68 #18): serve started on a full disk without a word; the first sign was an
    upload's 507."""
    import logging

    from api.cli_db import disk_warning
    from geo.db import embedded_cluster

    if settings.database_url:  # its disk is the server's, not this machine's
        return
    _, line = disk_warning(embedded_cluster(settings).pgdata)
    if line:
        logging.getLogger("gridward.serve").warning(line.removeprefix("warning: "))


def _check_free(host: str, port: int) -> None:
    """SetupError (exit 3) when ``host:port`` cannot be bound: taken by another program, or
    an address this machine does not have. WHY: uvicorn said it in English after starting
    the database, or as a traceback (outside tester T37, F5)."""
    import errno
    import socket

    from geo.errors import SetupError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SetupError(
            f"无法监听地址 {host}：本机没有这个地址（{exc.strerror or exc}）；请换 --host，"
            f"如 127.0.0.1 cannot bind {host}: no such address here ({exc})"
        ) from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SetupError(
                    f"端口 {port} 已被占用（{host}:{port}）：请用 --port 或 GRIDWARD_PORT 换一个"
                    f"端口，或先停止占用它的程序（如另一个 gridward serve） port {port} on "
                    f"{host} is in use: choose another with --port or GRIDWARD_PORT, or stop "
                    "the program using it"
                ) from None
            raise SetupError(
                f"无法监听 {host}:{port}（{exc.strerror or exc}）；请换 --host 或 --port "
                f"cannot bind {host}:{port}: {exc.strerror or exc}"
            ) from None


def load_demo() -> dict[str, object]:
    """Import the demo city (fixtures/) with grids, people, duties and patrols; idempotent."""
    from geo.db import get_engine
    from geo.demo import populate

    return populate(get_engine(create=True))


# the parts of the demo city load_demo reports, for the Chinese head of each line
_DEMO_ZH = {
    "areas": "区划",
    "osm": "路网与楼栋（OSM）",
    "grids": "网格",
    "people": "人员",
    "duties": "职责",
    "patrols": "巡查",
}


def demo(
    host: str = typer.Option(None, help=HOST_HELP),
    port: int = typer.Option(None, min=1, max=65535, help=PORT_HELP),
    no_serve: bool = typer.Option(
        False, "--no-serve", help="只导入不启动服务 import only, do not serve"
    ),
    log_level: str = typer.Option(None, "--log-level", help=f"日志级别 {LOG_LEVEL_HELP}"),
) -> None:
    """演示 Import the Haidian demo city and serve it on http://127.0.0.1:8000."""
    from api.runtime import configure_logging
    from geo.accounts import ensure_demo_admin, list_users
    from geo.db import get_engine

    configure_logging(log_level)
    if not no_serve:  # WHY first (T68 #11): a second demo imported everything, then failed
        from geo.settings import get_settings

        s = get_settings()
        _check_free(host or s.host, port or s.port)
    counts = load_demo()
    for what, c in counts.items():
        counted = ", ".join(f"{k}={v}" for k, v in c.items())  # type: ignore[union-attr]
        typer.echo(f"已导入{_DEMO_ZH.get(what, what)}（{counted}） {what}: {counted}")
    password = ensure_demo_admin(get_engine(create=True))
    if password:
        typer.echo(
            f"演示管理员账号 demo admin account: admin / {password}  (shown once; 仅显示这一次)"
        )
    else:  # a re-run: the password was printed by the first one
        with get_engine().connect() as conn:
            admins = [
                u["username"] for u in list_users(conn) if u["role"] == "admin" and u["active"]
            ]
        names, names_zh, first = ", ".join(admins), "、".join(admins), admins[0]
        typer.echo(
            f"管理员账号 {names_zh} 已存在（密码在创建时显示过）；忘记密码？请运行 "
            f"gridward users password {first} 重设 "
            f"admin account {names} exists (its password was shown when it was "
            f"made); forgot it? gridward users password {first}"
        )
    if not no_serve:
        serve(host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``demo``."""
    app.command("serve")(serve)
    app.command("demo")(demo)

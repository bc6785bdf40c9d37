"""``gridward tracks upload`` and ``gridward report``: patrols into PostGIS and out as reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from api.cli_dates import cli_day
from api.cli_people import PERSON_HELP, person_option, resolve_person
from api.cli_tracks import CRS_HELP, read_track_file, tracks_app
from api.out_files import check_out
from api.runtime import LOG_LEVEL_HELP, configure_logging, stamp
from geo.errors import InputError

report_app = typer.Typer(
    help="巡查报表（日巡、周查、月评） Patrol reports: daily, weekly, monthly.",
    no_args_is_help=True,
)


@tracks_app.command("upload")
def upload(
    files: list[Path] = typer.Argument(
        ...,
        help="轨迹文件 GPX, KML/KMZ, GeoJSON, CSV/TSV, Excel .xlsx, OpenDocument .ods "
        "or NMEA track files",
    ),
    crs: str = typer.Option("wgs84", "--crs", help=CRS_HELP),
    person: str = person_option(
        f"巡查人 the steward who walked: {PERSON_HELP.partition('the person: ')[2]}"
    ),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help="出行方式 walk (default) or bike; naming it for a file stored before "
        "matches it again in that mode",
    ),
    defer: bool = typer.Option(
        False,
        "--defer",
        help="只存不匹配 store only; a worker matches them (gridward tracks worker)",
    ),
) -> None:
    """上传轨迹 Store tracks (idempotent) and match them to the alleys."""
    import psycopg
    from rich.console import Console
    from rich.progress import track as progress
    from sqlalchemy.exc import DBAPIError

    from api.errors import disk_full_error
    from geo.db import get_engine
    from geo.errors import GridwardError, chinese_first, db_failure
    from geo.settings import get_settings
    from geo.track_store import ingest_track

    if mode is not None and mode not in ("walk", "bike"):
        raise InputError(
            f"出行方式 '{mode}' 有误，请用 walk（步行）或 bike（骑行） "
            f"unknown mode '{mode}': use walk or bike"
        )
    engine = get_engine()
    # named once, before any file: an unknown or ambiguous person stores nothing
    person_id = resolve_person(engine, person).id if person is not None else None
    limit = get_settings().max_upload_bytes
    failed = 0
    out = Console()
    # the bar on a terminal only, and on stdout's console when that is one too, so the
    # lines print above it; in a log (2>&1) it ran into a line (T62 #6)
    err = Console(stderr=True)
    bar = out if out.is_terminal else err
    for path in progress(
        files, description="上传 uploading", console=bar, disable=not err.is_terminal
    ):
        try:
            data = _read_within(path, limit)  # a folder is named as one
            item = ingest_track(engine, data, path.name, crs, person_id, "cli", mode, defer)
        except GridwardError as exc:
            failed += 1
            why = chinese_first(exc.message, exc.status_code)
            # Chinese first as the stored files' lines and check's 不能上传 ERROR lines; the
            # "FILE: … error: …" scripts match stays (T37 F21c)
            out.print(f"{path.name or path}: 上传失败 error: {why}", markup=False, soft_wrap=True)
            continue
        except (DBAPIError, psycopg.Error) as exc:
            # WHY per file: a deadlock or a lost connection on one file ended the command with
            # a traceback, the files after it never sent; the files before it are stored
            failed += 1
            if disk_full_error(exc):  # sending again cannot help (T47 #3)
                out.print(
                    f"{path.name or path}: 上传失败 error: 服务器磁盘已满，此文件未保存；"
                    "请通知管理员清理空间 the server's disk is full: this file was not "
                    "stored; ask the administrator to free space",
                    markup=False,
                    soft_wrap=True,
                )
                continue
            why = db_failure(exc)
            line = why.line if why else exc
            out.print(
                f"{path.name or path}: 上传失败 error: 数据库出错（{line}），服务暂不可用，"
                "请重新发送此文件 "
                f"database error ({line}): send this file again",
                markup=False,
                soft_wrap=True,
            )
            continue
        out.print(_upload_line(path.name, item, str(path)), markup=False, soft_wrap=True)
    if failed:  # the one error: line (stderr) a script reads, as every command's
        raise InputError(
            f"{len(files)} 个轨迹文件中有 {failed} 个未存储，原因见上面各行 "
            f"{failed} of {len(files)} track file(s) not stored: see their lines above"
        )


def _read_within(path: Path, limit: int) -> bytes:
    """The file's bytes, at most ``limit`` (GRIDWARD_MAX_UPLOAD_BYTES, read no further): one
    over it is refused in the words ``POST /tracks`` gives such a file (文件 X 过大：每个文件
    最多 20 MB…), and the upload goes on to the next file, as the API stores the others
    (T67 #3: the API refused the whole request, the command said it in other words)."""
    from geo.errors import TooLargeError

    try:
        return read_track_file(path, limit)
    except TooLargeError:
        from api.limits import file_too_large

        raise TooLargeError(str(file_too_large(path.name, limit).detail)) from None


def _upload_line(name: str, item: dict, path: str | None = None) -> str:
    """One line per uploaded file (scripts read it): the file's name, what happened in
    Chinese, the same in English, then the warnings (each Chinese first); ``path``, as
    given, in a command the line advises."""
    zh = f"轨迹 {item['track_id']}，{item['n_points']} 个定位点"
    line = f"track {item['track_id']}, {item['n_points']} points"
    change = item.get("crs_change")  # the same file again, with another datum
    if change and not change["changed"]:
        zh += f"（已存储，坐标系仍为 {change['from']}，原因见后）"
        line += f" (already stored; {change['message']})"
    elif item.get("resumed"):  # stored before but never matched: matched (queued) now
        zh += "（已存储，此前从未匹配）"
        line += " (already stored, never matched before)"
        zh, line = _match_outcome(item, zh, line, path or name)
    elif item.get("status") == "matching":  # another upload or worker has it now
        zh += "（已存储；另一次上传或后台匹配正在匹配它）"
        line += f" (already stored; {item['note']})"
    elif not (item["created"] or change or item.get("mode_change") or item.get("time_change")):
        zh += "（已存储）"
        line += " (already stored)"
    else:  # new, or re-read in the corrected datum or mode: matched (or queued) again
        if change:
            zh += f"（已存储；坐标系已改正 {change['from']} -> {change['to']}）"
            line += f" (already stored; datum corrected {change['from']} -> {change['to']})"
        if item.get("mode_change"):
            moved = item["mode_change"]
            zh += f"（已存储；出行方式已改 {moved['from']} -> {moved['to']}）"
            line += f" (already stored; mode changed {moved['from']} -> {moved['to']})"
        if item.get("time_change"):  # the walk's fixes with its time zone put right
            shift = item["time_change"]["shift_h"]
            zh += f"（已存储；时间已移动 {shift:+g} 小时）"
            line += f" (already stored; times moved {shift:+g} h)"
        zh, line = _match_outcome(item, zh, line, path or name)
    for warning in item.get("warnings", []):  # what the reader left out of the file
        line += f"; warning: {warning}"
    return f"{name}: {zh} {line}"


def _match_outcome(item: dict, zh: str, line: str, path: str) -> tuple[str, str]:
    """``zh`` and ``line`` with the match's outcome (and its warnings, after the English);
    ``path``: the file, as a datum hint's remedy names it."""
    if item["status"] == "queued":
        return zh + "，已排队等待匹配", line + ", queued for matching"
    if item["status"] != "matched":
        return zh + "，未能匹配（原因见后）", line + f", not matched: {item['match_error']}"
    m = item["match"]
    zh += f"，已匹配 {m['matched_points']} 个定位点、{m['segments']} 个路段"
    n_seg = m["segments"]
    line += f", matched {m['matched_points']}, {n_seg} segment{'' if n_seg == 1 else 's'}"
    if m.get("datum_hint"):  # still one line per file
        line += f"; warning: {_datum_warning(m['datum_hint'], path, m.get('segments'))}"
    if m.get("warning"):
        line += f"; warning: {m['warning']}"
    return zh, line


def _datum_warning(hint: dict, path: str, credited: int | None = None) -> str:
    """A datum hint with the command line's remedy, ``gridward tracks upload FILE --crs …``:
    the message the API keeps says ``crs=…``, which this command does not take (T37 F14).
    A hint kept from before it held its declared datum is said as it was kept. ``credited``:
    the segments the match credited; 0 says nothing was credited (T39 L10)."""
    import shlex

    from geo.tracks.datum import DatumHint

    found = DatumHint.from_dict(hint)
    if found is None:
        return str(hint["message"])
    command = f"gridward tracks upload {shlex.quote(path)}"
    return found.message(found.cli_remedy("upload", command), credited=credited)


@tracks_app.command("worker")
def worker_command(
    batch: int = typer.Option(
        200, "--batch", min=1, max=5000, help="每批匹配的轨迹数 tracks matched together"
    ),
    watch: float = typer.Option(
        0.0,
        "--watch",
        min=0.0,
        help="轮询间隔（秒） keep polling every N seconds (0: drain and exit); "
        "a poll that finds nothing prints nothing, a lost database is waited for",
    ),
    log_level: str = typer.Option(None, "--log-level", help=f"日志级别 {LOG_LEVEL_HELP}"),
) -> None:
    """匹配排队轨迹 Match queued tracks (deferred uploads) until the queue is empty.

    Each line it prints starts with the local time (a cron job's log, too).
    Several workers may run at once (on one or many machines): each claims its own tracks.
    With --watch, a database that goes away (restart, failover) is waited for (retries 1 s,
    2 s, 4 s … up to every 60 s), said once on stderr, and once when it is back; also one not
    up yet when the worker starts. What waiting cannot mend (a wrong password, an unknown
    database or host, a failed migration, a port in use) ends it as without --watch."""
    configure_logging(log_level)
    worker(batch, watch)


def worker(batch: int = 200, watch: float = 0.0) -> None:
    """Drain the queue once (``watch`` 0), or for good every ``watch`` seconds. Each drain
    first queues the tracks an upload stored but never matched over GRIDWARD_STALE_UPLOAD_S
    ago (:class:`geo.match_queue.AbandonedSweep`). WHY (T47 #1): the worker took queued
    tracks only, and one an upload killed mid-match left ``stored`` was matched by nothing,
    while the report's note sent the admin to the worker."""
    from geo.match_queue import AbandonedSweep

    sweep = AbandonedSweep()
    if not watch:
        from geo.db import get_engine

        _print_drain(_drain(get_engine(), batch, sweep), watching=False)
        return
    _watch(batch, watch, sweep)


def _watch(batch: int, every: float, sweep: Any = None) -> None:
    """Poll for good. WHY the retry: a worker that exited on a database restart left deferred
    uploads waiting until someone noticed (tester's M4); a batch cut off is rolled back whole,
    so its tracks are claimed again. Idle polls print nothing (a log line each was noise).
    Only an outage that can pass is waited for (see :func:`geo.match_queue.outage`); any other
    error ends the worker with the one line and exit code it has without --watch (outside
    tester Z2, N7: a wrong password was retried for ever, silent after one line)."""
    import logging
    import time

    from geo.db import database_url, down_note, get_engine
    from geo.match_queue import OUTAGE_STEPS_S, outage

    log = logging.getLogger("gridward.worker")
    engine = None
    down: float | None = None  # when this outage began (monotonic)
    tries = 0
    while True:
        try:
            if engine is None:  # in an outage the URL is read again (start=False: never
                # start a cluster the admin stopped; an embedded one may be back elsewhere)
                engine = get_engine(database_url(start=False)) if tries else get_engine()
            rep = _drain(engine, batch, sweep)
        except Exception as exc:
            why = outage(exc)
            if why is None:
                raise
            engine = None
            pause = OUTAGE_STEPS_S[min(tries, len(OUTAGE_STEPS_S) - 1)]
            if down is None:
                down = time.monotonic()
                log.warning(
                    "数据库不可用 database unavailable (%s): retrying in %g s, then up to every "
                    "%g s%s",
                    why,
                    pause,
                    OUTAGE_STEPS_S[-1],
                    "" if "gridward db start" in why else down_note(),
                )
            tries += 1
            time.sleep(pause)
            continue
        if down is not None:
            log.warning(
                "数据库已恢复 database available again after %.0f s", time.monotonic() - down
            )
            down, tries = None, 0
        _print_drain(rep, watching=True)
        time.sleep(every)


def _drain(engine: Any, batch: int, sweep: Any = None) -> Any:  # -> DrainReport
    """One drain of the queue, with a progress bar only on a terminal (in a log file each
    bar left an empty line); ``sweep`` (an AbandonedSweep) queues abandoned uploads first."""
    import logging

    from rich.console import Console
    from rich.progress import Progress, TaskID

    from geo.match_queue import drain_queue

    abandoned = sweep.queue(engine) if sweep is not None else []
    if abandoned:
        shown = ", ".join(str(i) for i in abandoned[:20]) + (" …" if len(abandoned) > 20 else "")
        logging.getLogger("gridward.worker").warning(
            "%d 条轨迹已存储但从未匹配（上传进程中途退出），现已排队匹配：%s "
            "%d tracks stored but never matched (their upload's process died): queued: %s",
            len(abandoned),
            shown,
            len(abandoned),
            shown,
        )
    err = Console(stderr=True)
    if not err.is_terminal:
        return drain_queue(engine, batch=batch)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("匹配 matching", total=None)

        def step(done: int, total: int, task: TaskID = task) -> None:
            bar.update(task, completed=done, total=total)

        return drain_queue(engine, batch=batch, progress=step)


def _print_drain(rep: Any, watching: bool) -> None:
    """What a drain did, one line each, each after the local time (WHY in both modes: a
    worker run from cron every few minutes wrote lines no log could place in time); when
    ``watching``, nothing at all for a drain that found nothing."""
    lines = []
    if rep.matched or rep.failed or not watching:
        lines.append(
            f"已匹配 {rep.matched} 条轨迹（{rep.points} 个定位点，{rep.visits} 次路段巡查），"
            f"失败 {rep.failed} 条 "
            f"matched {rep.matched} tracks ({rep.points} points, {rep.visits} segment "
            f"visits), failed {rep.failed}"
        )
    if rep.rematched:
        moved_zh = (
            f"；{rep.days_moved} 条把 {rep.moved_m:,.0f} 米改记别日" if rep.days_moved else ""
        )
        lines.append(
            f"重新匹配的 {rep.rematched} 条轨迹中有 {rep.changed} 条有变化：巡查长度 "
            f"+{rep.gained_m:,.0f} 米，-{rep.lost_m:,.0f} 米{moved_zh} "
            f"{rep.changed} of {rep.rematched} re-matched tracks changed: walked "
            f"+{rep.gained_m:,.0f} m, -{rep.lost_m:,.0f} m"
            + (
                f"; {rep.days_moved} credit {rep.moved_m:,.0f} m on other days 改记别日"
                if rep.days_moved
                else ""
            )
        )
    lines += [f"轨迹 {tid} 匹配失败 track {tid}: error: {why}" for tid, why in rep.errors.items()]
    lines += [
        f"轨迹 {tid} 未计入巡查 track {tid}: warning: {why}" for tid, why in rep.uncredited.items()
    ]
    for line in lines:
        typer.echo(f"{stamp()} {line}")


@tracks_app.command("rematch")
def rematch(
    since: str = typer.Option(
        None, "--since", help="起始日期 first local day (YYYY-MM-DD) whose tracks are matched again"
    ),
    until: str = typer.Option(
        None, "--until", help="结束日期 last local day (default: today 默认到今天)"
    ),
    track: list[int] = typer.Option(
        None, "--track", help="或指定轨迹编号 or: a track id (repeatable)"
    ),
    queue_only: bool = typer.Option(
        False, "--queue-only", help="只排队 only queue them; running workers match them"
    ),
    batch: int = typer.Option(
        200, "--batch", min=1, max=5000, help="每批匹配的轨迹数 tracks matched together"
    ),
) -> None:
    """重新匹配轨迹 Match stored tracks again (after the street network changed).

    Each track's visits are replaced when its batch is matched; reports then use them."""
    from rich.console import Console

    from geo.db import get_engine
    from geo.match_queue import requeue_tracks
    from geo.settings import city_today
    from geo.track_days import refuse_ahead

    first, last = cli_day(since, "--since"), cli_day(until, "--until")
    refuse_ahead(first, "--since")
    if first is not None and last is None:
        last = city_today()  # --since alone: from that day on, as audit --since (T59 #5)
    engine = get_engine()
    queued, already = requeue_tracks(engine, track or None, first, last, "cli")
    days = f" of {first} to {last}" if first is not None else ""  # which days, said
    days_zh = f"{first} 至 {last} " if first is not None else ""
    Console().print(
        f"已将 {days_zh}{queued} 条轨迹排队重新匹配（另有 {already} 条此前已在排队） "
        f"queued {queued} tracks{days} ({already} were queued already)",
        markup=False,
        soft_wrap=True,  # one line, also in a file or a pipe (rich wraps at 80 there)
    )
    if not queue_only and queued + already:
        worker(batch=batch, watch=0.0)


@tracks_app.command("drop-fixes")
def drop_fixes(
    before: str = typer.Option(
        None,
        "--before",
        help="删除此日期之前的原始定位点 （按 UTC 日，非北京时间） "
        "drop the raw fixes of UTC days before this date (YYYY-MM-DD)",
    ),
    keep_days: int = typer.Option(
        None,
        "--keep-days",
        min=1,
        max=36_500,
        help="或只保留最近 N 个 UTC 日 or: keep only the last N UTC days (for a daily cron)",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="只列出不删除 only list the days and fix counts"
    ),
) -> None:
    """清理原始定位点 Retention: drop old days' raw GPS fixes.

    Patrol visits and reports stay; each upload's bytes stay too, so an old track can still be
    shown and matched again (its fixes are parsed from the kept upload)."""
    from rich.console import Console

    from geo.db import get_engine
    from geo.track_partitions import drop_days_before

    if (before is None) == (keep_days is None):
        raise InputError(
            "须给出 --before YYYY-MM-DD 或 --keep-days N，且只能给其中一个 "
            "give exactly one of --before YYYY-MM-DD and --keep-days N"
        )
    if keep_days is not None:
        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=keep_days - 1)
    else:
        day = cli_day(before, "--before")
    dropped = drop_days_before(get_engine(), day, dry_run=dry_run)
    out = Console()
    verb = "would drop" if dry_run else "dropped"
    verb_zh = "将删除" if dry_run else "已删除"
    for d, n in dropped:
        out.print(f"{d}: {verb_zh} {n} 个定位点 {verb} {n} fixes", markup=False)
    total = sum(n for _, n in dropped)
    out.print(
        f"共{verb_zh} {len(dropped)} 天、{total} 个定位点 "
        f"{verb} {len(dropped)} days, {total} fixes",
        markup=False,
    )


@tracks_app.command("reassign")
def reassign(
    track: int = typer.Option(..., "--track", min=1, max=2**31 - 1, help="轨迹编号 the track's id"),
    person: str = person_option(
        f"巡查人 the steward who walked it: {PERSON_HELP.partition('the person: ')[2]}",
        required=True,
    ),
) -> None:
    """轨迹改归属 Give a track, and its patrol credit, to another person.

    For a walk uploaded for the wrong steward (or for nobody): the same file sent again for
    the right one is refused, as the same bytes are one track."""
    from geo.db import get_engine
    from geo.track_store import set_track_person

    engine = get_engine()
    who = resolve_person(engine, person)
    done = set_track_person(engine, track, who.id, "cli")
    if done["before"] is None:
        before, before_zh = "nobody", "未指定人员"
    else:  # named, as the new person is (T37 #11: only its id:N was given)
        was = resolve_person(engine, int(done["before"]))
        before, before_zh = f"{was.name} (person {was.id})", was.label_zh()
    if done["changed"]:
        typer.echo(
            f"轨迹 {track}：{before_zh} -> {who.label_zh()}，其巡查记录现计入此人 "
            f"track {track}: {before} -> {who.name} (person {who.id}); its visits credit "
            "them now"
        )
    else:
        typer.echo(
            f"轨迹 {track} 已属于 {who.label_zh()}，"
            "未作改动 "
            f"track {track}: already person {who.id}'s; nothing changed"
        )
    if done.get("warning"):  # e.g. the new person has left (Chinese first already)
        typer.echo(f"warning: {done['warning']}", err=True)


def _report(
    kind: str,
    day: str,
    area: str | None,
    out: Path | None,
    share: float | None,
    table: str | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from api.progress import progress_bar
    from geo.db import get_engine
    from geo.patrol_reports import (
        build_report,
        report_summary,
        role_label,
        share_text,
        share_used,
    )
    from geo.report_areas import AREA_LEVELS
    from geo.report_export import check_table, export_report
    from geo.report_period import report_period
    from geo.report_signoffs import attach_signoff
    from geo.settings import city_today

    when = cli_day(day, "--date")
    if share is not None and not 0 < share <= 1:
        raise InputError(
            f"达标比例 --share {share} 有误：须大于 0 且不超过 1（巷长度中走过多大比例算已巡查） "
            f"--share {share} must be in (0, 1]: the part of an alley that counts"
        )
    if table is not None and (out is None or out.suffix.lower() != ".csv"):
        raise InputError(
            f"--table {table} 只用于 .csv 文件，请加 --out 文件.csv（.xlsx 含全部表） "
            f"--table {table} picks the table of a .csv file: add --out FILE.csv "
            "(an .xlsx holds every table)"
        )
    if out is not None:  # a folder, a wrong suffix or an unwritable place: before any work
        check_out(out, (".xlsx", ".csv"), {}, example_stem=f"{kind}-report")
    if out is not None and out.suffix.lower() == ".csv":
        try:
            check_table(table, kind)  # a wrong table is an error before any work
        except InputError as exc:
            raise InputError(f"选表有误 --table: {exc.message}") from None
    today = city_today()  # once: the title and the report must agree near midnight
    period = report_period(kind, when, today)  # a future or pre-1990 period is an error
    share = share_used(share)
    engine = get_engine()
    # a bar on a terminal only (a city's month: 10-20 s); scripts' stderr stays clean
    with progress_bar(f"报表 {kind} report") as step:
        step(0.0, "正在读取巡查数据 reading the patrols")  # the longest stage, named (T60 #12)
        report = build_report(
            engine, kind, when, area, share, today, progress=lambda f, m: step(0.9 * f, m)
        )
        attach_signoff(engine, report, period, share)  # signed (签发): which, what changed since
        summary = report_summary(report, period)
        if out is not None:
            step(0.9, f"正在写文件 writing {out.name}")
            export_report(report, out, period, share, table)
        step(1.0, "已完成 done")
    place = summary["area"]
    where = f" · {place['name'] or ''} {place['code']}".rstrip() if place else ""
    # the threshold by its one name, as a percentage (T71 #5: 达标 share ≥ 0.8)
    pct = share_text(share)
    title = f"{period.title()}{where} · 达标线 {pct} patrolled when walked ≥ {pct}"
    if out is not None:
        title_zh = f"{period.title_zh()}{where}，达标比例 {share:g}"
        typer.echo(f"已写入报表 {out}（{title_zh}） wrote {out}: {title}")
        for note in summary["notes"]:
            typer.echo(f"说明 note: {note}")
        typer.echo(_as_of(summary))
        if report.meta.get("signed"):
            typer.echo(_signed_line(report.meta["signed"]))
        return
    people = report["people"]
    table_ = Table(title=title)
    cols = [
        c
        for c in (
            "role",
            "person_name",
            "person_code",
            "alleys",
            "patrolled_alleys",
            "alley_days",
            "patrolled_alley_days",
            "pending" if period.running else "",
            "compliance",
            "rank",
            "late_uploads",  # 迟传: tracks sent over GRIDWARD_LATE_UPLOAD_H after the walk
            "late_days_max",  # the longest delay among them, in whole days (T52 #18)
            "suspect_tracks",  # 可疑轨迹: flagged tracks that credited the row (T52 #12)
            "midnight_alley_days",  # 跨零点已巡街巷·天: days earned by walks over midnight (T69 #5)
        )
        if c in people.columns
    ]
    console = Console()
    if not console.is_terminal:  # a file or a pipe: as wide as the rows, not cut at 80
        console = Console(width=PIPE_WIDTH)
    console.print(_table(table_, people, cols, role_label))
    areas = report["areas"].assign(
        name=lambda a: a["community_name"].fillna(a["subdistrict_name"]).fillna(a["district_name"]),
        level=lambda a: a["level"].map(AREA_LEVELS),
    )
    cols = ["role", "level", "name", "alley_days", "patrolled"]
    cols += ["pending"] if period.running else []
    cols += ["compliance", "unstaffed", "rank"]
    console.print(_table(Table(title="区域 areas"), areas, cols, role_label))
    for note in summary["notes"]:
        console.print(f"说明 note: {note}", markup=False, soft_wrap=True)
    console.print(_as_of(summary), markup=False, soft_wrap=True)
    if report.meta.get("signed"):
        console.print(_signed_line(report.meta["signed"]), markup=False, soft_wrap=True)


def _signed_line(signed: dict[str, Any]) -> str:
    """The line saying the period's report was signed (签发): which version, when, by whom."""
    from geo.report_export import local_text, signer_text, zh_then

    v, sid = signed["version"], signed["id"]
    at_zh = zh_then(local_text(signed["signed_at"], lang="zh"))
    at = local_text(signed["signed_at"], lang="en")
    # the signer as a person reads it, cli:root as 命令行（系统账号 root）; the signed copy is
    # 签发件, one term (T71 #39, #9)
    by_zh, by = signer_text(signed["signed_by"])
    return (
        f"已签发：第 {v} 版，{at_zh}由{by_zh}签发，签发件：gridward report signed --id {sid} "
        f"--out 文件.xlsx signed: version {v}, at {at} by {by}; the signed copy: gridward "
        f"report signed --id {sid} --out FILE.xlsx"
    )


def _as_of(summary: dict[str, Any]) -> str:
    """The line naming when the report's data last changed (T55 #3: which data was signed)."""
    from geo.report_export import AS_OF_LABEL, as_of_text

    return f"{AS_OF_LABEL}: {as_of_text(summary)}"


# the width of a report printed to a file or a pipe (rich assumes 80 columns there)
PIPE_WIDTH = 240


def _cell(v: Any) -> str:
    import pandas as pd

    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "—"  # no rate yet (nothing finished), or no rank without a rate
    return percent_text(v) if isinstance(v, float) else str(v)


def percent_text(share: float) -> str:
    """A share as the web page and the XLSX show it: one decimal, halves rounded up
    (四舍五入), ``0.625`` → ``62.5%``, ``0.7995`` → ``80.0%``. WHY (outside tester T71 #1): the
    table printed whole percents rounded half to even, 62.5 % as ``62%`` and 79.5 % as
    ``80%``, unlike the signed XLSX, and ``80%`` read as the 达标线."""
    from decimal import ROUND_HALF_UP, Decimal

    pct = Decimal(repr(share)) * 100
    return f"{pct.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _table(table: Any, df: Any, cols: list[str], role_label: Any) -> Any:
    """``df[cols]`` as rows of a rich ``table``: Chinese-first headers, roles by their
    label, shares as percentages, a missing rate or rank as —."""
    from geo.report_export import HEADERS

    for c in cols:  # folded, never cut to "清华园…": the rows must tell areas apart
        table.add_column(HEADERS.get(c, "名称 name" if c == "name" else c), overflow="fold")
    for rec in df[cols].itertuples(index=False):
        row = [role_label(v) if c == "role" else v for c, v in zip(cols, rec, strict=True)]
        table.add_row(*(_cell(v) for v in row))
    return table


def _today() -> str:
    from geo.settings import city_today

    return city_today().isoformat()


def _report_command(kind: str, doc: str):
    """One ``report`` subcommand; daily, weekly and monthly differ only in the period."""

    def command(
        date: str = typer.Option(
            None, "--date", help="报表日期 a day of the period (default today)"
        ),
        area: str = typer.Option(
            None, "--area", help="社区或街道编码 community or subdistrict code"
        ),
        out: Path = typer.Option(
            None, "--out", help="输出文件 write .csv or .xlsx instead of printing"
        ),
        share: float = typer.Option(
            None,
            "--share",
            help="达标线（须走过的长度比例） 0–1，默认按设置 0.8 "
            "the share of a street or alley to walk for it to count, 0-1 (default: the "
            "setting, 0.8)",
        ),
        table: str = typer.Option(
            None,
            "--table",
            help="导出哪张表 the table of a .csv: people (default), alleys, areas, or segments "
            "(daily: per segment walked fraction, first and last time)",
        ),
    ) -> None:
        # '' is a mistyped date, not today (T57 #6)
        _report(kind, _today() if date is None else date, area, out, share, table)

    command.__doc__ = doc
    return command


for _kind, _doc in (
    ("daily", "日巡 Daily patrol: who walked their alleys that day."),
    ("weekly", "周查 Weekly check: compliance per person over the ISO week, ranked."),
    ("monthly", "月评 Monthly evaluation: compliance per person over the month, ranked."),
):
    report_app.command(_kind)(_report_command(_kind, _doc))


KIND_HELP = "报表类型 daily（日巡）, weekly（周查）or monthly（月评）"


@report_app.command("sign")
def sign_command(
    kind: str = typer.Argument(..., help=KIND_HELP, metavar="KIND"),
    date: str = typer.Option(
        ..., "--date", help="报表日期 a day of the closed period (YYYY-MM-DD)"
    ),
    area: str = typer.Option(
        None, "--area", help="社区或街道编码 community or subdistrict code (default: whole city)"
    ),
    note: str = typer.Option(
        None, "--note", help="签发说明 a note kept with the signoff (at most 500 characters)"
    ),
) -> None:
    """签发报表 Sign a closed period's report: keep it as signed.

    The report (JSON) and its XLSX are stored as they are now, as version N+1 of the kind,
    period and area; signing again is a correction and never overwrites the earlier one.
    Later changes to the data change the live report, which then says what changed since the
    signing; gridward report signed gives the signed copy back byte for byte."""
    from geo.db import get_engine
    from geo.report_export import local_text
    from geo.report_period import KINDS
    from geo.report_signoffs import check_kind, sign_report

    check_kind(kind)
    when = cli_day(date, "--date")
    row = sign_report(get_engine(), kind, when, area, note, "cli")
    where = f"，区域 {row['area']}" if row["area"] else "，全市"
    where_en = f", area {row['area']}" if row["area"] else ", whole city"
    span = _span(row)
    as_of = local_text(row["data_as_of"])
    if row.get("repeated"):  # the same signing again: nothing new stored
        typer.echo(
            f"此前已签发（同一数据、同一签发人、同一说明），未另存新版：第 {row['version']} 版，"
            f"编号 id:{row['id']}，sha256 {row['sha256']} already signed (the same data, signer "
            f"and note): nothing new stored; version {row['version']}, id {row['id']}, "
            f"sha256 {row['sha256']}"
        )
        return
    typer.echo(
        f"已签发{KINDS[kind].split()[0]} {span}{where}：第 {row['version']} 版，"
        f"编号 id:{row['id']}，sha256 {row['sha256']}，数据更新于 {as_of or '尚无数据'} "
        f"signed {row['kind']} {span}{where_en}: version {row['version']}, id {row['id']}, "
        f"sha256 {row['sha256']}, data as of {as_of or 'no data yet'}"
    )


def _span(row: dict[str, Any]) -> str:
    a, b = row["period_from"], row["period_to"]
    return a if a == b else f"{a} – {b}"


@report_app.command("signed")
def signed_command(
    kind: str = typer.Option(None, "--kind", help=f"只列此类 only this kind: {KIND_HELP}"),
    area: str = typer.Option(None, "--area", help="只列此区域 only this area code's signoffs"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON print the list as JSON"),
    sid: int = typer.Option(
        None, "--id", min=1, max=2**31 - 1, help="签发编号 one signoff's id (with --out: its copy)"
    ),
    out: Path = typer.Option(
        None, "--out", help="写出签发件 write the signed copy: .xlsx or .json (with --id)"
    ),
) -> None:
    """已签发的报表 List signed reports, or write one's signed copy (--id N --out F).

    The list: id, kind, period, area, version, signed_at, signed_by and the start of the
    XLSX's sha256. --out F.xlsx writes the XLSX exactly as it was signed (the same bytes);
    --out F.json the report's JSON as signed, with a signed block."""
    from rich.console import Console
    from rich.table import Table

    from geo.db import get_engine
    from geo.report_signoffs import document_bytes, list_signoffs, read_signoff

    if out is not None and sid is None:
        raise InputError(
            "--out 须与 --id 一起用：要写出哪一份签发件？请加 --id N（编号见 gridward "
            "report signed） --out needs --id: which signoff's copy? add --id N (gridward "
            "report signed lists them)"
        )
    if out is not None:  # a folder, a wrong suffix or an unwritable place: before any work
        check_out(out, (".xlsx", ".json"), {}, example_stem="signed-report")
    engine = get_engine()
    if sid is not None:
        part = "json" if out is not None and out.suffix.lower() == ".json" else "xlsx"
        meta, data = read_signoff(engine, sid, part)
        if out is None:
            rows = [meta]
        else:
            _write_atomic(out, data if part == "xlsx" else document_bytes(data))
            typer.echo(
                f"已写出签发件 {out}（编号 id:{sid}，第 {meta['version']} 版） "
                f"wrote {out}: signed report {sid}, version {meta['version']}"
                + (f", sha256 {meta['sha256']}" if part == "xlsx" else "")
            )
            return
    else:
        rows = list_signoffs(engine, kind, area)
    if as_json:
        import json

        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table(title="已签发的报表 signed reports")
    heads = (
        ("编号 id", "id"),
        ("类型 kind", "kind"),
        ("周期 period", None),
        ("区域 area", "area"),
        ("版本 version", "version"),
        ("签发时间 signed_at", "signed_at"),
        ("签发人 signed_by", "signed_by"),
        ("sha256", "sha256"),
        ("说明 note", "note"),
    )
    for head, _ in heads:
        table.add_column(head, overflow="fold")
    from geo.report_export import local_text, signer_text

    for r in rows:
        table.add_row(
            str(r["id"]),
            r["kind"],
            _span(r),
            r["area"] or "全市 whole city",
            str(r["version"]),
            local_text(r["signed_at"]) or "",
            signer_text(r["signed_by"])[0],
            r["sha256"][:12],
            r["note"] or "",
        )
    console = Console()
    if not console.is_terminal:  # a file or a pipe: as wide as the rows, not cut at 80
        console = Console(width=PIPE_WIDTH)
    if not rows:
        console.print("尚无签发的报表 no signed reports", markup=False)
        return
    console.print(table)


def _write_atomic(out: Path, data: bytes) -> None:
    """``data`` to ``out``, beside its name and renamed (never half-written)."""
    from geo.vector_io import atomic_file

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(out) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:  # a folder under a file, a read-only place, a full disk
        why = exc.strerror or type(exc).__name__
        raise InputError(
            f"无法写入文件 {out}（{why}）：请换一个可写的文件夹 cannot write {out}: {why}"
        ) from None


def register(app: typer.Typer) -> None:
    """Add ``report`` (``tracks upload`` hangs on the tracks group)."""
    app.add_typer(report_app, name="report")

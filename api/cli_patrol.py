"""``gridward tracks upload`` and ``gridward report``: patrols into PostGIS and out as reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from api.cli_people import PERSON_HELP, person_option, resolve_person
from api.cli_tracks import CRS_HELP, read_track_file, tracks_app
from api.runtime import LOG_LEVEL_HELP, configure_logging, stamp
from geo.errors import InputError

report_app = typer.Typer(
    help="Patrol reports 巡查报表: daily 日巡, weekly 周查, monthly 月评.", no_args_is_help=True
)


@tracks_app.command("upload")
def upload(
    files: list[Path] = typer.Argument(
        ...,
        help="GPX, KML/KMZ, GeoJSON, CSV/TSV, Excel .xlsx, OpenDocument .ods or NMEA track files",
    ),
    crs: str = typer.Option("wgs84", "--crs", help=CRS_HELP),
    person: str = person_option(
        f"the steward who walked: {PERSON_HELP.removeprefix('the person: ')}"
    ),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help="walk (default) or bike; naming it for a file stored before matches it again in "
        "that mode",
    ),
    defer: bool = typer.Option(
        False, "--defer", help="store only; a worker matches them (gridward tracks worker)"
    ),
) -> None:
    """Store tracks (idempotent) and match them to the alleys. 上传轨迹"""
    import psycopg
    from rich.console import Console
    from rich.progress import track as progress
    from sqlalchemy.exc import DBAPIError

    from geo.db import get_engine
    from geo.errors import GridwardError, chinese_first, db_failure
    from geo.settings import get_settings
    from geo.track_store import ingest_track

    if mode is not None and mode not in ("walk", "bike"):
        raise InputError(f"出行方式有误，请用 walk 或 bike unknown mode '{mode}': use walk or bike")
    engine = get_engine()
    # named once, before any file: an unknown or ambiguous person stores nothing
    person_id = resolve_person(engine, person).id if person is not None else None
    limit = get_settings().max_upload_bytes
    failed = 0
    out = Console()
    for path in progress(files, description="uploading 上传", console=Console(stderr=True)):
        try:
            data = read_track_file(path, limit)  # a folder is named as one
            item = ingest_track(engine, data, path.name, crs, person_id, "cli", mode, defer)
        except GridwardError as exc:
            failed += 1
            why = chinese_first(exc.message, exc.status_code)
            out.print(f"{path.name or path}: error: {why}", markup=False, soft_wrap=True)
            continue
        except (DBAPIError, psycopg.Error) as exc:
            # WHY per file: a deadlock or a lost connection on one file ended the command with
            # a traceback, the files after it never sent; the files before it are stored
            failed += 1
            why = db_failure(exc)
            out.print(
                f"{path.name or path}: error: 服务暂不可用 database error "
                f"({why.line if why else exc}): send this file again",
                markup=False,
                soft_wrap=True,
            )
            continue
        line = f"{path.name}: track {item['track_id']}, {item['n_points']} points"
        change = item.get("crs_change")  # the same file again, with another datum
        if change and not change["changed"]:
            line += f" (already stored; {change['message']})"
        elif item.get("resumed"):  # stored before but never matched: matched (queued) now
            line += " (already stored, never matched before)" + _match_outcome(item)
        elif item.get("status") == "matching":  # another upload or worker has it now
            line += f" (already stored; {item['note']})"
        elif not (item["created"] or change or item.get("mode_change") or item.get("time_change")):
            line += " (already stored)"
        else:  # new, or re-read in the corrected datum or mode: matched (or queued) again
            if change:
                line += f" (already stored; datum corrected {change['from']} -> {change['to']})"
            if item.get("mode_change"):
                moved = item["mode_change"]
                line += f" (already stored; mode changed {moved['from']} -> {moved['to']})"
            if item.get("time_change"):  # the walk's fixes with its time zone put right
                line += f" (already stored; times moved {item['time_change']['shift_h']:+g} h)"
            line += _match_outcome(item)
        for warning in item.get("warnings", []):  # what the reader left out of the file
            line += f"; warning: {warning}"
        out.print(line, markup=False, soft_wrap=True)  # one line per file: scripts read it
    if failed:  # the one error: line (stderr) a script reads, as every command's
        raise InputError(
            f"{failed} 个文件未存 {failed} of {len(files)} track file(s) not stored: see their "
            "lines above"
        )


def _match_outcome(item: dict) -> str:
    if item["status"] == "queued":
        return ", queued for matching"
    if item["status"] != "matched":
        return f", not matched: {item['match_error']}"
    m = item["match"]
    out = f", matched {m['matched_points']}, {m['segments']} segments"
    if m.get("datum_hint"):
        out += f"; warning: {m['datum_hint']['message']}"  # still one line per file
    if m.get("warning"):
        out += f"; warning: {m['warning']}"
    return out


@tracks_app.command("worker")
def worker_command(
    batch: int = typer.Option(200, "--batch", min=1, max=5000, help="tracks matched together"),
    watch: float = typer.Option(
        0.0,
        "--watch",
        min=0.0,
        help="keep polling every N seconds (0: drain and exit); a poll that finds nothing prints "
        "nothing, a lost database is waited for",
    ),
    log_level: str = typer.Option(None, "--log-level", help=LOG_LEVEL_HELP),
) -> None:
    """Match queued tracks (deferred uploads) until the queue is empty. 匹配排队轨迹

    Each line it prints starts with the local time (a cron job's log, too).
    Several workers may run at once (on one or many machines): each claims its own tracks.
    With --watch, a database that goes away (restart, failover) is waited for (retries 1 s,
    2 s, 4 s … up to every 60 s), said once on stderr, and once when it is back; also one not
    up yet when the worker starts. What waiting cannot mend (a wrong password, an unknown
    database or host, a failed migration, a port in use) ends it as without --watch."""
    configure_logging(log_level)
    worker(batch, watch)


def worker(batch: int = 200, watch: float = 0.0) -> None:
    """Drain the queue once (``watch`` 0), or for good every ``watch`` seconds."""
    if not watch:
        from geo.db import get_engine

        _print_drain(_drain(get_engine(), batch), watching=False)
        return
    _watch(batch, watch)


def _watch(batch: int, every: float) -> None:
    """Poll for good. WHY the retry: a worker that exited on a database restart left deferred
    uploads waiting until someone noticed (tester's M4); a batch cut off is rolled back whole,
    so its tracks are claimed again. Idle polls print nothing (a log line each was noise).
    Only an outage that can pass is waited for (see :func:`geo.match_queue.outage`); any other
    error ends the worker with the one line and exit code it has without --watch (outside
    tester Z2, N7: a wrong password was retried for ever, silent after one line)."""
    import logging
    import time

    from geo.db import database_url, get_engine
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
            rep = _drain(engine, batch)
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
                    "%g s",
                    why,
                    pause,
                    OUTAGE_STEPS_S[-1],
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


def _drain(engine: Any, batch: int) -> Any:  # -> DrainReport
    """One drain of the queue, with a progress bar only on a terminal (in a log file each
    bar left an empty line)."""
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from geo.match_queue import drain_queue

    err = Console(stderr=True)
    if not err.is_terminal:
        return drain_queue(engine, batch=batch)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("matching 匹配", total=None)

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
            f"matched {rep.matched} tracks ({rep.points} points, {rep.visits} segment "
            f"visits), failed {rep.failed}"
        )
    if rep.rematched:
        lines.append(
            f"{rep.changed} of {rep.rematched} re-matched tracks changed: walked "
            f"+{rep.gained_m:,.0f} m, -{rep.lost_m:,.0f} m"
            + (
                f"; {rep.days_moved} credit {rep.moved_m:,.0f} m on other days 改记别日"
                if rep.days_moved
                else ""
            )
        )
    lines += [f"track {tid}: error: {reason}" for tid, reason in rep.errors.items()]
    lines += [f"track {tid}: warning: {reason}" for tid, reason in rep.uncredited.items()]
    for line in lines:
        typer.echo(f"{stamp()} {line}")


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"日期有误，请用 YYYY-MM-DD 格式 {option} '{value}' is not a date (YYYY-MM-DD)"
        ) from None


@tracks_app.command("rematch")
def rematch(
    since: str = typer.Option(
        None, "--since", help="first local day (YYYY-MM-DD) whose tracks are matched again"
    ),
    until: str = typer.Option(None, "--until", help="last local day (default: --since)"),
    track: list[int] = typer.Option(None, "--track", help="or: a track id (repeatable)"),
    queue_only: bool = typer.Option(
        False, "--queue-only", help="only queue them; running workers match them"
    ),
    batch: int = typer.Option(200, "--batch", min=1, max=5000, help="tracks matched together"),
) -> None:
    """Match stored tracks again (after the street network changed). 重新匹配轨迹

    Each track's visits are replaced when its batch is matched; reports then use them."""
    from rich.console import Console

    from geo.db import get_engine
    from geo.match_queue import requeue_tracks

    engine = get_engine()
    queued, already = requeue_tracks(
        engine, track or None, _day(since, "--since"), _day(until, "--until"), "cli"
    )
    days = ""  # say which days: --since alone is one day, which a reader took for "onward"
    if since is not None:
        days = f" of {since}" if until in (None, since) else f" of {since} to {until}"
        days += " (one day: add --until for more)" if until is None else ""
    Console().print(
        f"queued {queued} tracks{days} ({already} were queued already)",
        markup=False,
        soft_wrap=True,  # one line, also in a file or a pipe (rich wraps at 80 there)
    )
    if not queue_only and queued + already:
        worker(batch=batch, watch=0.0)


@tracks_app.command("drop-fixes")
def drop_fixes(
    before: str = typer.Option(
        None, "--before", help="drop the raw fixes of UTC days before this date (YYYY-MM-DD)"
    ),
    keep_days: int = typer.Option(
        None,
        "--keep-days",
        min=1,
        max=36_500,
        help="or: keep only the last N UTC days (for a daily cron)",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="only list the days and fix counts"),
) -> None:
    """Retention: drop old days' raw GPS fixes. 清理原始定位点

    Patrol visits and reports stay; each upload's bytes stay too, so an old track can still be
    shown and matched again (its fixes are parsed from the kept upload)."""
    from rich.console import Console

    from geo.db import get_engine
    from geo.track_partitions import drop_days_before

    if (before is None) == (keep_days is None):
        raise InputError(
            "须给出 --before 或 --keep-days 之一 "
            "give exactly one of --before YYYY-MM-DD and --keep-days N"
        )
    if keep_days is not None:
        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=keep_days - 1)
    else:
        try:
            day = dt.date.fromisoformat(before)
        except ValueError:
            raise InputError(
                f"日期有误，请用 YYYY-MM-DD 格式 --before '{before}' is not a date (YYYY-MM-DD)"
            ) from None
    dropped = drop_days_before(get_engine(), day, dry_run=dry_run)
    out = Console()
    verb = "would drop" if dry_run else "dropped"
    for d, n in dropped:
        out.print(f"{d}: {verb} {n} fixes", markup=False)
    total = sum(n for _, n in dropped)
    out.print(f"{verb} {len(dropped)} days, {total} fixes", markup=False)


@tracks_app.command("reassign")
def reassign(
    track: int = typer.Option(..., "--track", min=1, max=2**31 - 1, help="the track's id"),
    person: str = person_option(
        f"the steward who walked it: {PERSON_HELP.removeprefix('the person: ')}", required=True
    ),
) -> None:
    """Give a track, and its patrol credit, to another person. 轨迹改归属

    For a walk uploaded for the wrong steward (or for nobody): the same file sent again for
    the right one is refused, as the same bytes are one track."""
    from geo.db import get_engine
    from geo.track_store import set_track_person

    engine = get_engine()
    who = resolve_person(engine, person)
    done = set_track_person(engine, track, who.id, "cli")
    before = "nobody" if done["before"] is None else f"person {done['before']}"
    if done["changed"]:
        typer.echo(f"track {track}: {before} -> person {who.id}; its visits credit them now")
    else:
        typer.echo(f"track {track}: already person {who.id}'s; nothing changed")


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

    from geo.db import get_engine
    from geo.patrol_reports import (
        AREA_LEVELS,
        build_report,
        report_period,
        report_summary,
        role_label,
        share_used,
    )
    from geo.report_export import check_table, export_report
    from geo.settings import city_today

    try:
        when = dt.date.fromisoformat(day)
    except ValueError:
        raise InputError(f"日期有误，请用 YYYY-MM-DD 格式 date '{day}' is not YYYY-MM-DD") from None
    if share is not None and not 0 < share <= 1:
        raise InputError(
            "巡查比例须在 (0, 1] 之间 "
            f"--share {share} must be in (0, 1]: the part of an alley that counts"
        )
    if table is not None and (out is None or out.suffix.lower() != ".csv"):
        raise InputError(
            "只有 .csv 文件才选表，请加 --out 文件.csv "
            f"--table {table} picks the table of a .csv file: add --out FILE.csv "
            "(an .xlsx holds every table)"
        )
    if out is not None and out.suffix.lower() == ".csv":
        try:
            check_table(table, kind)  # a wrong table is an error before any work
        except InputError as exc:
            raise InputError(f"选表有误 --table: {exc.message}") from None
    today = city_today()  # once: the title and the report must agree near midnight
    period = report_period(kind, when, today)  # a future or pre-1990 period is an error
    share = share_used(share)
    report = build_report(get_engine(), kind, when, area, share, today)
    summary = report_summary(report, period)
    place = summary["area"]
    where = f" · {place['name'] or ''} {place['code']}".rstrip() if place else ""
    title = f"{period.title()}{where} · 达标 share ≥ {share:g}"
    if out is not None:
        export_report(report, out, period, share, table)
        typer.echo(f"wrote {out}: {title}")
        for note in summary["notes"]:
            typer.echo(f"note: {note}")
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
        )
        if c in people.columns
    ]
    console = Console()
    if not console.is_terminal:  # a file or a pipe: as wide as the rows, not cut at 80
        console = Console(width=PIPE_WIDTH)
    console.print(_table(table_, people, cols, role_label))
    areas = report["areas"].assign(
        name=lambda a: a["community_name"].fillna(a["subdistrict_name"]),
        level=lambda a: a["level"].map(AREA_LEVELS),
    )
    cols = ["role", "level", "name", "alley_days", "patrolled"]
    cols += ["pending"] if period.running else []
    cols += ["compliance", "unstaffed", "rank"]
    console.print(_table(Table(title="区域 areas"), areas, cols, role_label))
    for note in summary["notes"]:
        console.print(f"note: {note}", markup=False, soft_wrap=True)


# the width of a report printed to a file or a pipe (rich assumes 80 columns there)
PIPE_WIDTH = 240


def _cell(v: Any) -> str:
    import pandas as pd

    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "—"  # no rate yet (nothing finished), or no rank without a rate
    return f"{v:.0%}" if isinstance(v, float) else str(v)


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
        date: str = typer.Option(None, "--date", help="a day of the period (default today)"),
        area: str = typer.Option(None, "--area", help="community or subdistrict code"),
        out: Path = typer.Option(None, "--out", help="write .csv or .xlsx instead of printing"),
        share: float = typer.Option(
            None, "--share", help="share of an alley that counts (default: setting, 0.8)"
        ),
        table: str = typer.Option(
            None,
            "--table",
            help="the table of a .csv: people (default), alleys, areas, or segments "
            "(daily: per segment walked fraction, first and last time)",
        ),
    ) -> None:
        _report(kind, date or _today(), area, out, share, table)

    command.__doc__ = doc
    return command


for _kind, _doc in (
    ("daily", "Daily patrol 日巡: who walked their alleys that day."),
    ("weekly", "Weekly check 周查: compliance per person over the ISO week, ranked."),
    ("monthly", "Monthly evaluation 月评: compliance per person over the month, ranked."),
):
    report_app.command(_kind)(_report_command(_kind, _doc))


def register(app: typer.Typer) -> None:
    """Add ``report`` (``tracks upload`` hangs on the tracks group)."""
    app.add_typer(report_app, name="report")

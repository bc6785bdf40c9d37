"""``--person`` on the command line: one way to name a person for every command (and for
the ``person`` field of ``POST /tracks``, whose messages say ``person`` instead).

A person is named by their registry id (``people.external_id``, the id planners know, e.g.
``S12``) or by their ``people.id`` (the database row id some scripts were written against).
Rules, for every command that takes ``--person``:

* ``ext:VALUE`` is always the registry id VALUE, ``id:N`` always the people.id N (a whole
  number); the prefixes are case-insensitive, and a registry id that itself begins with
  ``id:`` or ``ext:`` is given as ``ext:id:…``;
* a bare value is looked up both ways: a registry id equal to it, and (when it is a whole
  number) the people.id equal to it. One match, or both naming the same person: that person.
  Two different people: refused, naming both, with the prefixed spellings that choose
  (a planner scripting ``--person 12`` must never credit the wrong steward silently);
* nobody: refused ("does not exist"). Every refusal is one line, exit code 2, and nothing is
  stored. Whether an inactive person may be named is the command's rule, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer

from geo.errors import InputError, NotFoundError, person_zh

PERSON_HELP = (
    "人员 the person: their registry id (people.external_id, e.g. S12) or their people.id; a "
    "number that is one person's people.id and another's registry id is refused: say "
    "id:12 (people.id) or ext:12 (registry id)"
)

# people.id is an int4 serial
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Person:
    """The person a ``--person`` value names."""

    id: int
    external_id: str
    name: str
    active: bool

    def label(self) -> str:
        return f"{self.name} (registry id {self.external_id}, people.id {self.id})"

    def label_zh(self) -> str:
        """:meth:`label` in Chinese: 张三（人员编号 S12，系统编号 id:5）."""
        return person_zh(self.name, self.external_id, self.id)


def parse_person(value: str, label: str = "--person") -> tuple[str, str]:
    """``(kind, key)`` of a ``--person`` value without the database: kind ``id`` (key: the
    digits of a people.id), ``ext`` (a registry id) or ``any`` (a bare value, both ways).
    Raises InputError for an empty value or an ``id:`` without a whole number; ``label``
    names the option or field in the message."""
    text = str(value).strip()
    head, sep, rest = text.partition(":")
    kind = head.strip().lower() if sep else ""
    if kind in ("id", "ext"):
        key = rest.strip()
        if not key:
            raise InputError(
                f"人员写法有误：{label} '{text[:60]}' 中 '{kind}:' 后面没有内容，请写成 id:12"
                f"（系统编号）或 ext:S12（人员编号） {label} '{text[:60]}': nothing after '{kind}:'"
            )
        if kind == "id" and not (key.isascii() and key.isdigit()):
            raise InputError(
                f"系统编号有误：{label} '{text[:60]}' 中 id: 后须为整数（如 id:12）；如是人员编号，"
                f"请写成 ext:{key[:40]} 即可 {label} '{text[:60]}': a people.id is a whole "
                f"number (id:12); a registry id is given as ext:{key[:40]}"
            )
        return kind, key
    if not text:
        raise InputError(
            f"未指定人员（{label} 为空），请给出人员编号或系统编号 id:N {label} '': empty; give a "
            "registry id (people.external_id) or id:N"
        )
    return "any", text


def check_person_option(value: str | None) -> str | None:
    """Typer callback: a malformed ``--person`` is a usage error (one line naming the option,
    exit 2) before any database work."""
    if value is None:
        return None
    try:
        parse_person(value)
    except InputError as exc:
        # typer names the option before the message: not twice, in Chinese nor in English
        raise typer.BadParameter(exc.message.replace("--person ", "")) from None
    return value


def person_option(help_text: str = PERSON_HELP, required: bool = False) -> Any:
    """The ``--person`` option, checked for form when given (a value for
    :func:`resolve_person`)."""
    return typer.Option(
        ... if required else None,
        "--person",
        help=help_text,
        metavar="PERSON",
        callback=check_person_option,
    )


_SQL = "SELECT id, external_id, name, active FROM people WHERE "


def resolve_person(bind: Any, value: str | int, label: str = "--person") -> Person:
    """The person ``value`` names (see the module's rules); ``bind`` is an Engine or a
    Connection (then read in the caller's transaction). Raises InputError (malformed or
    ambiguous) or NotFoundError (nobody), each one line naming ``label`` (the CLI option,
    or an API field: then spelt ``person=id:12``)."""
    from sqlalchemy import Engine, text

    if isinstance(value, bool):
        raise InputError(
            f"人员（{label}）须用人员编号或系统编号（people.id）指定 "
            f"{label} must be a registry id or a people.id"
        )
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return resolve_person(conn, value, label)
    kind, key = ("id", str(value)) if isinstance(value, int) else parse_person(value, label)
    shown = str(value).strip()[:60]
    by_ext = by_id = None
    if kind in ("ext", "any"):
        by_ext = bind.execute(text(_SQL + "external_id = :e"), {"e": key}).first()
    if kind in ("id", "any") and key.isascii() and key.isdigit() and 0 < int(key) <= _MAX_ID:
        by_id = bind.execute(text(_SQL + "id = :i"), {"i": int(key)}).first()
    if by_ext is not None and by_id is not None and by_ext.id != by_id.id:
        a, b = _person(by_id), _person(by_ext)
        la, lb, la_zh, lb_zh = a.label(), b.label(), a.label_zh(), b.label_zh()
        say = f"{label} " if label.startswith("-") else f"{label}="
        raise InputError(
            f"人员 '{shown}'（{label}）指向两人：系统编号 id:{key} 是 {la_zh}，人员编号 {key} 是 "
            f"{lb_zh}；请用 {say}id:{key} 或 {say}ext:{key} 指明 "
            f"{label} '{shown}' is ambiguous: people.id {key} is {la}, registry id "
            f"{key} is {lb}; say {say}id:{key} or {say}ext:{key}"
        )
    row = by_ext if by_ext is not None else by_id
    if row is None:
        what = {
            "id": f"no person has people.id {key[:40]}",
            "ext": f"no person has registry id (people.external_id) '{key[:60]}'",
            "any": "no such registry id (people.external_id) or people.id",
        }[kind]
        what_zh = {
            "id": f"没有系统编号为 id:{key[:40]} 的人员",
            "ext": f"没有人员编号为 '{key[:60]}' 的人员",
            "any": "没有此人员编号或系统编号",
        }[kind]
        raise NotFoundError(
            f"人员 '{shown}' 不存在（{what_zh}） person '{shown}' does not exist: {what}"
        )
    return _person(row)


def _person(row: Any) -> Person:
    return Person(int(row.id), str(row.external_id), str(row.name), bool(row.active))


# --------------------------------------------------------------------------------------------
# gridward people: a leave, a registry id changed (the registry itself: gridward import people)
# --------------------------------------------------------------------------------------------

people_app = typer.Typer(
    help="人员：离岗、改人员编号（名册用 gridward import people 导入） "
    "People: a leave, a registry id changed (the registry: gridward import people).",
    no_args_is_help=True,
)


def _check_person_argument(value: str) -> str:
    """Typer callback: a malformed PERSON is a usage error before any database work."""
    try:
        parse_person(value, "PERSON")
    except InputError as exc:
        raise typer.BadParameter(exc.message) from None
    return value


def _person_argument(help_text: str = PERSON_HELP) -> Any:
    return typer.Argument(..., help=help_text, metavar="PERSON", callback=_check_person_argument)


# each page's description one paragraph, Chinese first, that the help wraps to the terminal
# at its spaces (T45 #11: the docstring's description was English only, broken where its
# source lines ended, as import osm's was: api.cli_data.IMPORT_OSM_HELP)
LEAVE_HELP = (
    "人员离岗 A person leaves: inactive from today, their duties end on their last day.\n\n"
    "此人从今天起记为已离岗； 其在最后一天（--last-day，默认昨天，最晚今天） 之后仍生效的职责"
    "在那天结束， 今天或以后才开始的职责删除（审计记录保留原样）。 "
    "The person is inactive from today; their duties reaching past the last day (--last-day, "
    "default yesterday, today at the latest) end that day, and duties planned to start today "
    "or later are removed (the audit entry keeps them)."
)

RENUMBER_HELP = (
    "改人员编号 Change a person's registry id in place: duties, tracks, account stay.\n\n"
    "名册中某人的人员编号变了时使用： 导入时会提示新编号与某在岗人员同名同住址； 此命令把旧编号"
    "改为新编号， 职责、轨迹和账号不变， 导入时以新编号建的空记录随之删除； 之后再导入一次名册。 "
    "For a registry id changed in the office's roster (an import warns of a new id with the "
    "name and home of a registered person): the record that import made under the new id is "
    "removed when it holds nothing; then import the roster again."
)


@people_app.command("leave", help=LEAVE_HELP)
def leave(
    person: str = _person_argument(),
    last_day: str = typer.Option(
        None,
        "--last-day",
        help="最后一天 their last day, inclusive (YYYY-MM-DD; default yesterday, today at the "
        "latest): duties reaching past it end that day, later planned ones are removed",
    ),
) -> None:
    """人员离岗 A person leaves (the page: :data:`LEAVE_HELP`)."""
    from api.cli_dates import cli_day
    from geo.db import get_engine
    from geo.duties import person_leaves

    day = cli_day(last_day, "--last-day")  # a bad date named as the option, before connecting
    engine = get_engine()
    who = resolve_person(engine, person, "PERSON")
    # WHY a command (T43 #7): a leave was POST /people/{id}/leave only, always yesterday
    out = person_leaves(engine, who.id, actor="cli", last_day=day)
    typer.echo(out["message"])


@people_app.command("renumber", help=RENUMBER_HELP)
def renumber(
    person: str = _person_argument(
        "人员 the person whose registry id changes: their registry id (people.external_id) "
        "or their people.id (id:12 / ext:12 where a number is both)"
    ),
    new: str = typer.Argument(
        ..., metavar="NEW_ID", help="新人员编号 their new registry id, as the roster now has it"
    ),
) -> None:
    """改人员编号 Change a person's registry id in place (the page: :data:`RENUMBER_HELP`)."""
    from geo.db import get_engine
    from geo.people_import import renumber_person

    engine = get_engine()
    who = resolve_person(engine, person, "PERSON")
    out = renumber_person(engine, who.id, new, actor="cli")
    typer.echo(out["message"])


def register(app: typer.Typer) -> None:
    """Add the ``people`` command group (a leave, a registry id changed) to the gridward app."""
    app.add_typer(people_app, name="people")

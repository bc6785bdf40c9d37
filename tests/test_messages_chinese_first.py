"""Every message written for a user opens in Chinese, with the English after it.

WHY a scan of the source, not a test per message: city staff meet these lines when a file, a
field or a command is wrong, and a new ``raise InputError("…")`` in English only would pass
every behaviour test. The CLI's and the API's exits put a generic tag (输入有误 …) before an
English message, but a steward still reads "malformed or truncated XML" after it (outside
tester T35, F10). This reads each literal message the code raises (f-strings with their
placeholders as "0") and holds it to :func:`geo.errors.reads_chinese_first`; and, since a
Chinese headline before English numbers and remedies still left a clerk reading English
(tester T36, F7), it holds each f-string message's Chinese to naming every value its English
names.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from geo.errors import reads_chinese_first

ROOT = Path(__file__).resolve().parents[1]
# the errors whose message is shown to the user as it is (geo/errors.py), and FastAPI's
USER_ERRORS = {
    "GridwardError",
    "InputError",
    "TooLargeError",
    "NotFoundError",
    "ForbiddenError",
    "ConflictError",
    "SetupError",
}
SOURCES = sorted(p for d in ("geo", "api", "maps") for p in (ROOT / d).rglob("*.py"))


def _literal_lead(node: ast.expr) -> str | None:
    """The message's text as far as it is written in the source (a placeholder reads "0",
    a digit, so a message that opens with one is judged by the words after it); None for
    a message built elsewhere, or of placeholders only."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
        if not any(ch.isalpha() for part in parts for ch in part):
            return None  # only placeholders ("{what} {why}"): the words come from elsewhere
        return "".join(v.value if isinstance(v, ast.Constant) else "0" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal_lead(node.left)
    return None


def _message_arg(call: ast.Call) -> ast.expr | None:
    """The message argument of a user error or an HTTPException, None for any other call."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if name in USER_ERRORS and call.args:
        return call.args[0]
    if name == "HTTPException":
        if len(call.args) > 1:
            return call.args[1]
        return next((k.value for k in call.keywords if k.arg == "detail"), None)
    return None


def english_first(path: Path) -> list[str]:
    """``line: message`` for each literal user message in ``path`` that does not open in
    Chinese."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        arg = _message_arg(node) if isinstance(node, ast.Call) else None
        text = _literal_lead(arg) if arg is not None else None
        if text is not None and not reads_chinese_first(text):
            found.append(f"{node.lineno}: {text[:80]}")
    return found


def test_the_scan_sees_an_english_message(tmp_path: Path) -> None:
    """The scan itself: it flags an English raise, a placeholder lead and an HTTPException,
    and passes the house style."""
    src = tmp_path / "m.py"
    src.write_text(
        "raise InputError('malformed XML')\n"
        "raise NotFoundError(f'{what} not found')\n"
        "raise HTTPException(422, detail='bad form')\n"
        "raise InputError(f'轨迹 {n} 不存在 track {n} does not exist')\n"
        "raise HTTPException(403, '无权限 not yours')\n"
        "raise InputError(message)\n"
        "raise SetupError(f'{what} {why}')\n"
        "raise InputError(f'GeoJSON 没有定位点 GeoJSON has no points')\n"
        "raise InputError(f'--before {d} 晚于今天 --before {d} is after today')\n"
        "raise InputError('GPX file has no track')\n",
        encoding="utf-8",
    )
    # a code token may lead the Chinese (GeoJSON, --before); an acronym before English may not
    assert [line.split(":")[0] for line in english_first(src)] == ["1", "2", "3", "10"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_messages_open_in_chinese(path: Path) -> None:
    assert english_first(path) == []


_CJK_CHAR = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_ENGLISH_WORD = re.compile(r"(?<![A-Za-z0-9_\-/.'<])[A-Z]?[a-z]+(?![A-Za-z0-9_\-/'>])")


def _values_left_out(node: ast.JoinedStr) -> list[str]:
    """The placeholders an f-string message's English names that its Chinese does not. The
    Chinese part runs to the first English word after the last Chinese character; a value
    counts as named when the same expression (or one holding it, ``ROLE_ZH[role]`` for
    ``role``) stands in the Chinese."""
    parts = node.values
    last = max(
        (
            i
            for i, v in enumerate(parts)
            if isinstance(v, ast.Constant) and _CJK_CHAR.search(v.value)
        ),
        default=-1,
    )
    if last < 0:
        return []
    cut = len(parts)
    for i in range(last, len(parts)):
        v = parts[i]
        if isinstance(v, ast.Constant):
            tail = v.value[_after_last_chinese(v.value) :] if i == last else v.value
            if _ENGLISH_WORD.search(tail):
                cut = i
                break
    chinese = [ast.unparse(v.value) for v in parts[: cut + 1] if isinstance(v, ast.FormattedValue)]
    english = {ast.unparse(v.value) for v in parts[cut:] if isinstance(v, ast.FormattedValue)}
    return sorted(e for e in english if not any(e in c or c in e for c in chinese))


def _after_last_chinese(text: str) -> int:
    """The index just after the last Chinese character of ``text``."""
    return max(m.end() for m in _CJK_CHAR.finditer(text))


def values_left_out(path: Path) -> list[str]:
    """``line: values`` for each f-string user message in ``path`` whose Chinese leaves out
    a value its English gives."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        arg = _message_arg(node) if isinstance(node, ast.Call) else None
        if isinstance(arg, ast.JoinedStr) and (missing := _values_left_out(arg)):
            found.append(f"{node.lineno}: {', '.join(missing)}")
    return found


def test_the_values_scan_sees_a_headline_only(tmp_path: Path) -> None:
    """The scan: a Chinese headline with the numbers in English only is flagged (outside
    tester T36, F7: 日期有歧义 ambiguous date '03/04/2026' …); a value named in the Chinese,
    or in the form the Chinese gives it, passes."""
    src = tmp_path / "m.py"
    src.write_text(
        "raise InputError(f'日期有歧义 ambiguous date {text!r}: use YYYY-MM-DD')\n"
        "raise InputError(f'日期 {text!r} 有歧义 ambiguous date {text!r}')\n"
        "raise InputError(f'不属于社区 {code} plan {p} is not of community {code}')\n"
        "raise InputError(f'{ROLE_ZH[role]}不可用 role {role} is not allowed')\n"
        "raise InputError(f'方案 {p} 不属于社区 {code} plan {p} is not of community {code}')\n",
        encoding="utf-8",
    )
    assert [line.split(":")[0] for line in values_left_out(src)] == ["1", "3"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_chinese_names_every_value_the_english_does(path: Path) -> None:
    """Every value a message gives in English (a count, a date, a name, a limit) is in its
    Chinese too: a clerk who reads only the Chinese was told "日期有歧义" but not which date
    (outside tester T36, F7)."""
    assert values_left_out(path) == []

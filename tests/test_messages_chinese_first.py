"""Every message written for a user opens in Chinese, with the English after it.

WHY a scan of the source, not a test per message: city staff meet these lines when a file, a
field or a command is wrong, and a new ``raise InputError("…")`` in English only would pass
every behaviour test. The CLI's and the API's exits put a generic tag (输入有误 …) before an
English message, but a steward still reads "malformed or truncated XML" after it (outside
tester T35, F10). This reads each literal message the code raises (f-strings with their
placeholders as "0") and holds it to :func:`geo.errors.reads_chinese_first`.
"""

from __future__ import annotations

import ast
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

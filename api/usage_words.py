"""Chinese words for the messages libraries write in English: pydantic's validation errors
(the API's 422s, a bad GRIDWARD_* setting) and click's usage errors (the CLI's exit 2).

WHY a module of its own: these messages are not ours to write, so each is recognised (by
pydantic's error type, or by click's sentence) and given a Chinese clause that says the same
(the field, the limit, the value given, the remedy), with the library's English after it. A
clerk read "用法有误 No such option: --fromat" and "格式不符 area: String should match pattern
'^[0-9]{6,12}$'" (outside tester T36, F8 and F9).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from geo.errors import reads_chinese_first

# pydantic's error types in the words a Chinese reader meets first, before the field and
# pydantic's English (tester W, F15: "输入有误 … Field required" read English after the tag).
# By type prefix, so int_parsing, int_type, int_from_float … share one wording.
ZH_BY_TYPE = (
    ("missing", "缺少字段"),
    ("extra_forbidden", "未知字段"),
    ("int_", "须为整数"),
    ("float_", "须为数字"),
    ("decimal_", "须为数字"),
    ("greater_than", "数值过小"),
    ("less_than", "数值过大"),
    ("finite_number", "须为有限数字"),
    ("string_too_short", "文字过短"),
    ("string_too_long", "文字过长"),
    ("string_pattern_mismatch", "格式不符"),
    ("string_", "须为文字"),
    ("too_short", "条目过少"),
    ("too_long", "条目过多"),
    ("literal_error", "取值无效"),
    ("enum", "取值无效"),
    ("datetime_", "时间无效"),
    ("date_", "日期无效"),
    ("time_", "时间无效"),
    ("bool_", "须为 true 或 false"),
    ("json_invalid", "请求体不是合法的 JSON"),
    ("model_", "须为 JSON 对象"),
    ("dict_", "须为 JSON 对象"),
    ("list_", "须为列表"),
    ("uuid_", "编号格式有误"),
    ("value_error", "取值无效"),
)
# pydantic's words replaced by plainer ones
EN_BY_TYPE = {
    "missing": "field required",
    "extra_forbidden": "unknown field (not one this request takes: check its spelling)",
}


# limits pydantic puts in an error's ctx, said in Chinese after the kind ("数值过小，须不小于 1")
_ZH_LIMIT = {
    "ge": "须不小于 {}",
    "gt": "须大于 {}",
    "le": "须不大于 {}",
    "lt": "须小于 {}",
    "min_length": "至少 {}",
    "max_length": "最多 {}",
    "expected": "可选值：{}",
}
_DIGITS = re.compile(r"^\^\[0-9\](?:\{(\d+)(?:,(\d+))?\}|(\+))\$$")


def pattern_words(pattern: str) -> tuple[str, str]:
    """A code's pattern in words (Chinese, English): "^[0-9]{12}$" is "须为 12 位数字" /
    "must be 12 digits". WHY: a clerk who typed a community code wrong read a regular
    expression (outside tester T36, F9); other patterns are named as they are."""
    m = _DIGITS.match(pattern)
    if m is None:
        return f"须符合格式 {pattern}", f"must match the pattern {pattern}"
    low, high, plus = m.groups()
    if plus:
        return "须全为数字", "must be digits only"
    if high:
        return f"须为 {low} 到 {high} 位数字", f"must be {low} to {high} digits"
    return f"须为 {low} 位数字", f"must be {low} digits"


# kinds whose "input" is not a value the user gave for the field (the whole body, for a
# missing field; the stray field's own value, for an unknown one)
_NO_INPUT = frozenset({"missing", "extra_forbidden"})


def zh_detail(kind: str, err: Mapping[str, Any]) -> str:
    """What pydantic's English says beyond the kind, in Chinese: the limit (from its ctx)
    and the value given, e.g. "，须不小于 1（收到 0）"."""
    ctx = err.get("ctx") or {}
    parts = []
    for key, words in _ZH_LIMIT.items():
        if key in ctx:
            unit = ""
            if key in ("min_length", "max_length"):
                unit = " 个字符" if kind.startswith("string_") else " 项"
            limit = ctx[key]
            shown = (
                f"{limit:g}"
                if isinstance(limit, float)
                else str(limit).replace(" or ", "、").replace(", ", "、")
            )
            parts.append(words.format(shown) + unit)
    given = err.get("input")
    if (
        isinstance(given, (str, int, float))
        and not isinstance(given, bool)
        and kind not in _NO_INPUT
    ):
        shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:37] + "…"
        if not kind.startswith(("string_too_long",)):
            parts.append(f"收到 {shown}")
    if not parts:
        return ""
    return "，" + "，".join(parts)


# click's usage sentences (click 8, and typer's vendored copy), each with its Chinese. The
# groups are the names and values the English gives; the Chinese repeats them.
_CLICK_ZH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), zh)
    for pattern, zh in (
        (
            r"^No such command '(.+?)'\. Did you mean '(.+?)'\?",
            "没有子命令 '{0}'，是否要用 '{1}'？",
        ),
        (r"^No such command '(.+?)'", "没有子命令 '{0}'"),
        (r"^No such option: (\S+) Did you mean (\S+?)\?", "没有选项 {0}，是否要用 {1}？"),
        (r"^No such option: (\S+) \(Possible options: (.+?)\)", "没有选项 {0}，可用的有：{1}"),
        (r"^No such option: (\S+)", "没有选项 {0}"),
        (r"^Missing argument '(.+?)'", "缺少参数 '{0}'"),
        (r"^Missing option '(.+?)'", "缺少选项 '{0}'"),
        (r"^Missing parameter:? '?(.+?)'?\.?$", "缺少参数 '{0}'"),
        (r"^Option '(.+?)' requires an argument", "选项 '{0}' 后须给出一个值"),
        (r"^Option '(.+?)' requires (\d+) arguments", "选项 '{0}' 后须给出 {1} 个值"),
        (r"^Option '(.+?)' does not take a value", "选项 '{0}' 不带值"),
        (r"^Got unexpected extra arguments? \((.+)\)", "多余的参数：{0}"),
        (r"^Got unexpected extra argument\(s\) \((.+)\)", "多余的参数：{0}"),
        (r"^Invalid value for '(.+?)': (.*)$", "选项 '{0}' 的值无效{1}"),
        (r"^Invalid value: (.*)$", "值无效{0}"),
    )
)
# what click (or typer's pydantic check) says is wrong with a value, after "Invalid value
# for '--x': "
_VALUE_ZH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), zh)
    for pattern, zh in (
        (r"^Input should be greater than or equal to (\S+)", "：须不小于 {0}"),
        (r"^Input should be greater than (\S+)", "：须大于 {0}"),
        (r"^Input should be less than or equal to (\S+)", "：须不大于 {0}"),
        (r"^Input should be less than (\S+)", "：须小于 {0}"),
        (r"^Input should be a valid integer", "：须为整数"),
        (r"^Input should be a valid number", "：须为数字"),
        (r"^Input should be a valid boolean", "：须为 true 或 false"),
        (r"^'(.*)' is not a valid integer", "：'{0}' 不是整数"),
        (r"^'(.*)' is not a valid float", "：'{0}' 不是数字"),
        (r"^'(.*)' is not a valid boolean", "：'{0}' 不是 true 或 false"),
        (r"^'(.*)' is not one of (.+?)\.?$", "：'{0}' 不是可选值（{1}）"),
        (r"^'(.*)' is not in the range (.+?)\.?$", "：'{0}' 超出范围 {1}"),
        (r"^(?:Path|File|Directory) '(.*)' does not exist", "：'{0}' 不存在"),
        (r"^(?:Path|File) '(.*)' is a directory", "：'{0}' 是文件夹，须为文件"),
        (r"^Directory '(.*)' is a file", "：'{0}' 是文件，须为文件夹"),
        (r"^'(.*)' does not match the formats? (.+?)\.?$", "：'{0}' 不符合格式 {1}"),
    )
)


def click_zh(message: str) -> tuple[str, str]:
    """The Chinese for one of click's usage sentences ("没有选项 --fromat，可用的有：--out")
    and the English to follow it: the sentence itself, or "" when the Chinese holds it whole
    (a value refused by gridward's own check, Chinese first already, follows "选项 … 的值无效：").
    ("", message) for a sentence not known here (the caller keeps its generic tag then)."""
    for pattern, zh in _CLICK_ZH:
        m = pattern.match(message)
        if m is None:
            continue
        groups = [g or "" for g in m.groups()]
        if zh.startswith(("选项 '{0}' 的值无效", "值无效")):
            detail = groups[-1]
            if reads_chinese_first(detail):
                groups[-1] = "：" + detail
                return zh.format(*groups), ""
            said = next((w.format(*d.groups()) for p, w in _VALUE_ZH if (d := p.match(detail))), "")
            groups[-1] = said
        return zh.format(*groups), message
    return "", message

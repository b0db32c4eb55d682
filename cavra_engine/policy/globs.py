"""Glob dialects of the policy language, translated to Python regular expressions."""

from __future__ import annotations

import re
from functools import lru_cache

GLOB_CHARS = frozenset("*?[{")


class GlobError(ValueError):
    """A glob that cannot be translated (unbalanced bracket or brace)."""


def is_literal(pattern: str) -> bool:
    return not any(char in GLOB_CHARS for char in pattern)


def _class(pattern: str, start: int) -> tuple[str, int]:
    # `start` points just after "["; returns the regex class and the index after "]".
    index = start
    negate = False
    if index < len(pattern) and pattern[index] in "!^":
        negate = True
        index += 1
    body_start = index
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 1
    if index >= len(pattern):
        raise GlobError("unterminated '[' character class")
    body = pattern[body_start:index].replace("\\", "\\\\").replace("^", "\\^")
    if not body:
        raise GlobError("empty '[]' character class")
    regex_class = ("[^" if negate else "[") + body + "]"
    try:
        re.compile(regex_class)  # tiny and cached: catches ranges such as [z-a]
    except re.error as exc:
        raise GlobError(f"bad character class {regex_class!r}: {exc}")
    return regex_class, index + 1


def _translate(pattern: str, *, star: str, single: str, path_mode: bool) -> str:
    out: list[str] = []
    index = 0
    length = len(pattern)
    while index < length:
        char = pattern[index]
        if char == "*":
            if path_mode and pattern.startswith("**", index):
                before_ok = index == 0 or pattern[index - 1] == "/"
                after = index + 2
                if before_ok and after == length:
                    out.append(".*")
                    index = after
                    continue
                if before_ok and pattern.startswith("/", after):
                    # "**/" is zero or more whole segments (an absolute path's leading "/" included)
                    out.append("(?:.*/)?")
                    index = after + 1
                    continue
            while index < length and pattern[index] == "*":
                index += 1
            out.append(star)
            continue
        if char == "?":
            out.append(single)
        elif char == "[":
            regex_class, index = _class(pattern, index + 1)
            out.append(regex_class)
            continue
        elif char == "{":
            close = pattern.find("}", index)
            if close < 0:
                raise GlobError("unterminated '{' alternative")
            options = pattern[index + 1 : close].split(",")
            if len(options) < 2:
                out.append(re.escape(pattern[index : close + 1]))
            else:
                parts = [
                    _translate(option, star=star, single=single, path_mode=path_mode) for option in options
                ]
                out.append("(?:" + "|".join(parts) + ")")
            index = close + 1
            continue
        elif char == "}":
            out.append(re.escape(char))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


@lru_cache(maxsize=8192)
def path_glob_regex(pattern: str) -> str:
    """Regex source (full match) for a path glob, applying the any-depth and directory rules."""
    if pattern.startswith("./"):
        pattern = pattern[2:]
    if pattern.endswith("/") and len(pattern) > 1:
        pattern = pattern + "**"
    if "/" not in pattern:
        pattern = "**/" + pattern
    source = _translate(pattern, star="[^/]*", single="[^/]", path_mode=True)
    if pattern.endswith("/**"):
        # "dir/**" also matches "dir" itself
        stem = _translate(pattern[:-3], star="[^/]*", single="[^/]", path_mode=True)
        source = f"(?:{stem}|{source})"
    return source


@lru_cache(maxsize=8192)
def text_glob_regex(pattern: str) -> str:
    """Regex source (full match) for a text glob where `*` crosses everything."""
    return _translate(pattern, star=".*", single=".", path_mode=False)


def compile_path_globs(patterns: list[str], *, ignore_case: bool = False) -> re.Pattern[str] | None:
    if not patterns:
        return None
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile("(?:" + "|".join(path_glob_regex(p) for p in patterns) + r")\Z", flags | re.DOTALL)


def compile_text_globs(patterns: list[str], *, ignore_case: bool = False) -> re.Pattern[str] | None:
    if not patterns:
        return None
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile("(?:" + "|".join(text_glob_regex(p) for p in patterns) + r")\Z", flags | re.DOTALL)


def check_glob(pattern: str, *, path: bool) -> str | None:
    """An error message for a glob that cannot be used, or None."""
    if not isinstance(pattern, str) or pattern == "":
        return "empty glob"
    try:
        # translating is enough: every piece that could be invalid (a class) is checked on its own
        path_glob_regex(pattern) if path else text_glob_regex(pattern)
    except (GlobError, re.error) as exc:
        return f"bad glob {pattern!r}: {exc}"
    return None


def check_regex(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"bad regex {pattern!r}: {exc}"
    return None

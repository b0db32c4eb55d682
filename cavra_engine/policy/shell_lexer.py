"""Shell lexing: words, quoting, expansions and substitutions of one command line, split into simple commands."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_DEPTH = 8

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "fish", "mksh", "rbash", "tcsh", "csh"})
KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac"}
)
# wrapper -> options that consume the next word
WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset(
        "-u --user -g --group -h --host -p --prompt -C --close-from -D --chdir -r --role -t --type -U --other-user -T --command-timeout".split()
    ),
    "doas": frozenset("-u -C".split()),
    "env": frozenset("-u --unset -C --chdir".split()),
    "nohup": frozenset(),
    "time": frozenset("-f --format -o --output".split()),
    "command": frozenset(),
    "exec": frozenset("-a".split()),
    "builtin": frozenset(),
    "nice": frozenset("-n --adjustment".split()),
    "ionice": frozenset("-c --class -n --classdata -t".split()),
    "timeout": frozenset("-s --signal -k --kill-after".split()),
    "stdbuf": frozenset("-i -o -e --input --output --error".split()),
    "setsid": frozenset(),
    "unbuffer": frozenset(),
    "busybox": frozenset(),
    "xargs": frozenset(
        "-I -n -P -d -L -s -E -a --arg-file --delimiter --max-args --max-procs --replace -e --eof".split()
    ),
    "chronic": frozenset(),
    "caffeinate": frozenset(),
}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_IFS = re.compile(r"\$(?:\{IFS\}|IFS\b)")
_OPERATOR_CHARS = frozenset("|&;()\n<>")


class ShellParseError(ValueError):
    """The command line is not well formed (unbalanced quotes, unterminated substitution)."""


@dataclass(slots=True)
class Word:
    value: str
    unknown: bool = False  # contains an expansion whose value cannot be known
    quoted: bool = False
    lead: str = ""  # the literal, unquoted text before the first quote or expansion


# programs whose single-dash options are whole words (find -name), not bundles of letters
NO_SPLIT = frozenset({"find", "terraform", "tofu", "java", "go", "openssl", "dd", "gcc", "clang", "ffmpeg"})


@dataclass(slots=True)
class Segment:
    program: str | None  # None: the program itself cannot be known ($CMD, $(...))
    args: list[Word]
    redirects: list[Word]
    pipeline: int
    order: int
    text: str = ""
    flags: frozenset[str] = frozenset()
    raw_flags: frozenset[str] = frozenset()
    positional: list[Word] = field(default_factory=list)
    unknown_args: bool = False
    git_ops: list | None = None  # filled lazily by the git normaliser

    @property
    def has_unknown_arg(self) -> bool:
        return (
            self.unknown_args
            or any(word.unknown for word in self.positional)
            or any(word.unknown for word in self.redirects)
        )


@dataclass(slots=True)
class _Simple:
    words: list[Word]
    redirects: list[Word]
    heredocs: list[str]
    substitutions: list[str]
    pipeline: int


def _find_closing_paren(text: str, start: int) -> int:
    """Index of the ")" closing a "$(" or "<(" whose body starts at `start`."""
    depth = 1
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "'":
            close = text.find("'", index + 1)
            if close < 0:
                raise ShellParseError("unterminated single quote")
            index = close + 1
            continue
        if char == '"':
            index = _skip_double(text, index + 1)
            continue
        if char == "`":
            close = _find_backtick(text, index + 1)
            index = close + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ShellParseError("unterminated '$(' or '(' substitution")


def _skip_double(text: str, index: int) -> int:
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index + 1
        if char == "$" and text.startswith("$(", index):
            index = _find_closing_paren(text, index + 2) + 1
            continue
        if char == "`":
            index = _find_backtick(text, index + 1) + 1
            continue
        index += 1
    raise ShellParseError("unterminated double quote")


def _find_backtick(text: str, index: int) -> int:
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "`":
            return index
        index += 1
    raise ShellParseError("unterminated backtick substitution")


_ANSI_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "v": "\v",
}


def _ansi_c(body: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 >= len(body):
            out.append(char)
            index += 1
            continue
        nxt = body[index + 1]
        if nxt in _ANSI_ESCAPES:
            out.append(_ANSI_ESCAPES[nxt])
            index += 2
        elif nxt == "x":
            match = re.match(r"[0-9a-fA-F]{1,2}", body[index + 2 :])
            if match:
                out.append(chr(int(match.group(0), 16)))
                index += 2 + len(match.group(0))
            else:
                out.append("x")
                index += 2
        elif nxt in "uU":
            match = re.match(r"[0-9a-fA-F]{1,8}", body[index + 2 :])
            if match:
                try:
                    out.append(chr(int(match.group(0), 16)))
                except (ValueError, OverflowError):
                    out.append("?")
                index += 2 + len(match.group(0))
            else:
                out.append(nxt)
                index += 2
        elif nxt in "01234567":
            match = re.match(r"[0-7]{1,3}", body[index + 1 :])
            out.append(chr(int(match.group(0), 8)))
            index += 1 + len(match.group(0))
        else:
            out.append(nxt)
            index += 2
    return "".join(out)


class _Lexer:
    """Turns a command line into simple commands (words, redirections, substitutions)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.simples: list[_Simple] = []
        self.pipeline = 0
        self._words: list[Word] = []
        self._redirects: list[Word] = []
        self._heredocs: list[str] = []
        self._substitutions: list[str] = []
        self._pending_heredocs: list[tuple[str, bool]] = []

    def _end_simple(self, operator: str) -> None:
        if self._words or self._redirects or self._substitutions or self._heredocs:
            self.simples.append(
                _Simple(self._words, self._redirects, self._heredocs, self._substitutions, self.pipeline)
            )
        self._words, self._redirects, self._heredocs, self._substitutions = [], [], [], []
        if operator not in ("|", "|&"):
            self.pipeline += 1

    def run(self) -> list[_Simple]:
        text = self.text
        index = 0
        length = len(text)
        redirect_next = False
        while index < length:
            char = text[index]
            if char in " \t\r":
                index += 1
                continue
            if char == "#":
                newline = text.find("\n", index)
                index = length if newline < 0 else newline
                continue
            if char == "\n":
                index += 1
                self._end_simple("\n")
                if self._pending_heredocs:
                    index = self._read_heredocs(index)
                continue
            if char in "|&;()":
                two = text[index : index + 2]
                if two in ("||", "&&", "|&", ";;"):
                    operator = two
                    index += 2
                elif char == "&" and text.startswith("&>", index):
                    index = self._redirect(index, 2 + (text.startswith("&>>", index)))
                    redirect_next = False
                    continue
                else:
                    operator = char
                    index += 1
                self._end_simple(operator)
                continue
            if char in "<>":
                if text.startswith("<(", index) or text.startswith(">(", index):
                    close = _find_closing_paren(text, index + 2)
                    self._substitutions.append(text[index + 2 : close])
                    self._words.append(Word("<(...)", unknown=True))
                    index = close + 1
                    continue
                if text.startswith("<<<", index):
                    index += 3
                    word, index = self._word(index)
                    if word is not None:
                        self._heredocs.append(word.value)
                    continue
                if text.startswith("<<", index):
                    index += 2
                    strip = False
                    if index < length and text[index] == "-":
                        strip = True
                        index += 1
                    while index < length and text[index] in " \t":
                        index += 1
                    word, index = self._word(index)
                    if word is None:
                        raise ShellParseError("here-document without a delimiter")
                    self._pending_heredocs.append((word.value, strip))
                    continue
                op_len = 1
                while index + op_len < length and text[index + op_len] in ">|&":
                    op_len += 1
                index = self._redirect(index, op_len)
                continue
            word, index = self._word(index)
            if word is None:
                continue
            if redirect_next:
                self._redirects.append(word)
                redirect_next = False
            elif (
                index < length
                and text[index] in "<>"
                and re.fullmatch(r"\d+", word.value)
                and not word.quoted
            ):
                pass  # a file-descriptor number such as the 2 of 2>
            else:
                self._words.append(word)
        self._end_simple(";")
        if self._pending_heredocs:
            raise ShellParseError("unterminated here-document")
        return self.simples

    def _redirect(self, index: int, op_len: int) -> int:
        operator = self.text[index : index + op_len]
        index += op_len
        while index < len(self.text) and self.text[index] in " \t":
            index += 1
        word, index = self._word(index)
        if word is None:
            raise ShellParseError("redirection without a target")
        if not (operator.endswith("&") and (word.value.isdigit() or word.value == "-")):
            self._redirects.append(word)
        return index

    def _read_heredocs(self, index: int) -> int:
        text = self.text
        for delimiter, strip in self._pending_heredocs:
            lines: list[str] = []
            while True:
                if index >= len(text):
                    raise ShellParseError("unterminated here-document")
                newline = text.find("\n", index)
                line = text[index:] if newline < 0 else text[index:newline]
                index = len(text) if newline < 0 else newline + 1
                if (line.lstrip("\t") if strip else line) == delimiter:
                    break
                lines.append(line)
            if self.simples:
                self.simples[-1].heredocs.append("\n".join(lines))
        self._pending_heredocs = []
        return index

    def _word(self, index: int) -> tuple[Word | None, int]:
        text = self.text
        length = len(text)
        parts: list[str] = []
        unknown = False
        quoted = False
        started = False
        lead: str | None = None
        while index < length:
            char = text[index]
            if lead is None and char in "\\'\"`$":
                lead = "".join(parts)
            if char in " \t\r" or char in _OPERATOR_CHARS:
                # "(" inside a word such as f() ends it too; "=(" etc are rare
                break
            started = True
            if char == "\\":
                if index + 1 < length:
                    if text[index + 1] == "\n":
                        index += 2
                        continue
                    parts.append(text[index + 1])
                    quoted = True
                index += 2
                continue
            if char == "'":
                close = text.find("'", index + 1)
                if close < 0:
                    raise ShellParseError("unterminated single quote")
                parts.append(text[index + 1 : close])
                quoted = True
                index = close + 1
                continue
            if char == '"':
                index, inner_unknown = self._double(index + 1, parts)
                unknown = unknown or inner_unknown
                quoted = True
                continue
            if char == "`":
                close = _find_backtick(text, index + 1)
                self._substitutions.append(text[index + 1 : close])
                parts.append("$(...)")
                unknown = True
                index = close + 1
                continue
            if char == "$":
                consumed, value, is_unknown, ansi = self._dollar(index)
                if ansi:
                    quoted = True
                parts.append(value)
                unknown = unknown or is_unknown
                index = consumed
                continue
            parts.append(char)
            index += 1
        if not started:
            return None, index
        value = "".join(parts)
        return Word(value, unknown=unknown, quoted=quoted, lead=value if lead is None else lead), index

    def _double(self, index: int, parts: list[str]) -> tuple[int, bool]:
        text = self.text
        length = len(text)
        unknown = False
        while index < length:
            char = text[index]
            if char == "\\":
                if index + 1 < length and text[index + 1] in '"\\$`\n':
                    if text[index + 1] != "\n":
                        parts.append(text[index + 1])
                    index += 2
                else:
                    parts.append(char)
                    index += 1
                continue
            if char == '"':
                return index + 1, unknown
            if char == "`":
                close = _find_backtick(text, index + 1)
                self._substitutions.append(text[index + 1 : close])
                parts.append("$(...)")
                unknown = True
                index = close + 1
                continue
            if char == "$":
                consumed, value, is_unknown, _ansi = self._dollar(index, in_double=True)
                parts.append(value)
                unknown = unknown or is_unknown
                index = consumed
                continue
            parts.append(char)
            index += 1
        raise ShellParseError("unterminated double quote")

    def _dollar(self, index: int, *, in_double: bool = False) -> tuple[int, str, bool, bool]:
        """Returns (next index, text, unknown?, ansi-c quoted?) for the expansion at text[index] == "$"."""
        text = self.text
        nxt = text[index + 1] if index + 1 < len(text) else ""
        if nxt == "(":
            if text.startswith("$((", index):
                close = text.find("))", index + 3)
                if close < 0:
                    raise ShellParseError("unterminated arithmetic expansion")
                return close + 2, "$((...))", True, False
            close = _find_closing_paren(text, index + 2)
            self._substitutions.append(text[index + 2 : close])
            return close + 1, "$(...)", True, False
        if nxt == "{":
            close = text.find("}", index + 2)
            if close < 0:
                raise ShellParseError("unterminated '${' expansion")
            name = text[index + 2 : close]
            if name == "HOME":
                return close + 1, "~", False, False
            return close + 1, "${" + name + "}", True, False
        if nxt == "'" and not in_double:
            close = index + 2
            while close < len(text) and text[close] != "'":
                close += 2 if text[close] == "\\" else 1
            if close >= len(text):
                raise ShellParseError("unterminated $'...' quote")
            return close + 1, _ansi_c(text[index + 2 : close]), False, True
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-]", text[index + 1 :])
        if not match:
            return index + 1, "$", False, False
        name = match.group(0)
        end = index + 1 + len(name)
        if name == "HOME":
            return end, "~", False, False
        return end, "$" + name, True, False

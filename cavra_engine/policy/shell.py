"""Shell command normalisation: split a command line into segments with wrappers, quoting and nesting removed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .aliases import VALUE_OPTIONS, canonical_flags

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


def _basename(word: str) -> str:
    word = word.rstrip("/") or word
    return word.rsplit("/", 1)[-1] if "/" in word else word


def _strip_wrappers(words: list[Word]) -> tuple[list[Word], bool]:
    """Removes leading wrappers, assignments and keywords; returns (words, reads-args-from-stdin)."""
    from_stdin = False
    guard = 0
    while words and guard < 64:
        guard += 1
        first = words[0]
        if first.unknown:
            break
        value = first.value
        if _ASSIGNMENT.match(first.lead):
            words = words[1:]
            continue
        if value in KEYWORDS and not first.quoted:
            words = words[1:]
            continue
        name = _basename(value)
        if name not in WRAPPERS:
            break
        value_options = WRAPPERS[name]
        index = 1
        if name == "xargs":
            from_stdin = True
        while index < len(words):
            word = words[index]
            current = word.value
            if current == "--":
                index += 1
                break
            if name == "env":
                if current in ("-S", "--split-string") and index + 1 < len(words):
                    split = [
                        Word(part, unknown=words[index + 1].unknown)
                        for part in words[index + 1].value.split()
                    ]
                    words = split + words[index + 2 :]
                    index = 0
                    break
                if current.startswith("-S") and len(current) > 2:
                    split = [Word(part, unknown=word.unknown) for part in current[2:].split()]
                    words = split + words[index + 1 :]
                    index = 0
                    break
                if _ASSIGNMENT.match(current):
                    index += 1
                    continue
            if current.startswith("-") and len(current) > 1 and not word.unknown:
                head = current.split("=", 1)[0]
                index += 1
                if head in value_options and "=" not in current and index < len(words):
                    index += 1
                continue
            if name == "timeout":
                index += 1  # the duration
            break
        words = words[index:]
    return words, from_stdin


def _brace_expand(word: Word) -> list[Word]:
    value = word.value
    if word.quoted or word.unknown or not (value.startswith("{") and value.endswith("}") and "," in value):
        return [word]
    return [Word(part) for part in value[1:-1].split(",") if part != ""]


def _positional(program: str | None, args: list[Word]) -> tuple[frozenset[str], list[Word]]:
    flags: set[str] = set()
    positional: list[Word] = []
    value_options = VALUE_OPTIONS.get(program or "", frozenset())
    index = 0
    after_dashdash = False
    while index < len(args):
        word = args[index]
        value = word.value
        index += 1
        if after_dashdash or word.unknown or len(value) < 2 or not value.startswith("-"):
            positional.append(word)
            continue
        if value == "--":
            after_dashdash = True
            continue
        if value.startswith("--"):
            head = value.split("=", 1)[0]
            flags.add(head)
            if head in value_options and "=" not in value and index < len(args):
                index += 1
            continue
        if value[1].isdigit() and program not in ("kill", "head", "tail"):
            positional.append(word)  # a negative number, not a flag
            continue
        head = value.split("=", 1)[0]
        flags.add(head)
        if head in value_options:
            if len(value) == 2 and index < len(args):
                index += 1
            continue
        if len(head) > 2 and program not in NO_SPLIT:
            for char in head[1:]:
                flags.add("-" + char)
            if "-" + head[-1] in value_options and index < len(args):
                index += 1
    return frozenset(flags), positional


@dataclass(slots=True)
class ParsedCommand:
    segments: list[Segment]
    ok: bool = True
    error: str = ""


class _Builder:
    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.pipeline_base = 0

    def parse(self, text: str, depth: int, pipeline: int | None = None) -> None:
        if depth > MAX_DEPTH:
            raise ShellParseError("command nesting too deep")
        text = _IFS.sub(" ", text.replace("\\\n", ""))
        simples = _Lexer(text).run()
        offset = self.pipeline_base
        self.pipeline_base += max((simple.pipeline for simple in simples), default=0) + 1
        for simple in simples:
            target_pipeline = pipeline if pipeline is not None else offset + simple.pipeline
            self._simple(simple, depth, target_pipeline)

    def _simple(self, simple: _Simple, depth: int, pipeline: int) -> None:
        # substitutions are piped into the command that contains them: emit them first
        for body in simple.substitutions:
            self.parse(body, depth + 1, pipeline)
        words = simple.words
        if words:
            words = _brace_expand(words[0]) + words[1:]
        words, from_stdin = _strip_wrappers(words)
        if not words:
            return
        first = words[0]
        program = None if first.unknown else _basename(first.value)
        args = words[1:]
        flags, positional = _positional(program, args)
        segment = Segment(
            program=program,
            args=args,
            redirects=simple.redirects,
            pipeline=pipeline,
            order=len(self.segments),
            flags=canonical_flags(program, flags),
            raw_flags=flags,
            positional=positional,
            unknown_args=from_stdin,
        )
        parts = [program if program is not None else first.value] + [word.value for word in args]
        parts += ["> " + word.value for word in simple.redirects]
        segment.text = " ".join(part for part in parts if part != "")
        self.segments.append(segment)
        if program is None:
            return
        if program in SHELLS:
            body = _shell_body(args)
            if body is not None:
                if body.unknown:
                    segment.unknown_args = True
                self.parse(body.value.replace("$(...)", "${...}"), depth + 1, pipeline)
            for heredoc in simple.heredocs:
                self.parse(heredoc, depth + 1, pipeline)
        elif program == "eval" and args:
            self.parse(" ".join(word.value for word in args).replace("$(...)", "${...}"), depth + 1, pipeline)
        elif program == "find":
            self._find_exec(args, depth, pipeline)

    def _find_exec(self, args: list[Word], depth: int, pipeline: int) -> None:
        index = 0
        while index < len(args):
            if args[index].value in ("-exec", "-execdir", "-ok", "-okdir"):
                end = index + 1
                while end < len(args) and args[end].value not in (";", "+"):
                    end += 1
                inner = [
                    Word("$FOUND", unknown=True) if w.value == "{}" else w for w in args[index + 1 : end]
                ]
                if inner:
                    self._simple(_Simple(inner, [], [], [], pipeline), depth + 1, pipeline)
                    self.segments[-1].unknown_args = True
                index = end
            index += 1


def _shell_body(args: list[Word]) -> Word | None:
    index = 0
    wants_body = False
    while index < len(args):
        value = args[index].value
        if value == "--":
            index += 1
            continue
        if value.startswith("-") and not value.startswith("--") and len(value) > 1:
            if "c" in value[1:]:
                wants_body = True
            if value[1:] in ("o", "O") and index + 1 < len(args):
                index += 1  # set -o option
            index += 1
            continue
        if value.startswith("--"):
            index += 1
            continue
        return args[index] if wants_body else None
    return None


def parse_command(text: str) -> ParsedCommand:
    """Splits `text` into normalised segments; `ok` is False if it is not well formed shell."""
    builder = _Builder()
    try:
        builder.parse(text, 0)
    except ShellParseError as exc:
        return ParsedCommand(segments=builder.segments, ok=False, error=str(exc))
    except RecursionError:
        return ParsedCommand(segments=builder.segments, ok=False, error="command nesting too deep")
    return ParsedCommand(segments=builder.segments)


def lenient_parses(text: str) -> list[ParsedCommand]:
    """Best-effort readings of an unparseable command: quotes deleted, and quotes closed at the end."""
    readings: list[ParsedCommand] = []
    deleted = re.sub(r"[\"'`]", " ", text)
    deleted = deleted.replace("$(", " ; ").replace("<(", " ; ")
    readings.append(_lenient(deleted))
    readings.append(_lenient(re.sub(r"[\"'`]", "", text).replace("$(", " ; ").replace("<(", " ; ")))
    closed = text
    for closer in ("'", '"', "`", ")", "'", '"'):
        attempt = parse_command(closed)
        if attempt.ok:
            readings.append(attempt)
            break
        closed = closed + closer
    # a reading where the raw words are taken literally, whatever the quoting
    readings.append(_lenient(re.sub(r"[\"'`$()]", " ", text)))
    readings.append(_every_suffix(text))
    return readings


def _every_suffix(text: str, limit: int = 96) -> ParsedCommand:
    """Every word of the raw text read as the start of a command: quoting cannot hide one."""
    tokens = [part for part in re.split(r"[\s;|&()<>\"'`{}]+|\$\(", text) if part][:limit]
    segments: list[Segment] = []
    for start in range(len(tokens)):
        words = [Word(token) for token in tokens[start:]]
        program = _basename(words[0].value)
        flags, positional = _positional(program, words[1:])
        segments.append(
            Segment(
                program=program,
                args=words[1:],
                redirects=[],
                pipeline=start,
                order=start,
                text=" ".join(word.value for word in words),
                flags=canonical_flags(program, flags),
                raw_flags=flags,
                positional=positional,
            )
        )
    return ParsedCommand(segments=segments, ok=False)


def _lenient(text: str) -> ParsedCommand:
    parsed = parse_command(text)
    if parsed.ok:
        return parsed
    words = [Word(part) for part in re.split(r"[\s|;&<>]+", text) if part]
    if not words:
        return ParsedCommand(segments=[], ok=False)
    program = _basename(words[0].value)
    flags, positional = _positional(program, words[1:])
    segment = Segment(
        program=program,
        args=words[1:],
        redirects=[],
        pipeline=0,
        order=0,
        text=" ".join(word.value for word in words),
        flags=canonical_flags(program, flags),
        raw_flags=flags,
        positional=positional,
    )
    return ParsedCommand(segments=[segment], ok=False)

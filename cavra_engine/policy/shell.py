"""Shell command normalisation: split a command line into segments with wrappers, quoting and nesting removed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .aliases import VALUE_OPTIONS, canonical_flags
from .shell_lexer import (  # noqa: F401 - Segment, ShellParseError and Word are this module's API too
    _ASSIGNMENT,
    _IFS,
    KEYWORDS,
    MAX_DEPTH,
    NO_SPLIT,
    SHELLS,
    WRAPPERS,
    Segment,
    ShellParseError,
    Word,
    _Lexer,
    _Simple,
)


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

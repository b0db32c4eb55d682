"""Target normalisation for paths, git operations, MCP calls and URLs (commands live in shell.py)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .shell import Segment, Word, parse_command

_HOME = re.compile(r"^(?:\$\{HOME\}|\$HOME)(?=/|$)")


def _clean_segments(path: str) -> tuple[bool, list[str]]:
    absolute = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not absolute:
                out.append("..")
            continue
        out.append(part)
    return absolute, out


def normalise_path(target: str, *, repo_root: str | None = None, cwd: str | None = None) -> str:
    """Repository-relative, lexically cleaned path; absolute if outside the repository."""
    path = target.strip()
    if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
        path = path[1:-1]
    path = path.replace("\\", "/")
    path = _HOME.sub("~", path)
    if path.startswith("file://"):
        path = path[7:]
    if not path:
        return "."
    if not path.startswith(("/", "~")) and cwd:
        cwd_clean = cwd.replace("\\", "/")
        if not cwd_clean.startswith("/") and repo_root:
            cwd_clean = repo_root.rstrip("/") + "/" + cwd_clean
        path = cwd_clean.rstrip("/") + "/" + path
    if path.startswith("~"):
        head, _, rest = path.partition("/")
        _absolute, parts = _clean_segments(rest)
        return "/".join([head] + parts) if parts else head
    absolute, parts = _clean_segments(path)
    if absolute and repo_root:
        _root_abs, root_parts = _clean_segments(repo_root.replace("\\", "/"))
        if root_parts and parts[: len(root_parts)] == root_parts:
            inner = parts[len(root_parts) :]
            return "/".join(inner) if inner else "."
        if not root_parts:  # repo_root "/"
            return "/".join(parts) if parts else "."
    if absolute:
        return "/" + "/".join(parts)
    return "/".join(parts) if parts else "."


def is_outside_repo(normalised: str) -> bool:
    return normalised.startswith(("/", "~", "../")) or normalised == ".."


# -- git ---------------------------------------------------------------------------------------

GIT_OPERATIONS = (
    "push", "merge", "rebase", "reset", "commit", "tag", "tag_delete", "branch", "branch_delete", "checkout",
    "cherry_pick", "revert", "clean", "filter_branch", "stash", "gc", "pull", "fetch", "clone", "config",
    "remote", "other",
)  # fmt: skip
_GIT_SUBCOMMANDS = {
    "push": "push", "merge": "merge", "rebase": "rebase", "reset": "reset", "commit": "commit", "tag": "tag",
    "branch": "branch", "checkout": "checkout", "switch": "checkout", "cherry-pick": "cherry_pick",
    "revert": "revert", "clean": "clean", "filter-branch": "filter_branch", "filter-repo": "filter_branch",
    "stash": "stash", "gc": "gc", "pull": "pull", "fetch": "fetch", "clone": "clone", "config": "config",
    "remote": "remote", "update-ref": "update_ref", "reflog": "gc", "prune": "gc",
}  # fmt: skip
_OPERATION_ALIASES = {
    "delete_branch": "branch_delete", "branch-delete": "branch_delete", "delete-branch": "branch_delete",
    "delete_tag": "tag_delete", "tag-delete": "tag_delete", "delete-tag": "tag_delete",
    "cherry-pick": "cherry_pick", "filter-branch": "filter_branch", "filter-repo": "filter_branch",
    "force_push": "push", "force-push": "push", "switch": "checkout",
}  # fmt: skip
_BRANCH_NEEDED = frozenset({"push", "merge", "rebase", "pull", "reset"})


@dataclass(slots=True)
class GitOp:
    operation: str
    branch: str | None = None
    force: bool = False
    remote: str | None = None
    tag: str | None = None

    @property
    def branch_unknown(self) -> bool:
        return self.branch is None and self.operation in _BRANCH_NEEDED

    def describe(self) -> str:
        parts = [self.operation]
        if self.force:
            parts.append("force")
        if self.remote:
            parts.append(self.remote)
        if self.branch:
            parts.append(self.branch)
        if self.tag:
            parts.append("tag " + self.tag)
        return " ".join(parts)


def _ref(name: str) -> tuple[str, bool]:
    """(short name, is-tag) of a ref."""
    if name.startswith("refs/heads/"):
        return name[11:], False
    if name.startswith("refs/tags/"):
        return name[10:], True
    return name, False


def git_ops_from_segment(segment: Segment, *, current_branch: str | None = None) -> list[GitOp]:
    """The git operations a `git ...` segment performs."""
    if segment.git_ops is not None:
        return segment.git_ops
    words = segment.args
    index = 0
    while index < len(words):
        value = words[index].value
        if value in (
            "-C",
            "-c",
            "--git-dir",
            "--work-tree",
            "--namespace",
            "--exec-path",
        ) and index + 1 < len(words):
            index += 2
            continue
        if value.startswith("-"):
            index += 1
            continue
        break
    if index >= len(words):
        segment.git_ops = [GitOp("other")]
        return segment.git_ops
    sub_word = words[index]
    operation = _GIT_SUBCOMMANDS.get(sub_word.value, "other")
    if sub_word.unknown:
        operation = "other"
    rest = words[index + 1 :]
    flags: set[str] = set()
    positional: list[Word] = []
    for word in rest:
        value = word.value
        if value.startswith("--") and not word.unknown:
            flags.add(value.split("=", 1)[0])
        elif value.startswith("-") and len(value) > 1 and not word.unknown and not value[1].isdigit():
            flags.add(value)
            if len(value) > 2:
                flags.update("-" + char for char in value[1:])
        else:
            positional.append(word)
    ops = _git_ops(operation, flags, positional, current_branch)
    segment.git_ops = ops
    return ops


_FORCE_FLAGS = frozenset({"-f", "--force", "--force-with-lease", "--force-if-includes", "--mirror"})


def _git_ops(operation: str, flags: set[str], positional: list[Word], current: str | None) -> list[GitOp]:
    names = [word.value for word in positional]
    forced = bool(flags & _FORCE_FLAGS)
    if operation == "push":
        delete = bool(flags & {"-d", "--delete"})
        if "--mirror" in flags or "--all" in flags or "--branches" in flags:
            return [GitOp("push", None, forced, names[0] if names else None)]
        remote = names[0] if names else None
        refspecs = positional[1:]
        ops: list[GitOp] = []
        if "--tags" in flags:
            ops.append(GitOp("tag", None, forced, remote, tag=None))
        for word in refspecs:
            spec = word.value
            if word.unknown:
                ops.append(GitOp("push", None, forced, remote))
                continue
            plus = spec.startswith("+")
            spec = spec.lstrip("+")
            src, sep, dst = spec.partition(":")
            if not sep:
                dst = src
            if dst in ("HEAD", "@", ""):
                dst_name, is_tag = (current, False) if dst != "" else (None, False)
            else:
                dst_name, is_tag = _ref(dst)
            if delete or (sep and src == ""):
                name, is_tag = _ref(dst or src)
                ops.append(
                    GitOp("tag_delete", None, True, remote, tag=name)
                    if is_tag
                    else GitOp("branch_delete", name, True, remote)
                )
                continue
            if is_tag:
                ops.append(GitOp("tag", None, forced or plus, remote, tag=dst_name))
            else:
                ops.append(GitOp("push", dst_name, forced or plus, remote))
        if not refspecs or (not ops and not delete):
            ops.append(GitOp("push", current, forced, remote))
        return ops
    if operation == "branch":
        if flags & {"-d", "-D", "--delete"}:
            force = bool(flags & {"-D", "-f", "--force"})
            return [GitOp("branch_delete", name, force) for name in names] or [
                GitOp("branch_delete", None, force)
            ]
        if flags & {"-m", "-M", "--move", "-c", "-C", "--copy"}:
            return [
                GitOp("branch", names[-1] if names else None, bool(flags & {"-M", "-C", "-f", "--force"}))
            ]
        if not names:
            return [GitOp("other")]
        return [GitOp("branch", names[0], bool(flags & {"-f", "--force"}))]
    if operation == "tag":
        if flags & {"-d", "--delete"}:
            return [GitOp("tag_delete", None, True, tag=name) for name in names] or [
                GitOp("tag_delete", None, True)
            ]
        if not names or flags & {"-l", "--list"}:
            return [GitOp("other")]
        return [GitOp("tag", None, bool(flags & {"-f", "--force"}), tag=names[0])]
    if operation == "update_ref":
        if "-d" in flags and names:
            name, is_tag = _ref(names[0])
            return [
                GitOp("tag_delete", None, True, tag=name) if is_tag else GitOp("branch_delete", name, True)
            ]
        return [GitOp("other", None, True)]
    if operation in ("merge", "rebase", "pull"):
        remote = names[0] if operation == "pull" and names else None
        return [GitOp(operation, current, forced, remote)]
    if operation == "reset":
        return [GitOp("reset", current, "--hard" in flags)]
    if operation == "commit":
        return [GitOp("commit", current, "--amend" in flags)]
    if operation == "checkout":
        force = bool(flags & {"-f", "--force", "-B", "-C", "--force-create"})
        target = next((name for name in names if name not in ("--",)), None)
        return [GitOp("checkout", target, force)]
    if operation == "clean":
        return [GitOp("clean", None, bool(flags & {"-f", "--force"}))]
    if operation == "clone":
        return [GitOp("clone", None, False, names[0] if names else None)]
    if operation == "fetch":
        return [
            GitOp("fetch", None, forced or any(n.startswith("+") for n in names), names[0] if names else None)
        ]
    return [GitOp(operation, None, forced)]


def normalise_operation(name: str | None) -> str | None:
    if not name:
        return None
    lowered = name.strip().lower()
    lowered = _OPERATION_ALIASES.get(lowered, lowered)
    return lowered if lowered in GIT_OPERATIONS else "other"


def git_ops_for_request(target: str, git: dict | None, context: dict | None) -> list[GitOp]:
    """Every git operation a git_operation request could mean (target text and git mapping together)."""
    git = git if isinstance(git, dict) else {}
    context = context if isinstance(context, dict) else {}
    current = _str_or_none(context.get("branch") or context.get("current_branch"))
    dict_op = normalise_operation(_str_or_none(git.get("operation")))
    dict_branch = _str_or_none(git.get("branch"))
    dict_force = bool(git.get("force"))
    dict_remote = _str_or_none(git.get("remote"))
    ops: list[GitOp] = []
    text = (target or "").strip()
    if text:
        words = text.split(None, 1)
        first = words[0]
        if first == "git" or first in _GIT_SUBCOMMANDS:
            command = text if first == "git" else "git " + text
            parsed = parse_command(command)
            for segment in parsed.segments:
                if segment.program == "git":
                    ops.extend(git_ops_from_segment(segment, current_branch=dict_branch or current))
            if not parsed.ok and not ops:
                ops.append(GitOp(dict_op or "other", None, True, dict_remote))
        elif dict_op:
            name, is_tag = _ref(text)
            if is_tag or dict_op in ("tag", "tag_delete"):
                ops.append(GitOp(dict_op, None, dict_force, dict_remote, tag=name))
            else:
                ops.append(GitOp(dict_op, dict_branch or name, dict_force, dict_remote))
            dict_op = None
        else:
            name, is_tag = _ref(text)
            ops.append(
                GitOp("tag", None, dict_force, dict_remote, tag=name)
                if is_tag
                else GitOp("push", name, dict_force, dict_remote)
            )
    merged = False
    for op in ops:
        if dict_op and op.operation == dict_op:
            merged = True
        if dict_force and (not dict_op or op.operation == dict_op):
            op.force = True
        if op.branch is None and op.operation in _BRANCH_NEEDED and dict_branch:
            op.branch = dict_branch
        if op.remote is None and dict_remote:
            op.remote = dict_remote
    if dict_op and not merged:
        ops.append(
            GitOp(
                dict_op,
                dict_branch or (current if dict_op in _BRANCH_NEEDED else None),
                dict_force,
                dict_remote,
            )
        )
    if not ops:
        ops.append(GitOp("other", dict_branch, dict_force, dict_remote))
    for op in ops:
        if op.branch:
            op.branch = _ref(op.branch)[0]
    return ops


def _str_or_none(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


# -- MCP ---------------------------------------------------------------------------------------

_CAPABILITY_WORDS: list[tuple[str, frozenset[str]]] = [
    (
        "destructive",
        frozenset("delete remove drop destroy purge truncate wipe erase rm kill terminate".split()),
    ),
    (
        "write",
        frozenset(
            "write create update edit put set patch upload commit push merge move rename insert add append modify save post".split()
        ),
    ),
    ("execute", frozenset("exec execute run shell command eval script terminal spawn invoke".split())),
    (
        "network",
        frozenset(
            "fetch http https request browse browser download url curl web navigate scrape crawl".split()
        ),
    ),
    (
        "credentials",
        frozenset(
            "secret secrets token tokens credential credentials password passwords key keys vault apikey".split()
        ),
    ),
    (
        "admin",
        frozenset(
            "admin permission permissions role roles member members invite grant policy policies settings webhook webhooks collaborator collaborators".split()
        ),
    ),
    (
        "read",
        frozenset("read get list search query find view describe show fetch_file cat ls open lookup".split()),
    ),
]
_SPLIT_TOOL = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def tool_capabilities(tool: str) -> set[str]:
    words = set(_SPLIT_TOOL.split(_CAMEL.sub("_", tool).lower()))
    if words & {"pull", "merge"}:
        words.discard("request")  # pull/merge requests are repository work, not network requests
    return {name for name, vocabulary in _CAPABILITY_WORDS if words & vocabulary}


def parse_mcp_target(target: str, mcp: dict | None) -> tuple[str, str, set[str], dict]:
    """(server, tool, capability classes, arguments) of an MCP call."""
    mcp = mcp if isinstance(mcp, dict) else {}
    text = (target or "").strip()
    server, tool = "", ""
    if text.startswith("mcp__"):
        server, _, tool = text[5:].partition("__")
    elif ":" in text:
        server, _, tool = text.partition(":")
    elif "/" in text:
        server, _, tool = text.partition("/")
    else:
        tool = text
    if mcp.get("server"):
        server = str(mcp["server"])
    if mcp.get("tool"):
        tool = str(mcp["tool"])
    inferred = tool_capabilities(tool.strip())
    server, tool = server.strip().lower(), tool.strip().lower()
    raw = mcp.get("capability")
    capabilities: set[str] = set()
    if isinstance(raw, str) and raw:
        capabilities.add(raw.lower())
    elif isinstance(raw, list | tuple):
        capabilities.update(str(item).lower() for item in raw if item)
    capabilities |= inferred
    if not capabilities:
        capabilities.add("unknown")
    arguments = mcp.get("arguments") if isinstance(mcp.get("arguments"), dict) else {}
    return server, tool, capabilities, arguments


# -- URLs --------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443, "ssh": 22}


def _normalise_host(host: str) -> str:
    host = unquote(host).strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        return host
    if re.fullmatch(r"[0-9a-fx.]+", host) and any(char.isdigit() for char in host):
        parts = host.split(".")
        try:
            numbers = [
                int(part, 0) if not (part.startswith("0") and part[1:].isdigit()) else int(part, 8)
                for part in parts
            ]
        except ValueError:
            return host
        if 1 <= len(numbers) <= 4 and all(n >= 0 for n in numbers):
            value = 0
            for number in numbers[:-1]:
                value = value * 256 + number
            value = value * (256 ** (5 - len(numbers))) + numbers[-1]
            try:
                return str(ipaddress.IPv4Address(value))
            except (ipaddress.AddressValueError, ValueError):
                return host
    return host


@dataclass(slots=True)
class Url:
    url: str
    scheme: str
    host: str
    port: int | None
    path: str


def normalise_url(target: str) -> Url:
    text = (target or "").strip()
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        netloc = parts.netloc.rsplit("@", 1)[-1]
        host_part, port = netloc, None
        if netloc.startswith("["):
            close = netloc.find("]")
            host_part = netloc[: close + 1]
            rest = netloc[close + 1 :]
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif ":" in netloc:
            host_part, _, port_text = netloc.rpartition(":")
            port = int(port_text) if port_text.isdigit() else None
        host = _normalise_host(host_part)
        _absolute, segments = _clean_segments(parts.path or "/")
        path = "/" + "/".join(segments)
        if parts.path.endswith("/") and segments:
            path += "/"
    except ValueError:
        return Url(url=text, scheme="", host="", port=None, path="")
    effective = port or _DEFAULT_PORTS.get(scheme)
    shown_port = "" if port is None or port == _DEFAULT_PORTS.get(scheme) else f":{port}"
    url = f"{scheme}://{host}{shown_port}{path}"
    if parts.query:
        url += "?" + parts.query
    return Url(url=url, scheme=scheme, host=host, port=effective, path=path)

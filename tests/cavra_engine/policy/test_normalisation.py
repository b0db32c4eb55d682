"""Normalisation of paths, command lines, git operations, MCP targets and URLs."""

from __future__ import annotations

import pytest

from cavra_engine.policy.normalise import git_ops_for_request, normalise_path, normalise_url, parse_mcp_target
from cavra_engine.policy.shell import parse_command


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("./a/b.txt", "a/b.txt"),
        ("a//b///c", "a/b/c"),
        ("a/./b/../c", "a/c"),
        ("/repo/src/app.py", "src/app.py"),
        ("/repo//src/../.env", ".env"),
        ("/repo", "."),
        ("/repository/x", "/repository/x"),
        ("/etc/../etc/passwd", "/etc/passwd"),
        ("../outside", "../outside"),
        ("a/../../x", "../x"),
        ("~/.ssh/id_rsa", "~/.ssh/id_rsa"),
        ("$HOME/.aws/credentials", "~/.aws/credentials"),
        ("${HOME}/x/../.netrc", "~/.netrc"),
        ("'quoted path'", "quoted path"),
        ("src\\win\\path.txt", "src/win/path.txt"),
        ("file:///repo/x", "x"),
        ("", "."),
    ],
)
def test_normalise_path(target, expected):
    assert normalise_path(target, repo_root="/repo") == expected


def test_relative_path_joins_cwd():
    assert normalise_path("../.env", repo_root="/repo", cwd="/repo/app") == ".env"
    assert normalise_path("x", repo_root="/repo", cwd="sub") == "sub/x"


def segments(text: str) -> list[str]:
    parsed = parse_command(text)
    assert parsed.ok, parsed.error
    return [segment.text for segment in parsed.segments]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("sudo /bin/rm -rf /", ["rm -rf /"]),
        ("sudo -u root -E -- rm -rf /", ["rm -rf /"]),
        ("doas -u root rm -rf /", ["rm -rf /"]),
        ("env -i PATH=/x FOO=1 nohup time command exec rm x", ["rm x"]),
        ("env -S 'rm -rf /'", ["rm -rf /"]),
        ("A=1 B='two words' rm x", ["rm x"]),
        ("nice -n 10 ionice -c 3 timeout -s KILL 10 stdbuf -oL rm x", ["rm x"]),
        ("/usr/local/bin/rm x", ["rm x"]),
        ("\\rm x", ["rm x"]),
        ("r''m \"x\"", ["rm x"]),
        ("$'\\x72\\x6d' x", ["rm x"]),
        ("{rm,-rf,/}", ["rm -rf /"]),
        ("rm${IFS}-rf${IFS}/", ["rm -rf /"]),
        ("a | b; c && d || e & f\ng", ["a", "b", "c", "d", "e", "f", "g"]),
        ("(cd x; rm y)", ["cd x", "rm y"]),
        ("ls # ; rm -rf /", ["ls"]),
        ("echo 'a; rm -rf /'", ["echo a; rm -rf /"]),
        ("bash -c 'rm -rf /'", ["bash -c rm -rf /", "rm -rf /"]),
        ('sh -ec "rm -rf /"', ["sh -ec rm -rf /", "rm -rf /"]),
        ("zsh -c -- 'rm x'", ["zsh -c -- rm x", "rm x"]),
        ("eval 'rm' '-rf' /", ["eval rm -rf /", "rm -rf /"]),
        ("echo $(rm -rf /)", ["rm -rf /", "echo $(...)"]),
        ("echo `rm -rf /`", ["rm -rf /", "echo $(...)"]),
        ("diff <(cat a) b", ["cat a", "diff <(...) b"]),
        ("find . -name x -exec rm -rf {} \\;", ["find . -name x -exec rm -rf {} ;", "rm -rf $FOUND"]),
        ("ls | xargs -0 -n1 rm -f", ["ls", "rm -f"]),
        ("echo x > out.txt 2>&1", ["echo x > out.txt"]),
        ("bash <<EOF\nrm -rf /\nEOF", ["bash", "rm -rf /"]),
        ("if true; then rm x; fi", ["true", "rm x"]),
        ("f() { rm -rf /; }; f", ["f", "rm -rf /", "f"]),
    ],
)
def test_command_segments(command, expected):
    assert segments(command) == expected


def test_flags_are_canonical():
    for variant in (
        "rm -rf x",
        "rm -fr x",
        "rm -r -f x",
        "rm -R -f x",
        "rm --recursive --force x",
        "rm -f --recursive x",
    ):
        [segment] = parse_command(variant).segments
        assert {"recursive", "force"} <= segment.flags, variant
        assert [w.value for w in segment.positional] == ["x"]


def test_value_options_are_not_positional():
    [segment] = parse_command("kubectl --context prod -n web delete pod x").segments
    assert [w.value for w in segment.positional] == ["delete", "pod", "x"]


def test_unknown_words_are_marked():
    [segment] = parse_command('rm -rf "$TARGET"').segments
    assert segment.has_unknown_arg
    [inner, outer] = parse_command("$(which rm) -rf /").segments
    assert outer.program is None and inner.program == "which"
    [segment] = parse_command("rm -rf ~").segments
    assert not segment.has_unknown_arg


@pytest.mark.parametrize("command", ["echo 'x", 'echo "x', "echo `x", "echo $(x", "cat <<EOF\nx", "echo ${x"])
def test_unparseable_commands(command):
    assert not parse_command(command).ok


def ops(target, **kwargs):
    return [
        (op.operation, op.branch, op.force)
        for op in git_ops_for_request(target, kwargs.get("git"), kwargs.get("context"))
    ]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("push origin main", [("push", "main", False)]),
        ("git push -f origin main", [("push", "main", True)]),
        ("push --force-with-lease=main:abc origin main", [("push", "main", True)]),
        ("push --force-if-includes origin main", [("push", "main", True)]),
        ("push origin +main", [("push", "main", True)]),
        ("push origin HEAD:main", [("push", "main", False)]),
        ("push origin feature:refs/heads/main", [("push", "main", False)]),
        ("push origin :old", [("branch_delete", "old", True)]),
        ("push origin --delete old", [("branch_delete", "old", True)]),
        ("push origin a b", [("push", "a", False), ("push", "b", False)]),
        ("push", [("push", None, False)]),
        ("push --mirror", [("push", None, True)]),
        ("git -C /x -c a=b push -uf origin main", [("push", "main", True)]),
        ("branch -D x", [("branch_delete", "x", True)]),
        ("tag -d v1", [("tag_delete", None, True)]),
        ("reset --hard HEAD~3", [("reset", None, True)]),
        ("commit --amend -m x", [("commit", None, True)]),
        ("filter-repo --path x", [("filter_branch", None, False)]),
        ("merge feature", [("merge", None, False)]),
        ("main", [("push", "main", False)]),
    ],
)
def test_git_operations(target, expected):
    assert ops(target) == expected


def test_git_request_mapping_is_combined():
    assert ops("main", git={"operation": "merge"}) == [("merge", "main", False)]
    assert ops("push origin main", git={"force": True}) == [("push", "main", True)]
    assert ops("push", git={"branch": "main"}) == [("push", "main", False)]
    assert ops("merge x", context={"branch": "main"}) == [("merge", "main", False)]
    assert ops("", git={"operation": "force-push", "branch": "refs/heads/main", "force": True}) == [
        ("push", "main", True)
    ]


def test_mcp_targets():
    assert parse_mcp_target("GitHub:Create_Issue", None)[:2] == ("github", "create_issue")
    assert parse_mcp_target("mcp__slack__post_message", None)[:2] == ("slack", "post_message")
    server, tool, caps, _ = parse_mcp_target("fs/deleteFile", {"capability": ["admin"]})
    assert (server, tool) == ("fs", "deletefile") and caps == {"admin", "destructive"}
    assert parse_mcp_target("x:zzz", None)[2] == {"unknown"}


@pytest.mark.parametrize(
    ("url", "host", "normalised"),
    [
        ("HTTPS://Example.COM./a/./b/../c?q=1", "example.com", "https://example.com/a/c?q=1"),
        ("http://user:pw@host:80/x", "host", "http://host/x"),
        ("example.com/path", "example.com", "https://example.com/path"),
        ("http://2130706433/", "127.0.0.1", "http://127.0.0.1/"),
        ("http://0x7f.1/", "127.0.0.1", "http://127.0.0.1/"),
        ("https://h:8443", "h", "https://h:8443/"),
    ],
)
def test_urls(url, host, normalised):
    parsed = normalise_url(url)
    assert (parsed.host, parsed.url) == (host, normalised)

"""`cavra ci check --base REF --head REF`: a CI required check. Every changed path is asked as a
write_file (workflow and IaC files are recognised and tagged, and the policy's rules for them apply),
the branch the pipeline pushes to as a git_operation, and any `--command` as execute_command. The
result is a PR attestation (pr-attestation.md + .json) and an exit code:

0 every action allowed · 1 something blocked · 3 waiting for approval · 4 the portal could not decide
(unreachable, token refused: fail closed) · 2 usage or git error."""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from cavra_engine.policy.vocabulary import VERDICTS

from .config import ConfigError, load_config
from .gate import ALLOW, Gate, ProposedAction
from .portal import PortalClient

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_PENDING, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4
ATTESTATION_TYPE = "cavra.pr-attestation/v1"
WORKFLOW_GLOBS = (".github/workflows/*", ".github/actions/*", ".gitlab-ci.yml", ".gitlab/ci/*", ".circleci/*",
                  "Jenkinsfile", "azure-pipelines.yml", ".buildkite/*")  # fmt: skip
IAC_GLOBS = ("*.tf", "*.tfvars", "*.tf.json", "*.hcl", "Chart.yaml", "*/templates/*.yaml", "k8s/*", "kubernetes/*",
             "helm/*", "*.bicep", "cloudformation/*", "*Pulumi.yaml", "serverless.yml")  # fmt: skip


class CiError(Exception):
    pass


def classify(path: str) -> str:
    if any(fnmatch.fnmatch(path, g) for g in WORKFLOW_GLOBS):
        return "workflow"
    if any(fnmatch.fnmatch(path, g) or fnmatch.fnmatch(Path(path).name, g) for g in IAC_GLOBS):
        return "iac"
    return "file"


def _git(args: list[str], cwd: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CiError(f"git {' '.join(args)} failed: {exc}")
    if result.returncode != 0:
        raise CiError(f"git {' '.join(args)}: {result.stderr.decode('utf-8', 'replace').strip()}")
    return result.stdout.decode("utf-8", "surrogateescape")


def changed_paths(base: str, head: str, cwd: str) -> list[tuple[str, str]]:
    """(status, path) for every path the change touches, renames as a delete plus an add."""
    out = _git(["diff", "--name-status", "-z", "--no-renames", f"{base}...{head}"], cwd)
    fields = [f for f in out.split("\0") if f]
    changes = []
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        changes.append((status, path))
    return changes


def oidc_token(env: dict, audience: str | None) -> str | None:
    """The CI provider's workload identity token: GitHub Actions' request endpoint, or a token the
    pipeline already holds (GitLab `id_tokens:` as CAVRA_ID_TOKEN, or CAVRA_OIDC_TOKEN)."""
    for name in ("CAVRA_ID_TOKEN", "CAVRA_OIDC_TOKEN"):
        if env.get(name):
            return env[name].strip()
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if url and bearer:
        from urllib.parse import quote

        if audience:
            url += ("&" if "?" in url else "?") + "audience=" + quote(audience, safe="")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {bearer}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                value = json.loads(response.read().decode()).get("value")
        except (OSError, ValueError) as exc:
            raise CiError(f"could not get the GitHub Actions OIDC token: {exc}")
        if not value:
            raise CiError("the GitHub Actions OIDC endpoint returned no token")
        return value
    return None


def _push_branch(env: dict) -> str | None:
    for name in ("CAVRA_PUSH_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
                 "CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME"):  # fmt: skip
        if env.get(name):
            return env[name]
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cavra ci check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the base ref or commit (e.g. origin/main)")
    parser.add_argument("--head", required=True, help="the head ref or commit (e.g. HEAD)")
    parser.add_argument(
        "--repository",
        help="e.g. acme/payments (default: CAVRA_REPOSITORY, GITHUB_REPOSITORY, CI_PROJECT_PATH)",
    )
    parser.add_argument(
        "--environment", help="environment the rollout is selected by (default CAVRA_ENVIRONMENT)"
    )
    parser.add_argument(
        "--push-branch", help="branch the pipeline pushes to (default from the CI's variables)"
    )
    parser.add_argument("--no-push", action="store_true", help="do not ask about a push")
    parser.add_argument(
        "--command", action="append", default=[], help="a job command to ask about (repeatable)"
    )
    parser.add_argument("--audience", help="audience of the OIDC token (default CAVRA_AUDIENCE)")
    parser.add_argument("--out", default=".", help="directory for pr-attestation.md and pr-attestation.json")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for approvals (default 0)")
    parser.add_argument("--cwd", default=".", help="the git work tree (default: current directory)")
    return parser


def main(argv: list[str], environ: dict | None = None) -> int:
    if not argv or argv[0] != "check":
        sys.stderr.write("usage: cavra ci check --base REF --head REF [options]\n")
        return EXIT_USAGE
    try:
        args = _parser().parse_args(argv[1:])
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    env = dict(os.environ if environ is None else environ)
    try:
        return check(args, env)
    except CiError as exc:
        sys.stderr.write(f"cavra ci check: {exc}\n")
        return EXIT_USAGE


def check(args, env: dict) -> int:
    base_sha = _git(["rev-parse", "--verify", f"{args.base}^{{commit}}"], args.cwd).strip()
    head_sha = _git(["rev-parse", "--verify", f"{args.head}^{{commit}}"], args.cwd).strip()
    changes = changed_paths(base_sha, head_sha, args.cwd)
    repository = (args.repository or env.get("CAVRA_REPOSITORY") or env.get("GITHUB_REPOSITORY")
                  or env.get("CI_PROJECT_PATH") or None)  # fmt: skip
    try:
        config = load_config(env, project_dir=str(Path(args.cwd).resolve()), token_required=False)
        if not config.token:
            config.token = oidc_token(env, args.audience or env.get("CAVRA_AUDIENCE")) or ""
        if not config.token:
            raise ConfigError(
                "no credential: set CAVRA_TOKEN, or give the job an OIDC token (GitHub: `permissions: id-token: "
                "write`; GitLab: `id_tokens: CAVRA_ID_TOKEN`)"
            )
    except (ConfigError, CiError) as exc:
        sys.stderr.write(f"cavra ci check: the portal cannot be asked, so the check fails closed: {exc}\n")
        return EXIT_UNAVAILABLE
    config.repository = repository
    config.environment = args.environment or config.environment
    config.approval_wait = args.wait
    config.state_dir = None  # a CI runner is ephemeral: nothing to remember between jobs
    gate = Gate(config, PortalClient(config.base_url, config.token, timeout=config.timeout))

    context = {"agent": "ci", "base": base_sha, "head": head_sha, "provider": _provider(env)}
    asks: list[tuple[str, ProposedAction]] = []
    for status, path in changes:
        kind = classify(path)
        change = {"A": "added", "D": "deleted", "M": "modified", "T": "type_changed"}.get(status[:1], status)
        asks.append(
            (kind, ProposedAction("write_file", path, context={**context, "change": change, "kind": kind}))
        )
    branch = args.push_branch or _push_branch(env)
    if not args.no_push and branch:
        asks.append(("push", ProposedAction(
            "git_operation", f"git push origin HEAD:{branch}", operation="push", branch=branch, remote="origin",
            context=context,
        )))  # fmt: skip
    for command in args.command:
        asks.append(("command", ProposedAction("execute_command", command, context=context)))

    rows = []
    for kind, proposed in asks:
        answer = gate.check(proposed)
        rows.append(_row(kind, proposed, answer))
    unavailable = [r for r in rows if r["decision"] is None]
    blocked = [r for r in rows if r["decision"] == "block"]
    pending = [r for r in rows if r["decision"] == "require_approval"]
    result = (
        "unavailable"
        if unavailable
        else "blocked"
        if blocked
        else "pending_approval"
        if pending
        else "allowed"
    )
    document = {
        "type": ATTESTATION_TYPE,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "portal": config.base_url,
        "repository": repository,
        "environment": config.environment,
        "base": {"ref": args.base, "commit": base_sha},
        "head": {"ref": args.head, "commit": head_sha},
        "push_branch": branch if not args.no_push else None,
        "result": result,
        "policies": _policies(rows),
        "decisions": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(document, indent=2, sort_keys=True) + "\n"
    (out / "pr-attestation.json").write_text(payload, encoding="utf-8")
    (out / "pr-attestation.md").write_text(
        _markdown(document, hashlib.sha256(payload.encode()).hexdigest()), encoding="utf-8"
    )
    summary = (f"cavra ci check: {result} — {len(rows)} action(s): {len(rows) - len(blocked) - len(pending) - len(unavailable)} "
               f"allowed, {len(blocked)} blocked, {len(pending)} waiting for approval, {len(unavailable)} undecided")  # fmt: skip
    print(summary)
    for row in blocked + pending + unavailable:
        print(f"  {row['decision'] or 'undecided'}: {row['action']} {row['target']} — {row['reason']}")
    if env.get("GITHUB_STEP_SUMMARY"):
        try:
            with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
                handle.write((out / "pr-attestation.md").read_text(encoding="utf-8"))
        except OSError:
            pass
    return {"unavailable": EXIT_UNAVAILABLE, "blocked": EXIT_BLOCKED, "pending_approval": EXIT_PENDING}.get(
        result, EXIT_OK
    )


def _provider(env: dict) -> str:
    if env.get("GITHUB_ACTIONS"):
        return "github-actions"
    if env.get("GITLAB_CI"):
        return "gitlab-ci"
    return "other"


def _row(kind: str, proposed: ProposedAction, answer) -> dict:
    portal = answer.answer or {}
    if portal.get("decision") in VERDICTS:
        decision = portal["decision"]
        if answer.verdict == ALLOW:
            decision = "allow"
        elif answer.pending:
            decision = "require_approval"
        elif decision == "require_approval":
            decision = "block"  # a reviewer denied it, or the approval lapsed
    else:
        decision = None  # no answer from the portal: the check fails closed
    return {
        "kind": kind,
        "action": proposed.action,
        "target": proposed.target,
        "decision": decision,
        "rule_id": portal.get("rule_id"),
        "severity": portal.get("severity"),
        "reason": answer.reason,
        "decision_id": portal.get("decision_id"),
        "policy": portal.get("policy"),
        "evidence": portal.get("evidence"),
        "approval": {"id": answer.approval_id, "url": answer.approval_url} if answer.approval_id else None,
    }


def _policies(rows: list[dict]) -> list[dict]:
    seen = {}
    for row in rows:
        policy = row.get("policy") or {}
        if policy.get("digest"):
            seen[policy["digest"]] = {k: policy.get(k) for k in ("pack", "version", "digest", "mode")}
    return list(seen.values())


def _markdown(document: dict, digest: str) -> str:
    icon = {
        "allow": "allow",
        "block": "**BLOCK**",
        "require_approval": "**approval needed**",
        None: "**undecided**",
    }
    lines = [
        "# CAVRA PR attestation",
        "",
        f"- Result: **{document['result']}**",
        f"- Repository: `{document['repository'] or '-'}`  environment: `{document['environment'] or '-'}`",
        f"- Change: `{document['base']['commit'][:12]}`...`{document['head']['commit'][:12]}`",
        f"- Portal: {document['portal']}",
        f"- Generated: {document['generated_at']}; pr-attestation.json SHA-256 `{digest}`",
        "",
        "## Policies",
        "",
    ]
    lines += [
        f"- `{p['pack']}` {p['version']} ({p['mode']}), digest `{p['digest']}`" for p in document["policies"]
    ] or ["- none"]
    lines += [
        "",
        "## Decisions",
        "",
        "| decision | kind | action | target | rule | decision id | evidence |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in document["decisions"]:
        evidence = row.get("evidence") or {}
        ev = (
            f"seq {evidence.get('seq')} `{(evidence.get('hash') or '')[:12]}`"
            if evidence.get("hash")
            else "-"
        )
        target = row["target"].replace("|", "\\|")
        lines.append(
            f"| {icon.get(row['decision'])} | {row['kind']} | {row['action']} | `{target}` | {row['rule_id'] or '-'} "
            f"| {row['decision_id'] or '-'} | {ev} |"
        )
    attention = [r for r in document["decisions"] if r["decision"] != "allow"]
    if attention:
        lines += ["", "## Needs attention", ""]
        for row in attention:
            link = (
                f" — approve at {row['approval']['url']}"
                if row.get("approval") and row["approval"].get("url")
                else ""
            )
            lines.append(f"- `{row['target']}`: {row['reason']}{link}")
    return "\n".join(lines) + "\n"

"""Signed offline policy bundles: what the portal signs, how an agent verifies one before trusting it,
how it decides from it when the portal is unreachable, and the local hash-chained spool of those
offline decisions.

A bundle is `{"bundle": {...}, "key_id": ..., "signature": ...}`; the signature is Ed25519 over the
RFC 8785 canonical JSON of `bundle`, by the tenant's policy-signing key (the key that signs policy
versions, not the evidence key), checked against the policy trust root (`GET /api/v1/policy-trust-root`).
A bundle is used only if the signature verifies with a key valid at `issued_at`, `expires_at` has not
passed, the compiled policy matches its digest and this engine reproduces the portal's answers to the
tenant's safety canaries. Anything else fails closed."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path

from cavra_engine.evidence.canonical import canonicalize

BUNDLE_TYPE = "cavra.policy-bundle/v1"
SPOOL_TYPE = "cavra.offline-decision/v1"
GENESIS = "0" * 64
CLOCK_SKEW = timedelta(minutes=5)

POLICY_TRUST_ROOT_FORMAT = "cavra-policy-trust-root/v1"


class BundleError(Exception):
    """The bundle cannot be trusted or used: the caller fails closed."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value, what: str) -> datetime:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise BundleError(f"{what} is not a UTC time")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise BundleError(f"{what} is not a UTC time")


def _request(item: dict, *, profile: str | None = None):
    from cavra_engine.policy import ActionRequest

    return ActionRequest(
        action=item["action"],
        target=item["target"],
        repository=item.get("repository"),
        environment=item.get("environment"),
        agent_profile=profile,
        repo_root=(item.get("context") or {}).get("repo_root"),
        git=item.get("git")
        or (
            {k: item.get(k) for k in ("operation", "branch", "force", "remote")}
            if item.get("operation") or item.get("branch")
            else None
        ),
        mcp=item.get("mcp"),
        network={"method": item["method"]} if item.get("method") else None,
        context=item.get("context") or None,
    )


def canary_results(compiled, canaries: list[dict], profile: str | None = None) -> list[dict]:
    """The engine's answer to each of the tenant's safety canaries under `compiled` (what the portal signs)."""
    from cavra_engine.policy import evaluate

    results = []
    for canary in canaries:
        verdict = evaluate(compiled, _request(canary, profile=profile))
        results.append({**canary, "expect": verdict.decision, "rule_id": verdict.rule_id})
    return results


def sign_bundle(bundle: dict, *, key_id: str, sign) -> dict:
    """`sign(message) -> signature bytes`; the portal passes its tenant key's sign method."""
    return {"bundle": bundle, "key_id": key_id, "signature": sign(canonicalize(bundle)).hex()}


@dataclass
class VerifiedBundle:
    bundle: dict
    compiled: object
    digest: str  # SHA-256 of the signed bytes: names this exact bundle in the spool

    @property
    def mode(self) -> str:
        return self.bundle["scope"].get("mode") or "enforce"


def verify_bundle(envelope, trust_root, *, now: datetime | None = None) -> VerifiedBundle:
    from cavra_engine.policy import CompiledPolicy, PolicyError, evaluate

    now = now or utc_now()
    if not isinstance(envelope, dict) or not isinstance(envelope.get("bundle"), dict):
        raise BundleError("not a policy bundle (no `bundle` object)")
    bundle = envelope["bundle"]
    if bundle.get("type") != BUNDLE_TYPE:
        raise BundleError(f"not a policy bundle (type must be {BUNDLE_TYPE!r})")
    tenant, keys = _policy_keys(trust_root)
    if bundle.get("tenant") != tenant:
        raise BundleError(f"the bundle is for tenant {bundle.get('tenant')!r}, the trust root for {tenant!r}")
    try:
        message = canonicalize(bundle)
    except Exception as exc:  # noqa: BLE001 - anything not canonicalisable was not signed by the portal
        raise BundleError(f"the bundle is not canonical JSON: {exc}")
    issued = _parse(bundle.get("issued_at"), "issued_at")
    problem = _signature_problem(keys, envelope.get("key_id"), issued, envelope.get("signature"), message)
    if problem:
        raise BundleError(f"the signature is not valid: {problem}")
    expires = _parse(bundle.get("expires_at"), "expires_at")
    if issued > now + CLOCK_SKEW:
        raise BundleError(f"the bundle was issued in the future ({bundle['issued_at']})")
    if expires <= now:
        raise BundleError(
            f"the bundle expired at {bundle['expires_at']}; pull a fresh one (`cavra bundle pull`)"
        )
    policy = bundle.get("policy") or {}
    try:
        compiled = CompiledPolicy.from_json(policy.get("compiled") or "")
    except (PolicyError, ValueError, TypeError, KeyError) as exc:
        raise BundleError(f"the compiled policy cannot be loaded: {exc}")
    if compiled.digest != policy.get("digest"):
        raise BundleError("the compiled policy does not match its digest")
    profile = (bundle.get("agent") or {}).get("profile")
    for canary in bundle.get("canaries") or []:
        got = evaluate(compiled, _request(canary, profile=profile))
        if (got.decision, got.rule_id) != (canary.get("expect"), canary.get("rule_id")):
            raise BundleError(
                f"this engine answers canary {canary.get('id')!r} with {got.decision} ({got.rule_id}); the portal "
                f"answered {canary.get('expect')} ({canary.get('rule_id')}): upgrade cavra before deciding offline"
            )
    return VerifiedBundle(bundle, compiled, hashlib.sha256(message).hexdigest())


def _policy_keys(trust_root) -> tuple[str, dict[str, tuple]]:
    """(tenant, key_id -> (public key, valid_from, valid_until)) from a policy trust root; BundleError names the member."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(trust_root, dict) or trust_root.get("format") != POLICY_TRUST_ROOT_FORMAT:
        raise BundleError(
            f"the trust root is not a policy trust root (format {POLICY_TRUST_ROOT_FORMAT!r}); "
            "download it from GET /api/v1/policy-trust-root"
        )
    tenant, entries = trust_root.get("tenant"), trust_root.get("keys")
    if not isinstance(tenant, str) or not isinstance(entries, list) or not entries:
        raise BundleError("the trust root is not usable: it needs `tenant` and a non-empty `keys` list")
    keys = {}
    for n, entry in enumerate(entries):
        try:
            public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(entry["public_key"]))
            until = entry.get("valid_until")
            keys[entry["key_id"]] = (
                public, _parse(entry["valid_from"], f"keys[{n}].valid_from"),
                _parse(until, f"keys[{n}].valid_until") if until is not None else None,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"the trust root is not usable: keys[{n}] is malformed ({exc})")
    return tenant, keys


def _signature_problem(keys: dict, key_id, issued: datetime, signature, message: bytes) -> str | None:
    from cryptography.exceptions import InvalidSignature

    if key_id not in keys:
        return f"signed by key {key_id!r}, which is not in the trust root"
    public, valid_from, valid_until = keys[key_id]
    if issued < valid_from or (valid_until is not None and issued > valid_until):
        return f"key {key_id} was not valid at {timestamp(issued)}"
    try:
        public.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError, TypeError):
        return f"signature does not verify with key {key_id}"
    return None


def _registry_objection(bundle: dict, body: dict) -> tuple[str, str, str] | None:
    """The registry's answer from the bundle's slice: (decision, rule_id, reason) or None. Offline,
    anything that needs a reviewer is a block (no approval can be routed without the portal)."""
    agent = bundle.get("agent") or {}
    name = agent.get("name") or "this agent"
    if agent.get("status") != "active":
        return "block", f"registry.agent.{agent.get('status') or 'unknown'}", f"Agent {name} is not active."
    if body["action"] not in (agent.get("actions") or []):
        return "block", "registry.profile.action_not_allowed", f"Agent {name} may not do {body['action']}."
    repos = agent.get("repositories") or []
    repository = (body.get("repository") or "").lower()
    if repository and repos and not any(fnmatchcase(repository, str(p).lower()) for p in repos):
        return "block", "registry.agent.repository_not_allowed", f"Agent {name} may not work in {repository}."
    if body["action"] != "mcp_tool_call":
        return None
    mcp = body.get("mcp") or {}
    server_id, tool = str(mcp.get("server") or ""), str(mcp.get("tool") or "")
    if not any(
        fnmatchcase(f"{server_id}:{tool}".lower(), str(p).lower()) for p in agent.get("mcp_tools") or []
    ):
        return "block", "registry.mcp.tool_out_of_scope", f"Agent {name} may not use {server_id}:{tool}."
    server = (bundle.get("mcp_servers") or {}).get(server_id)
    if server is None:
        return "block", "registry.mcp.server_unknown", f"MCP server {server_id} is not in the registry."
    if server.get("trust_tier") == "blocked" or server.get("approval_state") != "approved":
        return (
            "block",
            "registry.mcp.server_blocked",
            f"MCP server {server_id} is not approved for offline use.",
        )
    status = (server.get("tools") or {}).get(tool)
    if status == "changed":
        return (
            "block",
            "registry.mcp.tool_changed",
            (
                f"The description or input schema of {server_id}:{tool} changed since it was approved (a rug pull); "
                "it is held until an operator re-approves it."
            ),
        )
    if status == "approved" or (status is None and server.get("trust_tier") == "trusted"):
        if server.get("trust_tier") != "experimental":
            return None
    return (
        "block",
        "registry.mcp.tool_unapproved",
        f"Tool {server_id}:{tool} needs a reviewer, who is offline.",
    )


def offline_verdict(verified: VerifiedBundle, body: dict) -> dict:
    from cavra_engine.policy import evaluate
    from cavra_engine.policy.modes import apply_mode

    policy = verified.bundle["policy"]
    ref = {"pack": policy.get("pack"), "version": policy.get("version"), "digest": policy.get("digest"),
           "mode": verified.mode}  # fmt: skip
    objection = _registry_objection(verified.bundle, body)
    if objection is not None:
        decision, rule_id, reason = objection
        return {"decision": decision, "rule_id": rule_id, "reason": reason, "severity": "high", "policy": ref}
    verdict = evaluate(
        verified.compiled, _request(body, profile=(verified.bundle.get("agent") or {}).get("profile"))
    )
    # Offline there is no one to check an attester against: an allow_with_attestation outcome is a block
    # and break_glass mode behaves as enforce (the attestation is never passed on).
    moded = apply_mode(verdict, verified.mode)
    verdict = moded.verdict
    answer = {"decision": verdict.decision, "outcome": verdict.outcome or verdict.decision,
              "rule_id": verdict.rule_id, "reason": verdict.reason, "severity": verdict.severity,
              "policy": ref}  # fmt: skip
    if moded.would_have:
        answer["audit_only"] = {
            "decision": moded.would_have["decision"],
            "rule_id": moded.would_have["rule_id"],
        }
    return answer


def load_verified(bundle_path: Path | None, trust_root_path: Path | None, *, now=None) -> VerifiedBundle:
    if bundle_path is None or trust_root_path is None:
        raise BundleError("offline mode needs CAVRA_BUNDLE and CAVRA_TRUST_ROOT")
    try:
        envelope = json.loads(Path(bundle_path).read_text(encoding="utf-8"))
        trust_root = json.loads(Path(trust_root_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the bundle or trust root: {exc}")
    return verify_bundle(envelope, trust_root, now=now)


def offline_decide(config, body: dict) -> dict:
    """Decide `body` from the configured bundle and append it to the local spool."""
    verified = load_verified(config.bundle, config.trust_root)
    answer = offline_verdict(verified, body)
    if config.state_dir is not None:
        Spool(Path(config.state_dir) / "offline-spool.jsonl").append(
            {
                "bundle": verified.digest,
                "agent": (verified.bundle.get("agent") or {}).get("id"),
                "request": body,
                **answer,
            }  # fmt: skip
        )
    return answer


class Spool:
    """Append-only, hash-chained JSON Lines of offline decisions (uploaded by `cavra sync`). Each line's
    `hash` is SHA-256 over its canonical JSON without `hash`, and names the previous line's hash."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, entry: dict) -> dict:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            last = None
            for line in handle:
                if line.strip():
                    last = line
            previous = json.loads(last) if last else None
            record = {
                "type": SPOOL_TYPE,
                "seq": (previous["seq"] + 1) if previous else 1,
                "prev_hash": previous["hash"] if previous else GENESIS,
                "decided_at": timestamp(utc_now()),
                **entry,
            }
            record["hash"] = hashlib.sha256(canonicalize(record)).hexdigest()
            handle.seek(0, os.SEEK_END)
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record

    def entries(self) -> list[dict]:
        """Every entry after checking the chain; a broken chain is an error, never silently skipped."""
        if not self.path.exists():
            return []
        entries, previous = [], GENESIS
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            body = {k: v for k, v in record.items() if k != "hash"}
            if record.get("prev_hash") != previous or hashlib.sha256(
                canonicalize(body)
            ).hexdigest() != record.get("hash"):
                raise BundleError(f"the offline spool is broken at line {number}")
            entries.append(record)
            previous = record["hash"]
        return entries


# -- cavra bundle pull | verify ----------------------------------------------------------------------


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="cavra bundle")
    sub = parser.add_subparsers(dest="command", required=True)
    pull = sub.add_parser("pull", help="fetch this agent's signed bundle, verify it, write it")
    pull.add_argument("scope", nargs="?", default="current", help="rollout id (rol_…) or `current` (default)")
    pull.add_argument("--out", help="file to write (default CAVRA_BUNDLE)")
    pull.add_argument("--trust-root", help="trust root to verify against (default CAVRA_TRUST_ROOT)")
    verify = sub.add_parser("verify", help="verify a bundle against a trust root (exit 0 ok, 1 not usable)")
    verify.add_argument("bundle")
    verify.add_argument("--trust-root", help="default CAVRA_TRUST_ROOT")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    if args.command == "verify":
        trust = args.trust_root or os.environ.get("CAVRA_TRUST_ROOT")
        try:
            verified = load_verified(Path(args.bundle), Path(trust) if trust else None)
        except BundleError as exc:
            sys.stderr.write(f"cavra bundle verify: NOT USABLE: {exc}\n")
            return 1
        policy = verified.bundle["policy"]
        print(f"ok: {policy['pack']} {policy['version']} sha256:{policy['digest']} for {verified.bundle['agent']['name']}, "
              f"expires {verified.bundle['expires_at']}")  # fmt: skip
        return 0
    from .config import ConfigError, load_config
    from .portal import PortalClient, PortalError

    try:
        config = load_config()
    except ConfigError as exc:
        sys.stderr.write(f"cavra bundle pull: {exc}\n")
        return 2
    out = Path(args.out) if args.out else config.bundle
    trust = Path(args.trust_root) if args.trust_root else config.trust_root
    if out is None or trust is None:
        sys.stderr.write(
            "cavra bundle pull: give --out and --trust-root (or CAVRA_BUNDLE and CAVRA_TRUST_ROOT)\n"
        )
        return 2
    try:
        envelope = PortalClient(config.base_url, config.token, timeout=config.timeout).policy_bundle(
            args.scope, repository=config.repository, environment=config.environment
        )
        verify_bundle(envelope, json.loads(trust.read_text(encoding="utf-8")))
    except (PortalError, BundleError, OSError, ValueError) as exc:
        sys.stderr.write(f"cavra bundle pull: nothing written: {exc}\n")
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(envelope, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out}: {envelope['bundle']['policy']['pack']} {envelope['bundle']['policy']['version']}, "
          f"expires {envelope['bundle']['expires_at']}")  # fmt: skip
    return 0

"""The compiled policy object the portal caches by digest, and the fail-closed evaluate() entry point."""

from __future__ import annotations

import json

from .compiler import COMPILED_FORMAT, canonical_json, compile_document, digest_of
from .errors import PolicyError
from .evaluator import ActionRequest, Runtime, Verdict, internal_error_verdict
from .loader import Pack


class CompiledPolicy:
    """A resolved pack in canonical JSON form, with its SHA-256 digest and an evaluation index."""

    def __init__(self, document: dict, digest: str) -> None:
        self.document = document
        self.digest = digest
        self._runtime: Runtime | None = None

    @property
    def pack_id(self) -> str:
        return self.document["pack"]["id"]

    @property
    def version(self) -> str:
        return self.document["pack"]["version"]

    @property
    def title(self) -> str:
        return self.document["pack"]["title"]

    @property
    def description(self) -> str:
        return self.document["pack"].get("description", "")

    @property
    def engine(self) -> str:
        return self.document["engine"]

    @property
    def rules(self) -> list[dict]:
        return self.document["rules"]

    @property
    def tests(self) -> list[dict]:
        return self.document.get("tests") or []

    @property
    def runtime(self):
        if self._runtime is None:
            if self.engine == "v1":
                from .v1 import V1Runtime

                self._runtime = V1Runtime(self.document, self.digest)
            else:
                self._runtime = Runtime(self.document, self.digest)
        return self._runtime

    def prepare(self) -> CompiledPolicy:
        """Builds the index and compiles every matcher now, so no request pays for first use."""
        runtime = self.runtime
        for rule in getattr(runtime, "rules", ()):
            _ = rule.alternatives
        return self

    def to_json(self) -> str:
        return canonical_json({**self.document, "digest": self.digest})

    @classmethod
    def from_json(cls, text: str) -> CompiledPolicy:
        try:
            document = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise PolicyError(f"compiled policy is not JSON: {exc}", file="<compiled>")
        if not isinstance(document, dict) or document.get("format") != COMPILED_FORMAT:
            raise PolicyError(f"not a compiled policy (format must be {COMPILED_FORMAT})", file="<compiled>")
        claimed = document.pop("digest", None)
        digest = digest_of(document)
        if claimed != digest:
            raise PolicyError("compiled policy digest does not match its content", file="<compiled>")
        return cls(document, digest)

    def __repr__(self) -> str:
        return f"<CompiledPolicy {self.pack_id} {self.version} {self.digest[:12]}>"


def compile_pack(pack: Pack) -> CompiledPolicy:
    """Resolves extends and mappings; the same pack always yields the same digest."""
    document = compile_document(pack)
    return CompiledPolicy(document, digest_of(document))


def evaluate(compiled: CompiledPolicy, action: ActionRequest) -> Verdict:
    """Decides one action. Never raises: bad input or an internal error is a block verdict."""
    try:
        if not isinstance(action, ActionRequest):
            raise TypeError("evaluate() needs an ActionRequest")
        if not isinstance(action.target, str):
            action.target = "" if action.target is None else str(action.target)
        if len(action.target) > 65536:
            return Verdict(
                decision="block",
                rule_id="engine.invalid_request",
                severity="high",
                reason="target longer than 65536 characters",
                normalised_target=action.target[:200],
                policy_digest=compiled.digest,
                pack_id=compiled.pack_id,
            )
        return compiled.runtime.evaluate(action)
    except Exception as exc:  # fail closed on anything unexpected
        return internal_error_verdict(compiled.digest, compiled.pack_id, exc, getattr(action, "target", None))

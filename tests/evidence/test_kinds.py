"""The evidence vocabulary: the code writes exactly the kinds in evidence/kinds.py, which are exactly the
kinds docs/evidence-format.md lists; sessions and decisions each have one writer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from approvals.models import ApprovalRequest
from evidence import kinds
from registry.models import Agent

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "core",
    "tenants",
    "evidence",
    "registry",
    "approvals",
    "policies",
    "aispm",
    "reports",
    "cavra_portal",
    "licensing",
)
AUDIT_WRITERS = {
    "record_audit",
    "membership_add",
    "_create_audited",
    "_update_audited",
}  # action= becomes the kind `audit.<action>`

# Writers whose kind is computed: (file, expression) -> every kind it can produce. A new computed
# kind fails this test until it is listed here, in evidence/kinds.py and in the format document.
COMPUTED = {
    ("tenants/audit.py", "f'audit.{action}'"): set(),  # the audit family, scanned at its callers
    ("evidence/services/chain.py", "kind"): set(),  # evidence_audit_sink passes the audit kind on
    ("approvals/services/state.py", "f'approval.{kind}'"): set(),  # scanned at _evidence/_transition
    ("approvals/services/state.py", "kind or to"): set(),
    ("tenants/services.py", "action"): set(),
    # provider_store writes both protocols' create/change
    ("tenants/sso_config.py", "f'{prefix}_create' if creating else f'{prefix}_change'"): {
        f"audit.sso.{p}provider_{verb}" for p in ("", "saml_") for verb in ("create", "change")
    },  # membership_add(action=...), scanned at its callers
    ("approvals/services/review.py", "outcome"): {"approval.approved", "approval.denied"},
    # the registry's shared create/update writers, scanned at their callers (AUDIT_WRITERS)
    ("registry/services/common.py", "action"): set(),
    ("registry/services/common.py", "action(changed, current) if callable(action) else action"): set(),
    ("registry/services/agents.py", "_agent_update_action"): {"audit.registry.agent.update"}
    | {f"audit.registry.agent.{status}" for status in Agent.Status.values},
    ("registry/services/mcp_servers.py", "f'registry.mcp_server.{action}'"): {
        "audit.registry.mcp_server.update"
    },
    ("registry/services/mcp_tools.py", "action"): {
        "audit.registry.mcp_tool.observe",
        "audit.registry.mcp_tool.changed",
    },
    (
        "registry/services/workload_identities.py",
        "f\"registry.workload_identity.{('enable' if enabled else 'disable')}\"",
    ): {"audit.registry.workload_identity.enable", "audit.registry.workload_identity.disable"},
    ("tenants/signin.py", "f'signin.{event}'"): {
        f"audit.signin.{event}" for event in ("succeeded", "failed", "locked_out", "sso_refused")
    },
    ("policies/services/scopes.py", "f\"{kind}.{('create' if created else 'update')}\""): {
        f"audit.{kind}.{verb}" for kind in ("repository", "environment") for verb in ("create", "update")
    },
    ("policies/services/scopes.py", "action"): set(),  # _scope_ensure, scanned at its callers
    ("policies/services/scopes.py", "f'{kind}.delete'"): {
        "audit.repository.delete",
        "audit.environment.delete",
    },
    ("tenants/sso_config.py", "'sso.provider_create' if creating else 'sso.provider_change'"): {
        "audit.sso.provider_create",
        "audit.sso.provider_change",
    },
    ("core/admin.py", "f\"admin.{('change' if change else 'add')}\""): {
        "audit.admin.change",
        "audit.admin.add",
    },
    ("licensing/services.py", "kind"): {kinds.LICENCE_INSTALLED, kinds.LICENCE_REPLACED},
    ("aispm/services/findings.py", "f'aispm.finding.{verb}'"): {
        f"aispm.finding.{event}" for event in kinds.FINDING_EVENTS
    },
}


def _sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _constant(expr) -> str | None:
    """A literal string, or a constant of evidence/kinds.py (`kinds.X` or an imported `X`)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    name = expr.attr if isinstance(expr, ast.Attribute) else expr.id if isinstance(expr, ast.Name) else None
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "S":
        return ApprovalRequest.Status[name].value
    value = getattr(kinds, name, None) if name and name.isupper() else None
    return value if isinstance(value, str) else None


def kinds_written() -> tuple[set[str], list[str]]:
    """Every kind the code can write, and every computed writer not accounted for in COMPUTED."""
    written: set[str] = set()
    unknown: list[str] = []
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            keywords = {k.arg: k.value for k in node.keywords}
            if name in ("evidence_append", "sink"):
                prefix, expr = "", keywords.get("kind")
            elif name in AUDIT_WRITERS:
                prefix, expr = "audit.", keywords.get("action", ast.Constant("membership.add"))
            elif name == "mcp_server_update":
                prefix, expr = "audit.registry.mcp_server.", keywords.get("action", ast.Constant("update"))
            elif name in ("_evidence", "_transition") and len(node.args) > 1:
                prefix, expr = "approval.", node.args[1]
            else:
                continue
            value = _constant(expr)
            if value is not None:
                written.add(prefix + value)
            elif (rel, ast.unparse(expr)) in COMPUTED:
                written |= COMPUTED[(rel, ast.unparse(expr))]
            else:
                unknown.append(f"{rel}:{node.lineno} {name}({ast.unparse(expr)})")
    return written, unknown


def documented_kinds() -> list[str]:
    text = (ROOT / "docs" / "evidence-format.md").read_text(encoding="utf-8")
    section = text.split("## 9. Record kinds", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


def test_the_format_document_lists_exactly_the_registered_kinds():
    documented = documented_kinds()
    assert len(documented) == len(set(documented)), "a kind is listed twice"
    assert set(documented) == set(kinds.KINDS)


def test_the_code_writes_exactly_the_registered_kinds():
    written, unknown = kinds_written()
    assert not unknown, f"computed evidence kinds not accounted for (see COMPUTED): {unknown}"
    assert written - set(kinds.KINDS) == set(), "kinds written but not registered in evidence/kinds.py"
    assert set(kinds.KINDS) - written == set(), "kinds registered but written nowhere"


def _modules_matching(pattern: str) -> set[str]:
    return {rel for rel, _ in _sources() if re.search(pattern, (ROOT / rel).read_text(encoding="utf-8"))}


@pytest.mark.parametrize(
    "model, writer",
    [("AgentSession", "policies/decisions/sessions.py"), ("Decision", "policies/decisions/record.py")],
)
def test_one_writer_per_fact(model, writer):
    creates = (
        rf"\b{model}\.objects\.(create|bulk_create|get_or_create|update_or_create)\(|(?<!class )\b{model}\("
    )
    updates = rf"\b{model}\.objects\.filter\([^)]*\)\.update\("
    assert _modules_matching(creates) == {writer}
    assert _modules_matching(updates) <= {writer}


def test_sessions_and_decisions_have_one_kind_each(acme, db):
    from evidence.models import EvidenceRecord
    from tests.factories import decision_recorded, session_opened

    session = session_opened(acme)
    decision_recorded(acme, session, action="read_file", target="a.py", decision="allow")
    written = set(
        EvidenceRecord.objects.filter(tenant=acme, subject__regex=r"^(ses|dec)_").values_list(
            "kind", flat=True
        )
    )
    assert written == {kinds.SESSION_OPENED, kinds.DECISION_RECORDED}

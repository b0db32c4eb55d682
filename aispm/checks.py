"""The posture checks: small registered functions over a tenant's state and activity that return hits.

A check has an id, title, surface, severity, remediation and, when it measures age, a default threshold
in days a tenant admin may change (CheckSetting). `run(ctx)` returns one Hit per object that fails;
findings_refresh() turns hits into findings and clears findings whose object now passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.urls import reverse

from aispm.compiled import compiled_rules_of
from approvals.models import ApprovalRequest, BreakGlassReview
from cavra_engine.surfaces import (
    GENERAL_POLICY,
    INFRASTRUCTURE_IAC,
    MCP_TOOLS,
    SENSITIVE_DATA,
)
from evidence.models import ChainHead, Checkpoint, Decision, SigningKey, VerificationRun, WitnessPublication
from evidence.services.witnesses import witness_publication_status
from policies.models import Environment, Rollout
from registry.models import Agent, AgentCredential, McpServer, McpTool
from tenants.models import SsoProvider, Tenant


@dataclass
class Hit:
    subject_key: str
    detail: str
    objects: list[dict] = field(default_factory=list)
    agent_ref: str = ""
    repository: str = ""


@dataclass
class CheckContext:
    tenant: Tenant
    now: datetime
    threshold_days: int | None


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    surface: str
    severity: str
    remediation: str
    run: Callable[[CheckContext], list[Hit]]
    default_threshold_days: int | None = None


CHECKS: dict[str, Check] = {}


def check(id, title, *, surface, severity, remediation, threshold_days=None):
    def register(fn):
        CHECKS[id] = Check(id, title, surface, severity, remediation, fn, threshold_days)
        return fn

    return register


def _url(name: str, **kwargs) -> str:
    return reverse(name, kwargs=kwargs or None)


def _agent_obj(agent: Agent) -> dict:
    return {"type": "agent", "id": agent.public_id, "label": agent.name,
            "url": _url("registry:agent", agent_id=agent.public_id)}  # fmt: skip


def _live_agents(tenant):
    return Agent.objects.filter(tenant=tenant).exclude(status=Agent.Status.RETIRED)


@check(
    "agent.no_owner",
    "Agent has no owner",
    surface=GENERAL_POLICY,
    severity="high",
    remediation="Assign an accountable owner to the agent in the registry (Registry → agent → Edit).",
)
def agent_no_owner(ctx: CheckContext) -> list[Hit]:
    return [
        Hit(
            f"agent:{a.public_id}",
            f"{a.name} acts for nobody: no owner is recorded.",
            [_agent_obj(a)],
            a.public_id,
        )
        for a in _live_agents(ctx.tenant).filter(owner__isnull=True)
    ]


@check(
    "agent.every_repository",
    "Agent may act in every repository",
    surface=GENERAL_POLICY,
    severity="medium",
    remediation="Limit the agent's allowed repositories to the ones it works in (e.g. acme/payments).",
)
def agent_every_repository(ctx: CheckContext) -> list[Hit]:
    hits = []
    for a in _live_agents(ctx.tenant):
        globs = [str(g).strip() for g in (a.allowed_repositories or [])]
        if not globs or any(g in ("*", "**", "*/*") for g in globs):
            hits.append(
                Hit(
                    f"agent:{a.public_id}",
                    f"{a.name} is allowed every repository.",
                    [_agent_obj(a)],
                    a.public_id,
                )
            )
    return hits


def _credential_obj(c: AgentCredential) -> list[dict]:
    return [
        {"type": "credential", "id": c.public_id, "label": f"{c.prefix}… {c.label}".strip(),
         "url": _url("registry:agent", agent_id=c.agent.public_id)},
        _agent_obj(c.agent),
    ]  # fmt: skip


def _active_credentials(ctx):
    return (
        AgentCredential.objects.filter(tenant=ctx.tenant, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=ctx.now))
        .select_related("agent")
    )


@check(
    "credential.unused",
    "Agent credential unused",
    surface=SENSITIVE_DATA,
    severity="medium",
    remediation="Revoke credentials nobody uses; an idle bearer token is only a liability.",
    threshold_days=90,
)
def credential_unused(ctx: CheckContext) -> list[Hit]:
    cutoff = ctx.now - timedelta(days=ctx.threshold_days or 90)
    stale = _active_credentials(ctx).filter(
        Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created_at__lt=cutoff)
    )
    return [
        Hit(f"credential:{c.public_id}",
            f"{c.prefix}… of {c.agent.name} was last used "
            f"{c.last_used_at:%Y-%m-%d}." if c.last_used_at else f"{c.prefix}… of {c.agent.name} was never used.",
            _credential_obj(c), c.agent.public_id)
        for c in stale
    ]  # fmt: skip


@check(
    "credential.no_expiry",
    "Agent credential never expires",
    surface=SENSITIVE_DATA,
    severity="medium",
    remediation="Rotate the credential into one with an expiry (Registry → agent → Rotate).",
)
def credential_no_expiry(ctx: CheckContext) -> list[Hit]:
    return [
        Hit(f"credential:{c.public_id}", f"{c.prefix}… of {c.agent.name} has no expiry.", _credential_obj(c),
            c.agent.public_id)
        for c in _active_credentials(ctx).filter(expires_at__isnull=True)
    ]  # fmt: skip


@check(
    "mcp.unapproved_called",
    "Unapproved or experimental MCP server is being called",
    surface=MCP_TOOLS,
    severity="high",
    remediation="Approve the server after review, or block it in the registry so agents stop calling it.",
    threshold_days=30,
)
def mcp_unapproved_called(ctx: CheckContext) -> list[Hit]:
    since = ctx.now - timedelta(days=ctx.threshold_days or 30)
    risky = (
        McpServer.objects.filter(tenant=ctx.tenant)
        .filter(
            ~Q(approval_state=McpServer.ApprovalState.APPROVED)
            | Q(trust_tier=McpServer.TrustTier.EXPERIMENTAL)
        )
        .exclude(trust_tier=McpServer.TrustTier.BLOCKED)
    )
    hits = []
    for server in risky:
        calls = Decision.objects.filter(
            tenant=ctx.tenant,
            action="mcp_tool_call",
            created_at__gte=since,
            target__startswith=f"{server.server_id}:",
        ).count()
        if calls:
            hits.append(Hit(
                f"mcp_server:{server.public_id}",
                f"{server.name} ({server.approval_state}, {server.trust_tier}) was called {calls} time(s) "
                f"in the last {ctx.threshold_days or 30} days.",
                [{"type": "mcp_server", "id": server.public_id, "label": server.name,
                  "url": _url("registry:mcp-server", server_id=server.public_id)}],
            ))  # fmt: skip
    return hits


@check(
    "mcp.tool_changed",
    "MCP tool description changed since approval (rug pull)",
    surface=MCP_TOOLS,
    severity="critical",
    remediation="Review the new description and schema, then re-approve the tool or block the server.",
)
def mcp_tool_changed(ctx: CheckContext) -> list[Hit]:
    tools = McpTool.objects.filter(tenant=ctx.tenant, status=McpTool.Status.CHANGED).select_related("server")
    return [
        Hit(f"mcp_tool:{t.public_id}",
            f"{t.server.server_id}:{t.name} changed on {t.changed_at:%Y-%m-%d} and is not re-approved."
            if t.changed_at else f"{t.server.server_id}:{t.name} changed and is not re-approved.",
            [{"type": "mcp_tool", "id": t.public_id, "label": f"{t.server.server_id}:{t.name}",
              "url": _url("registry:mcp-server", server_id=t.server.public_id)}])
        for t in tools
    ]  # fmt: skip


def _rollout_obj(r: Rollout) -> dict:
    return {"type": "rollout", "id": r.public_id, "label": f"{r.version.pack.pack_id} {r.version.version}",
            "url": _url("policies:version", public_id=r.version.public_id)}  # fmt: skip


@check(
    "rollout.production_not_enforced",
    "Production scope is not enforced",
    surface=INFRASTRUCTURE_IAC,
    severity="high",
    remediation="Set the production rollout to enforce (or strict) once its audit-only period is over.",
)
def rollout_production_not_enforced(ctx: CheckContext) -> list[Hit]:
    rollouts = Rollout.objects.filter(
        tenant=ctx.tenant, environment__is_production=True, mode=Rollout.Mode.AUDIT_ONLY
    ).select_related("environment", "repository", "version__pack")
    return [
        Hit(f"rollout:{r.public_id}",
            f"{r.repository.name if r.repository_id else 'every repository'} in {r.environment.name} runs "
            f"{r.version.pack.pack_id} in audit-only mode: nothing is stopped.",
            [_rollout_obj(r)], repository=r.repository.name if r.repository_id else "")
        for r in rollouts
    ]  # fmt: skip


@check(
    "rollout.production_missing",
    "Production environment has no rollout",
    surface=INFRASTRUCTURE_IAC,
    severity="high",
    remediation="Roll out a policy to the production environment (Policies → Rollouts).",
)
def rollout_production_missing(ctx: CheckContext) -> list[Hit]:
    tenant_wide = Rollout.objects.filter(tenant=ctx.tenant, environment__isnull=True).exists()
    if tenant_wide:
        return []
    hits = []
    for env in Environment.objects.filter(tenant=ctx.tenant, is_production=True):
        if not Rollout.objects.filter(tenant=ctx.tenant, environment=env).exists():
            hits.append(Hit(f"environment:{env.name}", f"{env.name} has no policy: agents there are blocked "
                            "by default, but nobody chose that.", [{"type": "environment", "id": env.name,
                            "label": env.name, "url": _url("policies:index")}]))  # fmt: skip
    return hits


@check(
    "pack.no_tests",
    "Rolled-out policy has no tests",
    surface=GENERAL_POLICY,
    severity="low",
    remediation="Add `tests:` cases to the pack so every change is checked before it is published.",
)
def pack_no_tests(ctx: CheckContext) -> list[Hit]:
    hits, seen = [], set()
    for r in Rollout.objects.filter(tenant=ctx.tenant).select_related("version__pack"):
        if r.version_id in seen:
            continue
        seen.add(r.version_id)
        if not compiled_rules_of(r.version)["tests"]:
            hits.append(Hit(f"policy_version:{r.version.public_id}",
                            f"{r.version.pack.pack_id} {r.version.version} is rolled out with no tests.",
                            [_rollout_obj(r)]))  # fmt: skip
    return hits


@check(
    "breakglass.review_overdue",
    "Break-glass use without a completed post-review",
    surface=GENERAL_POLICY,
    severity="high",
    remediation="Complete the post-review of the break-glass use (Approvals → Break-glass reviews).",
)
def breakglass_review_overdue(ctx: CheckContext) -> list[Hit]:
    reviews = BreakGlassReview.objects.filter(
        tenant=ctx.tenant, status=BreakGlassReview.Status.OPEN, due_at__lt=ctx.now
    ).select_related("request")
    return [
        Hit(f"break_glass:{r.request.public_id}",
            f"Break-glass on {r.request.target[:80]} was due for review on {r.due_at:%Y-%m-%d}.",
            [{"type": "approval", "id": r.request.public_id, "label": r.request.public_id,
              "url": _url("approvals:detail", public_id=r.request.public_id)}],
            repository=r.request.repository)
        for r in reviews
    ]  # fmt: skip


@check(
    "approvals.left_to_expire",
    "Approval requests left to expire",
    surface=GENERAL_POLICY,
    severity="medium",
    remediation="Staff the reviewer queue or add routing rules so requests are decided before they expire.",
    threshold_days=7,
)
def approvals_left_to_expire(ctx: CheckContext) -> list[Hit]:
    since = ctx.now - timedelta(days=ctx.threshold_days or 7)
    expired = ApprovalRequest.objects.filter(
        tenant=ctx.tenant, status=ApprovalRequest.Status.EXPIRED, expires_at__gte=since
    ).count()
    if not expired:
        return []
    return [Hit("tenant", f"{expired} approval request(s) expired undecided in the last "
                f"{ctx.threshold_days or 7} days.", [{"type": "queue", "id": "approvals",
                "label": "Approval history", "url": _url("approvals:history")}])]  # fmt: skip


@check(
    "evidence.checkpoint_stale",
    "Evidence checkpoint is stale",
    surface=GENERAL_POLICY,
    severity="high",
    remediation="Check that Celery beat runs evidence checkpoints; create one from Evidence → Verification.",
    threshold_days=1,
)
def evidence_checkpoint_stale(ctx: CheckContext) -> list[Hit]:
    head = ChainHead.objects.filter(tenant=ctx.tenant).first()
    if head is None or head.seq == 0:
        return []
    last = Checkpoint.objects.filter(tenant=ctx.tenant).order_by("-seq").first()
    cutoff = ctx.now - timedelta(days=ctx.threshold_days or 1)
    if last is not None and (last.seq >= head.seq or last.created_at >= cutoff):
        return []
    detail = (f"The last checkpoint covers seq {last.seq} of {head.seq}, signed {last.created_at:%Y-%m-%d %H:%M}."
              if last else f"{head.seq} record(s) and no checkpoint at all.")  # fmt: skip
    return [Hit("chain", detail, [{"type": "evidence", "id": "verification", "label": "Verification",
                                  "url": _url("evidence:verification")}])]  # fmt: skip


@check(
    "evidence.not_verified",
    "Evidence chain not verified recently",
    surface=GENERAL_POLICY,
    severity="high",
    remediation="Run a verification (Evidence → Verification → Verify now) and keep the hourly job running.",
    threshold_days=7,
)
def evidence_not_verified(ctx: CheckContext) -> list[Hit]:
    head = ChainHead.objects.filter(tenant=ctx.tenant).first()
    if head is None or head.seq == 0:
        return []
    cutoff = ctx.now - timedelta(days=ctx.threshold_days or 7)
    last = VerificationRun.objects.filter(tenant=ctx.tenant).order_by("-started_at").first()
    if last is not None and last.ok and last.started_at >= cutoff:
        return []
    detail = ("The chain has never been verified." if last is None else
              f"The last verification ({last.started_at:%Y-%m-%d}) {'passed' if last.ok else 'FAILED'}: "
              f"{last.summary}")  # fmt: skip
    return [Hit("chain", detail, [{"type": "evidence", "id": "verification", "label": "Verification",
                                  "url": _url("evidence:verification")}])]  # fmt: skip


def _witness_hits(ctx: CheckContext, status: str) -> list[Hit]:
    """Witnesses whose latest settled publication for the tenant ended in `status`."""
    hits = []
    try:
        rows = witness_publication_status(ctx.tenant)
    except ImproperlyConfigured:
        return []  # a malformed EVIDENCE_WITNESSES is a platform problem: cavra_doctor fails and names it
    for row in rows:
        settled = row["settled"]
        if settled is not None and settled.status == status:
            hits.append(Hit(f"witness:{settled.witness_key_id}",
                            f"Head #{settled.checkpoint.seq} to {settled.witness_url}: {settled.last_error[:300]}",
                            [{"type": "evidence", "id": "doctor", "label": "Evidence readiness",
                              "url": _url("evidence:doctor")}]))  # fmt: skip
    return hits


@check(
    "evidence.witness_refused",
    "A witness refused the tenant's tree head (history does not extend what it countersigned)",
    surface=GENERAL_POLICY,
    severity="critical",
    remediation="Treat as a suspected rewrite of evidence: compare the chain with the witness's head "
    "(cavra evidence verify --witness) and investigate database and key access.",
)
def evidence_witness_refused(ctx: CheckContext) -> list[Hit]:
    return _witness_hits(ctx, WitnessPublication.Status.REFUSED)


@check(
    "evidence.witness_unpublished",
    "Tree head could not be published to a witness",
    surface=GENERAL_POLICY,
    severity="high",
    remediation="Check that the witness in EVIDENCE_WITNESSES is reachable and holds the tenant's trust root; "
    "the next signed head is published again.",
)
def evidence_witness_unpublished(ctx: CheckContext) -> list[Hit]:
    return _witness_hits(ctx, WitnessPublication.Status.FAILED)


@check(
    "key.rotation_age",
    "Evidence signing key past its rotation age",
    surface=GENERAL_POLICY,
    severity="medium",
    remediation="Rotate the tenant's signing key (Evidence → Verification → Rotate key).",
    threshold_days=365,
)
def key_rotation_age(ctx: CheckContext) -> list[Hit]:
    cutoff = ctx.now - timedelta(days=ctx.threshold_days or 365)
    return [
        Hit(f"key:{k.key_id}", f"Key {k.key_id} has signed since {k.valid_from:%Y-%m-%d}.",
            [{"type": "signing_key", "id": k.key_id, "label": k.key_id, "url": _url("evidence:verification")}])
        for k in SigningKey.objects.filter(tenant=ctx.tenant, valid_until__isnull=True, valid_from__lt=cutoff)
    ]  # fmt: skip


@check(
    "identity.sso_off",
    "Single sign-on is not configured",
    surface=GENERAL_POLICY,
    severity="medium",
    remediation="Configure an OIDC provider and IdP group mappings (Tenant → Single sign-on).",
)
def identity_sso_off(ctx: CheckContext) -> list[Hit]:
    if SsoProvider.objects.filter(tenant=ctx.tenant, enabled=True).exists():
        return []
    return [Hit("tenant", "Members sign in with local passwords; no enabled SSO provider.",
                [{"type": "tenant", "id": ctx.tenant.slug, "label": ctx.tenant.name, "url": _url("tenants:members")}])]  # fmt: skip

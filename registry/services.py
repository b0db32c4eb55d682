"""Writes for the registry: agents, credentials, MCP servers and tools; each atomic and audited."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from registry.models import (
    AGENT_NAME_VALIDATOR,
    SERVER_ID_VALIDATOR,
    TOOL_NAME_VALIDATOR,
    Agent,
    AgentCredential,
    CapabilityClass,
    McpServer,
    McpTool,
    RiskTier,
    WorkloadIdentityBinding,
)
from registry.profiles import ACTION_TYPES, CUSTOM, PROFILES
from registry.workload_identity import VERIFIER_CLAIMS, url_problem
from tenants.audit import model_snapshot, record_audit
from tenants.models import Membership, Tenant, User

TOKEN_PREFIX = "cvr_"
TOKEN_VISIBLE_CHARS = 12
MAX_LIST_ITEMS = 200
MAX_TOOL_DESCRIPTION = 20_000
MAX_TOOL_SCHEMA_BYTES = 64 * 1024


# ---------------------------------------------------------------- helpers


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tool_digest(*, description: str, input_schema: dict) -> str:
    """SHA-256 of the canonical JSON of {description, input_schema} (sorted keys, no spaces)."""
    canonical = json.dumps(
        {"description": description, "input_schema": input_schema},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _validate(validator, value: str, field: str) -> str:
    try:
        validator(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})
    return value


def _choice(value, choices, field: str, what: str) -> str:
    value = str(value or "").strip()
    valid = [c[0] if isinstance(c, tuple) else c for c in choices]
    if value not in valid:
        raise ValidationError({field: f"Unknown {what} {value!r}. Valid: {', '.join(valid)}."})
    return value


def _string_list(value, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, (list, tuple)):
        raise ValidationError({field: "Give a list of strings."})
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError({field: "Every entry must be a string."})
        item = item.strip()
        if not item:
            continue
        if len(item) > 200:
            raise ValidationError({field: f"Entry {item[:40]!r}… is longer than 200 characters."})
        if item not in out:
            out.append(item)
    if len(out) > MAX_LIST_ITEMS:
        raise ValidationError({field: f"At most {MAX_LIST_ITEMS} entries."})
    return out


def _repositories(value) -> list[str]:
    repos = _string_list(value, "allowed_repositories")
    for repo in repos:
        if " " in repo or "/" not in repo:
            raise ValidationError(
                {"allowed_repositories": f"{repo!r} is not a repository glob like owner/name or acme/*."}
            )
    return repos


def _actions(value) -> list[str]:
    actions = _string_list(value, "allowed_actions")
    unknown = [a for a in actions if a not in ACTION_TYPES]
    if unknown:
        raise ValidationError(
            {
                "allowed_actions": f"Unknown action type(s): {', '.join(unknown)}. Valid: {', '.join(ACTION_TYPES)}."
            }
        )
    return [a for a in ACTION_TYPES if a in actions]


def _mcp_tool_globs(value) -> list[str]:
    globs = _string_list(value, "allowed_mcp_tools")
    for g in globs:
        if g != "*" and ":" not in g:
            raise ValidationError({"allowed_mcp_tools": f"{g!r} is not a server:tool glob (e.g. github:*)."})
    return globs


def _member_or_none(tenant: Tenant, user: User | None, field: str) -> User | None:
    if user is None:
        return None
    if not Membership.objects.filter(tenant=tenant, user=user).exists():
        raise ValidationError({field: f"{user.email} is not a member of {tenant.name}."})
    return user


def _actor(actor) -> User | None:
    # An agent principal is never a User row: the audit trail records it as "system".
    return actor if isinstance(actor, User) else None


# ---------------------------------------------------------------- agents

_AGENT_FIELDS = (
    "name",
    "description",
    "profile",
    "owner",
    "status",
    "allowed_repositories",
    "allowed_actions",
    "allowed_mcp_tools",
    "risk_tier",
)


def _clean_agent_fields(tenant: Tenant, changes: dict, *, agent: Agent | None) -> dict:
    unknown = sorted(set(changes) - set(_AGENT_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set."})
    clean: dict = {}
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        _validate(AGENT_NAME_VALIDATOR, name, "name")
        clash = Agent.objects.filter(tenant=tenant, name__iexact=name)
        if agent is not None:
            clash = clash.exclude(pk=agent.pk)
        if clash.exists():
            raise ValidationError({"name": f"An agent named {name!r} already exists in {tenant.name}."})
        clean["name"] = name
    if "description" in changes:
        clean["description"] = str(changes["description"] or "").strip()[:5000]
    if "profile" in changes:
        clean["profile"] = _choice(changes["profile"], list(PROFILES), "profile", "profile")
    if "owner" in changes:
        clean["owner"] = _member_or_none(tenant, changes["owner"], "owner")
    if "status" in changes:
        clean["status"] = _choice(changes["status"], Agent.Status.choices, "status", "status")
    if "allowed_repositories" in changes:
        clean["allowed_repositories"] = _repositories(changes["allowed_repositories"])
    if "allowed_actions" in changes:
        clean["allowed_actions"] = _actions(changes["allowed_actions"])
    if "allowed_mcp_tools" in changes:
        clean["allowed_mcp_tools"] = _mcp_tool_globs(changes["allowed_mcp_tools"])
    if "risk_tier" in changes:
        clean["risk_tier"] = _choice(changes["risk_tier"], RiskTier.choices, "risk_tier", "risk tier")
    profile = clean.get("profile", agent.profile if agent else None)
    actions = clean.get("allowed_actions", agent.allowed_actions if agent else [])
    if profile == CUSTOM and not actions:
        raise ValidationError({"allowed_actions": "A custom profile needs at least one allowed action."})
    return clean


def agent_create(
    *,
    tenant: Tenant,
    actor: User | None,
    name: str,
    profile: str,
    owner: User | None = None,
    description: str = "",
    allowed_repositories=(),
    allowed_actions=(),
    allowed_mcp_tools=(),
    risk_tier: str = RiskTier.MEDIUM,
) -> Agent:
    fields = _clean_agent_fields(
        tenant,
        {
            "name": name,
            "profile": profile,
            "owner": owner,
            "description": description,
            "allowed_repositories": allowed_repositories,
            "allowed_actions": allowed_actions,
            "allowed_mcp_tools": allowed_mcp_tools,
            "risk_tier": risk_tier,
        },
        agent=None,
    )
    try:
        with transaction.atomic():
            agent = Agent.objects.create(tenant=tenant, created_by=_actor(actor), **fields)
            record_audit(
                tenant=tenant,
                actor=_actor(actor),
                action="registry.agent.create",
                obj=agent,
                after=model_snapshot(agent),
            )
    except IntegrityError:
        raise ValidationError({"name": f"An agent named {name!r} already exists in {tenant.name}."})
    return agent


def agent_update(*, agent: Agent, actor: User | None, **changes) -> Agent:
    """Change any of name, description, profile, owner, status, allowed_* and risk_tier."""
    fields = _clean_agent_fields(agent.tenant, changes, agent=agent)
    with transaction.atomic():
        current = Agent.objects.select_for_update().get(pk=agent.pk)
        if current.status == Agent.Status.RETIRED and fields.get("status", current.status) != current.status:
            raise ValidationError({"status": "A retired agent stays retired; register a new agent instead."})
        before = model_snapshot(current)
        changed = [k for k, v in fields.items() if getattr(current, k) != v]
        if not changed:
            return current
        for key in changed:
            setattr(current, key, fields[key])
        current.updated_at = timezone.now()
        try:
            with transaction.atomic():
                current.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:
            raise ValidationError({"name": f"An agent named {fields.get('name')!r} already exists."})
        if "status" in changed and current.status == Agent.Status.RETIRED:
            # Retiring is final: every token stops working now, not when it expires.
            now = timezone.now()
            AgentCredential.objects.filter(agent=current, revoked_at__isnull=True).update(
                revoked_at=now, revoked_by=_actor(actor)
            )
        action = "registry.agent.update"
        if changed == ["status"]:
            action = f"registry.agent.{current.status}"
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action=action,
            obj=current,
            before=before,
            after=model_snapshot(current),
        )
    return current


def agent_set_status(*, agent: Agent, actor: User | None, status: str) -> Agent:
    return agent_update(agent=agent, actor=actor, status=status)


# ---------------------------------------------------------------- credentials


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def agent_credential_issue(
    *, agent: Agent, actor: User | None, expires_at: datetime | None = None, label: str = ""
) -> tuple[AgentCredential, str]:
    """A fresh token for the agent; the plaintext is returned here and never stored or shown again."""
    if agent.status == Agent.Status.RETIRED:
        raise ValidationError({"agent": f"{agent.name} is retired; it cannot get new tokens."})
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise ValidationError({"expires_at": "Give a time zone (e.g. 2030-01-01T00:00:00Z)."})
        if expires_at <= timezone.now():
            raise ValidationError({"expires_at": "The expiry must be in the future."})
        if expires_at > timezone.now() + timedelta(days=3660):
            raise ValidationError({"expires_at": "The expiry must be within ten years."})
    label = str(label or "").strip()
    if len(label) > 100:
        raise ValidationError({"label": "At most 100 characters."})
    plaintext = _new_token()
    with transaction.atomic():
        credential = AgentCredential.objects.create(
            tenant=agent.tenant,
            agent=agent,
            token_hash=token_hash(plaintext),
            prefix=plaintext[:TOKEN_VISIBLE_CHARS],
            label=label,
            created_by=_actor(actor),
            expires_at=expires_at,
        )
        record_audit(
            tenant=agent.tenant,
            actor=_actor(actor),
            action="registry.credential.issue",
            obj=credential,
            object_repr=f"{credential.prefix}… for {agent.name}",
            after={"agent": agent.public_id, "prefix": credential.prefix, "expires_at": _iso(expires_at)},
        )
    return credential, plaintext


def agent_credential_revoke(*, credential: AgentCredential, actor: User | None) -> AgentCredential:
    """Revoke now; the next request with this token is refused (nothing caches a valid lookup)."""
    with transaction.atomic():
        current = AgentCredential.objects.select_for_update().select_related("agent").get(pk=credential.pk)
        if current.revoked_at is not None:
            return current
        current.revoked_at = timezone.now()
        current.revoked_by = _actor(actor)
        current.save(update_fields=["revoked_at", "revoked_by"])
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action="registry.credential.revoke",
            obj=current,
            object_repr=f"{current.prefix}… for {current.agent.name}",
            before={"revoked_at": None},
            after={"revoked_at": _iso(current.revoked_at)},
        )
    credential.revoked_at = current.revoked_at
    credential.revoked_by = current.revoked_by
    return current


def agent_credential_rotate(
    *, credential: AgentCredential, actor: User | None, expires_at: datetime | None = None
) -> tuple[AgentCredential, str]:
    """Issue a replacement and revoke the old token in one transaction."""
    with transaction.atomic():
        old = AgentCredential.objects.select_for_update().select_related("agent").get(pk=credential.pk)
        if old.revoked_at is not None:
            raise ValidationError({"credential": "This token is already revoked; issue a new one instead."})
        new, plaintext = agent_credential_issue(
            agent=old.agent, actor=actor, expires_at=expires_at, label=old.label
        )
        agent_credential_revoke(credential=old, actor=actor)
        AgentCredential.objects.filter(pk=old.pk).update(replaced_by=new)
    credential.revoked_at = timezone.now()
    return new, plaintext


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------- workload identities

MAX_REQUIRED_CLAIMS = 20
_CLAIM_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_ONLY_WILDCARDS = re.compile(r"^[*?\[\]!]*$")


def _glob(value, field: str, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError({field: f"Give the {what} as a string."})
    value = value.strip()
    if not value:
        raise ValidationError({field: f"The {what} is required."})
    if len(value) > 300:
        raise ValidationError({field: f"The {what} is longer than 300 characters."})
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError({field: f"The {what} contains control characters."})
    if _ONLY_WILDCARDS.match(value):
        # Audiences are chosen by whoever requests the token, so only sub and claims pin the workload.
        raise ValidationError({field: f"The {what} must name something, not only wildcards."})
    return value


def _workload_url(value, field: str, *, required: bool) -> str:
    value = str(value or "").strip()
    if not value:
        if required:
            raise ValidationError({field: "This field is required."})
        return ""
    if len(value) > (300 if field == "issuer" else 500):
        raise ValidationError({field: "This URL is too long."})
    problem = url_problem(value)
    if problem:
        raise ValidationError({field: problem})
    return value


def _required_claims(value) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            {"required_claims": 'Give a JSON object of claim -> glob, e.g. {"ref": "refs/heads/main"}.'}
        )
    if len(value) > MAX_REQUIRED_CLAIMS:
        raise ValidationError({"required_claims": f"At most {MAX_REQUIRED_CLAIMS} claims."})
    clean: dict[str, str] = {}
    for name, glob in value.items():
        if not isinstance(name, str) or not _CLAIM_NAME.match(name):
            raise ValidationError({"required_claims": f"{str(name)[:40]!r} is not a claim name."})
        if name in VERIFIER_CLAIMS:
            raise ValidationError(
                {
                    "required_claims": f"{name} is checked by the verifier itself; it cannot be a required claim."
                }
            )
        if name == "sub":
            raise ValidationError({"required_claims": "Put the sub glob in subject."})
        if not isinstance(glob, str) or not glob.strip() or len(glob) > 300:
            raise ValidationError({f"required_claims.{name}": "Give a glob of 1-300 characters."})
        clean[name] = glob.strip()
    return clean


def workload_identity_bind(
    *,
    agent: Agent,
    actor: User | None,
    issuer: str,
    audience: str,
    subject: str,
    required_claims: dict | None = None,
    jwks_url: str = "",
    enabled: bool = True,
) -> WorkloadIdentityBinding:
    """Let CI tokens from `issuer` whose sub and claims match the globs act as `agent`."""
    if agent.status == Agent.Status.RETIRED:
        raise ValidationError({"agent": f"{agent.name} is retired; it cannot get a workload identity."})
    issuer = _workload_url(issuer, "issuer", required=True)
    jwks_url = _workload_url(jwks_url, "jwks_url", required=False)
    audience = audience.strip() if isinstance(audience, str) else ""
    if not audience or len(audience) > 200:
        raise ValidationError(
            {"audience": "Give the audience (1-200 characters) the CI job requests its token for."}
        )
    subject = _glob(subject, "subject", "subject glob")
    claims = _required_claims(required_claims)
    tenant = agent.tenant
    with transaction.atomic():
        # Serialise binds of one (issuer, audience) across tenants so the check below cannot race.
        if connection.vendor == "postgresql":  # SQLite (the demo) serialises every write anyway
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"wid:{issuer}\n{audience}"])
        if (
            WorkloadIdentityBinding.objects.filter(issuer=issuer, audience=audience)
            .exclude(tenant=tenant)
            .exists()
        ):
            # Shared issuers (GitHub, GitLab.com) mint tokens for any audience a job asks for: a
            # tenant-specific audience keeps one tenant's bindings from ever matching another's jobs.
            raise ValidationError(
                {
                    "audience": f"This audience is already bound with {issuer} elsewhere; choose one unique to {tenant.name}."
                }
            )
        binding = WorkloadIdentityBinding.objects.create(
            tenant=tenant,
            agent=agent,
            issuer=issuer,
            audience=audience,
            jwks_url=jwks_url,
            subject=subject,
            required_claims=claims,
            enabled=bool(enabled),
            created_by=_actor(actor),
        )
        record_audit(
            tenant=tenant,
            actor=_actor(actor),
            action="registry.workload_identity.bind",
            obj=binding,
            object_repr=f"{binding.public_id} ({issuer} {subject}) for {agent.name}",
            after=model_snapshot(binding),
        )
    return binding


def workload_identity_set_enabled(
    *, binding: WorkloadIdentityBinding, actor: User | None, enabled: bool
) -> WorkloadIdentityBinding:
    with transaction.atomic():
        current = (
            WorkloadIdentityBinding.objects.select_for_update().select_related("agent").get(pk=binding.pk)
        )
        if current.enabled == enabled:
            return current
        before = model_snapshot(current)
        current.enabled = enabled
        current.updated_at = timezone.now()
        current.save(update_fields=["enabled", "updated_at"])
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action=f"registry.workload_identity.{'enable' if enabled else 'disable'}",
            obj=current,
            object_repr=f"{current.public_id} ({current.issuer} {current.subject}) for {current.agent.name}",
            before=before,
            after=model_snapshot(current),
        )
    return current


def workload_identity_unbind(*, binding: WorkloadIdentityBinding, actor: User | None) -> None:
    """Delete the binding; the next token that matched it is refused (nothing caches a match)."""
    with transaction.atomic():
        current = (
            WorkloadIdentityBinding.objects.select_for_update()
            .select_related("agent")
            .filter(pk=binding.pk)
            .first()
        )
        if current is None:
            return
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action="registry.workload_identity.unbind",
            obj=current,
            object_repr=f"{current.public_id} ({current.issuer} {current.subject}) for {current.agent.name}",
            before=model_snapshot(current),
        )
        current.delete()


# ---------------------------------------------------------------- MCP servers

_SERVER_FIELDS = (
    "server_id",
    "name",
    "publisher",
    "description",
    "transport",
    "url",
    "command",
    "trust_tier",
    "approval_state",
    "owner",
    "capabilities",
)


def _clean_server_fields(tenant: Tenant, changes: dict, *, server: McpServer | None) -> dict:
    unknown = sorted(set(changes) - set(_SERVER_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set."})
    clean: dict = {}
    if "server_id" in changes:
        server_id = str(changes["server_id"] or "").strip()
        _validate(SERVER_ID_VALIDATOR, server_id, "server_id")
        clash = McpServer.objects.filter(tenant=tenant, server_id=server_id)
        if server is not None:
            clash = clash.exclude(pk=server.pk)
        if clash.exists():
            raise ValidationError({"server_id": f"An MCP server {server_id!r} is already registered."})
        clean["server_id"] = server_id
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        if not name:
            raise ValidationError({"name": "A display name is required."})
        clean["name"] = name[:120]
    for key, limit in (("publisher", 120), ("description", 5000), ("command", 500)):
        if key in changes:
            clean[key] = str(changes[key] or "").strip()[:limit]
    if "url" in changes:
        url = str(changes["url"] or "").strip()
        if url:
            from django.core.validators import URLValidator

            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise ValidationError({"url": "Enter an http:// or https:// URL."})
        clean["url"] = url
    if "transport" in changes:
        clean["transport"] = _choice(
            changes["transport"], McpServer.Transport.choices, "transport", "transport"
        )
    if "trust_tier" in changes:
        clean["trust_tier"] = _choice(
            changes["trust_tier"], McpServer.TrustTier.choices, "trust_tier", "trust tier"
        )
    if "approval_state" in changes:
        clean["approval_state"] = _choice(
            changes["approval_state"], McpServer.ApprovalState.choices, "approval_state", "approval state"
        )
    if "owner" in changes:
        clean["owner"] = _member_or_none(tenant, changes["owner"], "owner")
    if "capabilities" in changes:
        caps = _string_list(changes["capabilities"], "capabilities")
        valid = CapabilityClass.values
        bad = [c for c in caps if c not in valid]
        if bad:
            raise ValidationError(
                {
                    "capabilities": f"Unknown capability class(es): {', '.join(bad)}. Valid: {', '.join(valid)}."
                }
            )
        clean["capabilities"] = [c for c in valid if c in caps]
    transport = clean.get("transport", server.transport if server else McpServer.Transport.STDIO)
    url = clean.get("url", server.url if server else "")
    command = clean.get("command", server.command if server else "")
    if transport == McpServer.Transport.STDIO and not command:
        raise ValidationError({"command": "A stdio server needs the command that starts it."})
    if transport in (McpServer.Transport.HTTP, McpServer.Transport.SSE) and not url:
        raise ValidationError({"url": f"A {transport} server needs its URL."})
    return clean


def mcp_server_create(
    *,
    tenant: Tenant,
    actor: User | None,
    server_id: str,
    name: str,
    transport: str = McpServer.Transport.STDIO,
    url: str = "",
    command: str = "",
    publisher: str = "",
    description: str = "",
    trust_tier: str = McpServer.TrustTier.EXPERIMENTAL,
    approval_state: str = McpServer.ApprovalState.PENDING,
    owner: User | None = None,
    capabilities=(),
) -> McpServer:
    fields = _clean_server_fields(
        tenant,
        {
            "server_id": server_id,
            "name": name,
            "transport": transport,
            "url": url,
            "command": command,
            "publisher": publisher,
            "description": description,
            "trust_tier": trust_tier,
            "approval_state": approval_state,
            "owner": owner,
            "capabilities": capabilities,
        },
        server=None,
    )
    try:
        with transaction.atomic():
            server = McpServer.objects.create(tenant=tenant, **fields)
            record_audit(
                tenant=tenant,
                actor=_actor(actor),
                action="registry.mcp_server.create",
                obj=server,
                after=model_snapshot(server),
            )
    except IntegrityError:
        raise ValidationError({"server_id": f"An MCP server {server_id!r} is already registered."})
    return server


def mcp_server_update(
    *, server: McpServer, actor: User | None, action: str = "update", **changes
) -> McpServer:
    fields = _clean_server_fields(server.tenant, changes, server=server)
    with transaction.atomic():
        current = McpServer.objects.select_for_update().get(pk=server.pk)
        before = model_snapshot(current)
        changed = [k for k, v in fields.items() if getattr(current, k) != v]
        if not changed:
            return current
        for key in changed:
            setattr(current, key, fields[key])
        current.updated_at = timezone.now()
        current.save(update_fields=[*changed, "updated_at"])
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action=f"registry.mcp_server.{action}",
            obj=current,
            before=before,
            after=model_snapshot(current),
        )
    return current


def mcp_server_approve(*, server: McpServer, actor: User | None, trust_tier: str | None = None) -> McpServer:
    """Approve a server; a blocked one comes back as `approved` unless a tier is given."""
    tier = trust_tier or (
        McpServer.TrustTier.APPROVED
        if server.trust_tier == McpServer.TrustTier.BLOCKED
        else server.trust_tier
    )
    return mcp_server_update(
        server=server,
        actor=actor,
        action="approve",
        approval_state=McpServer.ApprovalState.APPROVED,
        trust_tier=tier,
    )


def mcp_server_block(*, server: McpServer, actor: User | None) -> McpServer:
    return mcp_server_update(
        server=server, actor=actor, action="block", trust_tier=McpServer.TrustTier.BLOCKED
    )


# ---------------------------------------------------------------- MCP tools

_CLASS_HINTS = (
    (CapabilityClass.SHELL, ("shell", "exec", "command", "terminal", "bash", "run_")),
    (CapabilityClass.DATABASE, ("sql", "query", "database", "db_", "table")),
    (CapabilityClass.CLOUD, ("aws", "gcp", "azure", "s3", "bucket", "lambda", "k8s", "kube")),
    (CapabilityClass.REPOSITORY, ("git", "repo", "pull_request", "branch", "commit", "issue")),
    (CapabilityClass.FILESYSTEM, ("file", "directory", "read_", "write_", "path")),
    (CapabilityClass.NETWORK, ("http", "fetch", "url", "request", "browse", "web")),
)


def guess_capability_class(tool_name: str) -> str:
    """A first guess for a tool nobody has classified yet; the approving operator can correct it."""
    lowered = tool_name.lower()
    for klass, hints in _CLASS_HINTS:
        if any(h in lowered for h in hints):
            return klass
    return CapabilityClass.SAAS


def _clean_tool_payload(tool: str, description, input_schema) -> tuple[str, str, dict]:
    tool = str(tool or "").strip()
    _validate(TOOL_NAME_VALIDATOR, tool, "tool")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ValidationError({"description": "Give the tool's description as a string."})
    if len(description) > MAX_TOOL_DESCRIPTION:
        raise ValidationError({"description": f"At most {MAX_TOOL_DESCRIPTION} characters."})
    if input_schema is None:
        input_schema = {}
    if not isinstance(input_schema, dict):
        raise ValidationError({"input_schema": "Give the tool's input schema as a JSON object."})
    try:
        size = len(json.dumps(input_schema, allow_nan=False))
    except (TypeError, ValueError):
        raise ValidationError({"input_schema": "The input schema must be plain JSON (no NaN or Infinity)."})
    if size > MAX_TOOL_SCHEMA_BYTES:
        raise ValidationError({"input_schema": f"At most {MAX_TOOL_SCHEMA_BYTES} bytes of JSON."})
    return tool, description, input_schema


def mcp_tool_register(
    *,
    server: McpServer,
    actor: User | None,
    name: str,
    description: str = "",
    input_schema: dict | None = None,
    capability_class: str | None = None,
) -> McpTool:
    """An operator pre-approves a tool with the description and schema they have reviewed."""
    name, description, input_schema = _clean_tool_payload(name, description, input_schema)
    klass = _choice(
        capability_class or guess_capability_class(name),
        CapabilityClass.choices,
        "capability_class",
        "capability class",
    )
    digest = tool_digest(description=description, input_schema=input_schema)
    now = timezone.now()
    try:
        with transaction.atomic():
            tool = McpTool.objects.create(
                tenant=server.tenant,
                server=server,
                name=name,
                capability_class=klass,
                description=description,
                input_schema=input_schema,
                approved_digest=digest,
                observed_description=description,
                observed_input_schema=input_schema,
                observed_digest=digest,
                status=McpTool.Status.APPROVED,
                approved_at=now,
                approved_by=_actor(actor),
            )
            record_audit(
                tenant=server.tenant,
                actor=_actor(actor),
                action="registry.mcp_tool.register",
                obj=tool,
                object_repr=f"{server.server_id}:{name}",
                after={"capability_class": klass, "approved_digest": digest},
            )
    except IntegrityError:
        raise ValidationError({"name": f"{server.server_id} already has a tool named {name!r}."})
    return tool


def mcp_tool_observe(
    *,
    tenant: Tenant,
    server_id: str,
    tool: str,
    description: str,
    input_schema: dict,
    agent: Agent | None = None,
    capability_class: str | None = None,
) -> McpTool:
    """An agent reports what a tool says about itself. Unknown tool -> pending; a description or
    schema that differs from the approved one -> `changed` (a rug pull) until re-approved."""
    tool, description, input_schema = _clean_tool_payload(tool, description, input_schema)
    if capability_class is not None:
        capability_class = _choice(
            capability_class, CapabilityClass.choices, "capability_class", "capability class"
        )
    server = McpServer.objects.filter(tenant=tenant, server_id=str(server_id or "").strip()).first()
    if server is None:
        raise ValidationError(
            {
                "server_id": f"No MCP server {server_id!r} is registered in this tenant; an operator registers it first."
            }
        )
    digest = tool_digest(description=description, input_schema=input_schema)
    now = timezone.now()
    by = f" reported by agent {agent.name} ({agent.public_id})" if agent is not None else ""
    with transaction.atomic():
        existing = McpTool.objects.select_for_update().filter(server=server, name=tool).first()
        if existing is None:
            try:
                with transaction.atomic():
                    created = McpTool.objects.create(
                        tenant=tenant,
                        server=server,
                        name=tool,
                        capability_class=capability_class or guess_capability_class(tool),
                        observed_description=description,
                        observed_input_schema=input_schema,
                        observed_digest=digest,
                        status=McpTool.Status.PENDING,
                        last_observed_at=now,
                    )
            except IntegrityError:
                # Another agent reported the same new tool at the same moment: compare with theirs.
                existing = McpTool.objects.select_for_update().get(server=server, name=tool)
            else:
                record_audit(
                    tenant=tenant,
                    actor=None,
                    action="registry.mcp_tool.discover",
                    obj=created,
                    object_repr=f"{server.server_id}:{tool}{by}",
                    after={"status": created.status, "observed_digest": digest},
                )
                return created
        if existing.observed_digest == digest and existing.status != McpTool.Status.APPROVED:
            existing.last_observed_at = now
            existing.save(update_fields=["last_observed_at"])
            return existing
        if existing.status == McpTool.Status.APPROVED and digest == existing.approved_digest:
            # The common case on every session start: cheap, no audit row.
            if existing.observed_digest != digest:
                existing.observed_digest = digest
                existing.observed_description = description
                existing.observed_input_schema = input_schema
            existing.last_observed_at = now
            existing.save(
                update_fields=[
                    "observed_digest",
                    "observed_description",
                    "observed_input_schema",
                    "last_observed_at",
                ]
            )
            return existing
        before = {"status": existing.status, "observed_digest": existing.observed_digest}
        existing.observed_description = description
        existing.observed_input_schema = input_schema
        existing.observed_digest = digest
        existing.last_observed_at = now
        action = "registry.mcp_tool.observe"
        if existing.status == McpTool.Status.APPROVED:
            existing.status = McpTool.Status.CHANGED
            existing.changed_at = now
            action = "registry.mcp_tool.changed"
        # A changed tool stays changed even if it flips back: only a human clears a rug pull.
        existing.save(
            update_fields=[
                "observed_description",
                "observed_input_schema",
                "observed_digest",
                "last_observed_at",
                "status",
                "changed_at",
            ]
        )
        record_audit(
            tenant=tenant,
            actor=None,
            action=action,
            obj=existing,
            object_repr=f"{server.server_id}:{tool}{by}",
            before=before,
            after={
                "status": existing.status,
                "approved_digest": existing.approved_digest,
                "observed_digest": digest,
            },
        )
    return existing


def mcp_tool_approve(*, tool: McpTool, actor: User | None, capability_class: str | None = None) -> McpTool:
    """Approve what was last observed: its digest becomes the approved digest."""
    if capability_class is not None:
        capability_class = _choice(
            capability_class, CapabilityClass.choices, "capability_class", "capability class"
        )
    with transaction.atomic():
        current = McpTool.objects.select_for_update().select_related("server").get(pk=tool.pk)
        before = {
            "status": current.status,
            "approved_digest": current.approved_digest,
            "capability_class": current.capability_class,
        }
        if current.observed_digest:
            current.description = current.observed_description
            current.input_schema = current.observed_input_schema
            current.approved_digest = current.observed_digest
        else:
            current.approved_digest = tool_digest(
                description=current.description, input_schema=current.input_schema
            )
            current.observed_digest = current.approved_digest
        current.status = McpTool.Status.APPROVED
        current.approved_at = timezone.now()
        current.approved_by = _actor(actor)
        if capability_class:
            current.capability_class = capability_class
        current.save()
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action="registry.mcp_tool.approve",
            obj=current,
            object_repr=f"{current.server.server_id}:{current.name}",
            before=before,
            after={
                "status": current.status,
                "approved_digest": current.approved_digest,
                "capability_class": current.capability_class,
            },
        )
    return current

"""Workload identities: bind a CI provider's OIDC issuer and claims to an agent, enable, unbind."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core.audit import model_snapshot
from core.authz import authorize_actor
from registry.models import (
    Agent,
    WorkloadIdentityBinding,
)
from registry.services.common import _actor
from registry.workload_identity import VERIFIER_CLAIMS, url_problem
from tenants.audit import record_audit
from tenants.models import User

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
    authorize_actor(actor, agent.tenant, "registry.manage_agents")
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
    authorize_actor(actor, binding.tenant, "registry.manage_agents")
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
    authorize_actor(actor, binding.tenant, "registry.manage_agents")
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

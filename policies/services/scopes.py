"""Repositories and environments, the scopes rollouts apply to: registered, edited and removed, each audited.

Every change here can change which rollout applies where, so each one drops the decision path's
cached rollout lookups (tenant_policy_changed) in its own transaction.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from core.audit import model_snapshot
from core.authz import authorize_actor
from policies.models import Environment, Repository, Rollout
from tenants.audit import record_audit
from tenants.models import Membership, Tenant, User

PRODUCTION_NAMES = {"prod", "production", "prd", "live"}


def tenant_policy_changed(*, tenant: Tenant) -> None:
    """Invalidate every process's cached rollout lookups for this tenant (call inside the change's transaction)."""
    Tenant.objects.filter(pk=tenant.pk).update(policy_generation=F("policy_generation") + 1)


def repository_name_clean(name) -> str:
    name = str(name or "").strip()
    if not name or len(name) > 300 or any(c.isspace() for c in name):
        raise ValidationError(
            {"repository": "A repository name like 'acme/payments' is required (no spaces)."}
        )
    return name


def environment_name_clean(name) -> str:
    name = str(name or "").strip().lower()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise ValidationError({"environment": "An environment name like 'prod' is required (no spaces)."})
    return name


def _scope_ensure(model, *, tenant: Tenant, name: str, actor: User | None, action: str, **defaults):
    scope = model.objects.filter(tenant=tenant, name=name).first()
    if scope is None:
        with transaction.atomic():
            scope = model.objects.create(tenant=tenant, name=name, **defaults)
            record_audit(tenant=tenant, actor=actor, action=action, obj=scope, after={"name": name})
    return scope


def repository_ensure(*, tenant: Tenant, name: str, actor: User | None = None) -> Repository:
    """The tenant's repository of that name, registered on first use (a rollout or a decision names it)."""
    name = repository_name_clean(name)
    return _scope_ensure(Repository, tenant=tenant, name=name, actor=actor, action="repository.create")


def environment_ensure(*, tenant: Tenant, name: str, actor: User | None = None) -> Environment:
    name = environment_name_clean(name)
    return _scope_ensure(
        Environment,
        tenant=tenant,
        name=name,
        actor=actor,
        action="environment.create",
        is_production=name in PRODUCTION_NAMES,
    )


def _snapshot(scope) -> dict:
    data = model_snapshot(scope)
    if isinstance(scope, Repository):
        data["owners"] = sorted(scope.owners.values_list("email", flat=True))
    return data


def _save_scope(scope, *, actor: User | None, kind: str, owners=None):
    """Create or update `scope` (a Repository or Environment, its fields set), audited; a name clash is a 400."""
    authorize_actor(actor, scope.tenant, "policies.manage_rollouts")
    created = scope.pk is None
    with transaction.atomic():
        before = None if created else _snapshot(type(scope).objects.select_for_update().get(pk=scope.pk))
        try:
            with transaction.atomic():
                scope.save()
        except IntegrityError:
            raise ValidationError({"name": f"The tenant already has {kind} {scope.name!r}."})
        if owners is not None:
            scope.owners.set(owners)
        record_audit(
            tenant=scope.tenant,
            actor=actor,
            action=f"{kind}.{'create' if created else 'update'}",
            obj=scope,
            before=before,
            after=_snapshot(scope),
        )
        tenant_policy_changed(tenant=scope.tenant)
    return scope


def repository_save(
    *,
    tenant: Tenant,
    actor: User | None,
    repository: Repository | None = None,
    name: str,
    description: str = "",
    owners=(),
) -> Repository:
    """Register a repository, or edit one (name, description, owners: members who review its approvals)."""
    name = repository_name_clean(name)
    owners = list(owners)
    strangers = [u.email for u in owners if not Membership.objects.filter(tenant=tenant, user=u).exists()]
    if strangers:
        raise ValidationError({"owners": f"Not members of {tenant.name}: {', '.join(strangers)}."})
    repo = repository or Repository(tenant=tenant)
    if repo.tenant_id != tenant.pk:
        raise ValidationError({"repository": "No such repository in this tenant."})
    repo.name, repo.description = name, str(description or "").strip()[:300]
    return _save_scope(repo, actor=actor, kind="repository", owners=owners)


def environment_save(
    *,
    tenant: Tenant,
    actor: User | None,
    environment: Environment | None = None,
    name: str,
    is_production: bool = False,
) -> Environment:
    """Register an environment, or edit one (its name and whether it is production)."""
    env = environment or Environment(tenant=tenant)
    if env.tenant_id != tenant.pk:
        raise ValidationError({"environment": "No such environment in this tenant."})
    env.name, env.is_production = environment_name_clean(name), bool(is_production)
    return _save_scope(env, actor=actor, kind="environment")


def policy_scope_delete(*, scope: Repository | Environment, actor: User | None) -> None:
    """Remove a repository or environment no rollout applies to (one in use is refused, naming the rollouts)."""
    authorize_actor(actor, scope.tenant, "policies.manage_rollouts")
    kind = "repository" if isinstance(scope, Repository) else "environment"
    with transaction.atomic():
        in_use = list(
            Rollout.objects.filter(tenant=scope.tenant, **{kind: scope}).values_list("public_id", flat=True)
        )
        if in_use:
            raise ValidationError(
                {kind: f"{scope.name} is the scope of rollout(s) {', '.join(in_use)}; remove those first."}
            )
        record_audit(
            tenant=scope.tenant, actor=actor, action=f"{kind}.delete", obj=scope, before=_snapshot(scope)
        )
        scope.delete()
        tenant_policy_changed(tenant=scope.tenant)

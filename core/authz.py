"""The one authorization layer: capabilities granted through roles, asked the same way by every caller.

A capability names what a person may do (`approvals.review_queue`, `policies.publish`, ...). Roles
grant capabilities through ROLE_CAPABILITIES, the only role table in the code; roles themselves are
stored once, as guardian object permissions on the Tenant (`role_<name>`). Pages, the API, the
admin, services, tasks and the CLI all ask `can()` / `authorize()`, so they give the same answer.

An app may narrow a capability for one object (e.g. an approval is decided only by the role it was
routed to) by registering an object rule in its AppConfig.ready(); core never imports an app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from guardian.shortcuts import get_perms
from rest_framework.permissions import BasePermission

from core.roles import ALL_ROLES, Role, role_permission

R = Role

# Capability -> the roles that hold it. Reading down a column answers "what may this role do?".
CAPABILITY_ROLES: dict[str, frozenset[str]] = {
    # tenants
    "tenants.view": frozenset(ALL_ROLES),  # any member: home, own API tokens
    "tenants.manage_members": frozenset({R.TENANT_ADMIN}),
    "tenants.manage_tokens": frozenset({R.TENANT_ADMIN}),  # every member's personal tokens
    "tenants.manage_sso": frozenset({R.TENANT_ADMIN}),  # SSO provider, enforcement, group -> role mappings
    "tenants.view_audit": frozenset({R.TENANT_ADMIN, R.AUDITOR, R.COMPLIANCE_OFFICER}),
    "tenants.administer": frozenset({R.TENANT_ADMIN}),  # the Django admin, scoped to the tenant
    # evidence
    "evidence.view": frozenset({R.COMPLIANCE_OFFICER, R.AUDITOR, R.TENANT_ADMIN}),
    "evidence.export": frozenset({R.COMPLIANCE_OFFICER, R.AUDITOR, R.TENANT_ADMIN}),
    "evidence.manage_retention": frozenset({R.TENANT_ADMIN, R.COMPLIANCE_OFFICER}),
    "evidence.readiness": frozenset({R.TENANT_ADMIN}),  # the doctor page: platform and evidence checks
    # registry
    "registry.view": frozenset(
        {R.TENANT_ADMIN, R.OPERATOR, R.SECURITY_REVIEWER, R.EVALUATOR, R.COMPLIANCE_OFFICER, R.AUDITOR}
    ),
    "registry.manage_agents": frozenset({R.TENANT_ADMIN, R.OPERATOR}),
    "registry.manage_mcp": frozenset({R.TENANT_ADMIN, R.OPERATOR}),
    # approvals
    "approvals.view": frozenset({R.SECURITY_REVIEWER, R.TENANT_ADMIN, R.AUDITOR, R.COMPLIANCE_OFFICER}),
    "approvals.review_queue": frozenset({R.SECURITY_REVIEWER, R.TENANT_ADMIN}),
    "approvals.review": frozenset(ALL_ROLES),  # narrowed per request by the routed role (object rule)
    "approvals.cancel": frozenset({R.TENANT_ADMIN}),  # the agent's owner too (object rule)
    "approvals.break_glass": frozenset({R.TENANT_ADMIN}),  # grantees too (approvals.may_break_glass)
    "approvals.review_break_glass": frozenset({R.TENANT_ADMIN, R.COMPLIANCE_OFFICER, R.AUDITOR}),
    # who is told (e-mail): a request nobody can decide as routed, or left unanswered near expiry
    "approvals.receive_escalations": frozenset({R.TENANT_ADMIN}),
    "approvals.receive_break_glass": frozenset({R.TENANT_ADMIN, R.SECURITY_REVIEWER}),  # glass was broken
    # policies and decisions
    "policies.view": frozenset(
        {R.TENANT_ADMIN, R.SECURITY_REVIEWER, R.OPERATOR, R.EVALUATOR, R.COMPLIANCE_OFFICER, R.AUDITOR}
    ),
    "policies.view_activity": frozenset(
        {R.TENANT_ADMIN, R.SECURITY_REVIEWER, R.OPERATOR, R.EVALUATOR, R.COMPLIANCE_OFFICER, R.AUDITOR}
    ),
    "policies.publish": frozenset({R.TENANT_ADMIN, R.OPERATOR}),
    "policies.manage_rollouts": frozenset({R.TENANT_ADMIN, R.OPERATOR}),
    "policies.manage_signing": frozenset({R.TENANT_ADMIN}),  # rotate the policy-signing key
    # connectors (SIEM, webhook, ITSM, chat) and their outbox
    "connectors.view": frozenset({R.TENANT_ADMIN, R.AUDITOR}),
    "connectors.manage": frozenset({R.TENANT_ADMIN}),  # configure, test-send, retry dead letters
}

# The same table read the other way, for "which capabilities does this role carry?" (docs, pages).
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    role: frozenset(cap for cap, roles in CAPABILITY_ROLES.items() if role in roles) for role in ALL_ROLES
}

ObjectRule = Callable[..., bool]
_object_rules: dict[str, ObjectRule] = {}

_CACHE_ATTR = "_cavra_role_cache"


class UnknownCapability(LookupError):
    """A capability name that is not in the table: a programming error, never a silent deny."""


def register_capabilities(table: dict[str, Iterable[str]]) -> None:
    """A higher app adds its capabilities at start-up (its AppConfig.ready)."""
    for capability, roles in table.items():
        unknown = set(roles) - set(ALL_ROLES)
        if unknown:
            raise ValueError(f"{capability}: unknown role(s) {sorted(unknown)}")
        CAPABILITY_ROLES[capability] = frozenset(roles)
    for role in ALL_ROLES:
        ROLE_CAPABILITIES[role] = frozenset(c for c, rs in CAPABILITY_ROLES.items() if role in rs)


def register_object_rule(capability: str, rule: ObjectRule) -> None:
    """`rule(user=, tenant=, obj=, roles=)` decides for one object, given the user's roles."""
    _object_rules[capability] = rule


def roles_of(user, tenant) -> frozenset[str]:
    """The roles a user holds in a tenant, read from guardian grants; cached on the user object."""
    if tenant is None or user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cache = getattr(user, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(user, _CACHE_ATTR, cache)
    if tenant.pk not in cache:
        perms = set(get_perms(user, tenant))
        cache[tenant.pk] = frozenset(r for r in ALL_ROLES if role_permission(r) in perms)
    return cache[tenant.pk]


def forget_roles(user) -> None:
    """Drop the per-request role cache after grants change."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def capabilities_of(user, tenant) -> frozenset[str]:
    roles = roles_of(user, tenant)
    return frozenset().union(*(ROLE_CAPABILITIES[r] for r in roles)) if roles else frozenset()


def can(user, tenant, perm: str, obj=None) -> bool:
    """True when `user` may do `perm` in `tenant` (and on `obj`, when an object rule narrows it)."""
    if perm not in CAPABILITY_ROLES:
        raise UnknownCapability(perm)
    roles = roles_of(user, tenant)
    rule = _object_rules.get(perm) if obj is not None else None
    if rule is not None:
        return bool(rule(user=user, tenant=tenant, obj=obj, roles=roles))
    return bool(roles & CAPABILITY_ROLES[perm])


def authorize(user, tenant, perm: str, obj=None, *, message: str = "") -> None:
    """Raise PermissionDenied unless `can(user, tenant, perm, obj)`."""
    if not can(user, tenant, perm, obj):
        raise PermissionDenied(message or "Your role in this tenant does not allow this action.")


def authorize_actor(actor, tenant, perm: str, obj=None) -> None:
    """Services check who acts: a person must hold `perm` whichever door they came in by (page, API,
    admin, CLI). None is the system itself (tasks, seeding, SSO sync); an agent principal is checked
    by its own path (token scope, registry checks)."""
    if actor is None or getattr(actor, "is_agent", False):
        return
    authorize(actor, tenant, perm, obj)


def is_member(user, tenant) -> bool:
    """Holds any role in the tenant."""
    return bool(roles_of(user, tenant))


def get_for_tenant_or_404(queryset, tenant, **lookup):
    """Find and may-see in one: another tenant's object is exactly as absent as a missing one."""
    if tenant is None:
        raise Http404("No tenant selected.")
    missing = Http404(f"No {queryset.model._meta.verbose_name} matches the given query.")
    # No stored id holds a NUL: PostgreSQL refuses one even in a lookup, which would be a 500.
    if any(isinstance(value, str) and "\x00" in value for value in lookup.values()):
        raise missing
    try:
        return queryset.get(tenant=tenant, **lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise missing


class CapabilityRequiredMixin(AccessMixin):
    """Page views: login redirect when anonymous, 404 without a tenant, 403 without the capability.

    `required_capability = None` lets any member in (the view or its service decides further);
    `read_capability`, when set, is asked instead for GET and HEAD (readers may look, writers save).
    """

    required_capability: str | None = None
    read_capability: str | None = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            raise Http404("You are not a member of any tenant.")
        capability = self.required_capability
        if self.read_capability is not None and request.method in ("GET", "HEAD"):
            capability = self.read_capability
        allowed = (
            is_member(request.user, tenant) if capability is None else can(request.user, tenant, capability)
        )
        if not allowed:
            raise PermissionDenied("Your role in this tenant does not allow this page.")
        return super().dispatch(request, *args, **kwargs)


class HasCapability(BasePermission):
    """DRF: the user must hold the view's `required_capability` (`read_capability` for safe methods)
    in request.tenant; `None` means any member."""

    message = "Your role in this tenant does not allow this action."

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None) or getattr(request._request, "tenant", None)
        if tenant is None:
            return False
        capability = getattr(view, "required_capability", None)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            capability = getattr(view, "read_capability", capability)
        if capability is None:
            return is_member(request.user, tenant)
        return can(request.user, tenant, capability)

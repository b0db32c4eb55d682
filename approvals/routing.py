"""Routing: which rule governs a request, the default rules of a new tenant, and who may decide it."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.models import DEFAULT_TTL_SECONDS, ReviewerGroup, ReviewerRepositoryGrant, RoutingRule
from cavra_engine.policy.vocabulary import ACTIONS, SEVERITIES
from core.roles import Role
from tenants.models import Tenant


def max_ttl_seconds() -> int:
    """The longest TTL any rule may set (setting APPROVAL_MAX_TTL_SECONDS, default 24 h)."""
    return int(getattr(settings, "APPROVAL_MAX_TTL_SECONDS", 24 * 3600))


# The default set for a tenant that has none (created on first use). IAM/workflow files and production
# infrastructure get a second pair of eyes; MCP goes to AI governance; the rest to repository owners.
DEFAULT_RULES: list[dict] = [
    {
        "name": "IAM and CI workflow files",
        "match_target_contains": [
            ".github/workflows/",
            ".gitlab-ci",
            "iam",
            "codeowners",
            "policy.json",
            "roles/",
        ],
        "group": ReviewerGroup.PLATFORM_SECURITY,
        "quorum": 1,
    },
    {
        "name": "Production infrastructure",
        "match_environment": "prod*",
        "group": ReviewerGroup.CLOUD_SECURITY,
        "quorum": 1,
    },
    {
        "name": "MCP tool calls",
        "match_actions": ["mcp_tool_call"],
        "group": ReviewerGroup.AI_GOVERNANCE,
    },
    {
        "name": "Everything else: repository owners",
        "group": ReviewerGroup.REPOSITORY_OWNERS,
        "repository_limited": True,
    },
]


@dataclass(frozen=True)
class RouteFacts:
    rule_id: str
    action: str
    severity: str
    repository: str
    environment: str
    policy_pack: str
    target: str


def routing_rule_matches(rule: RoutingRule, facts: RouteFacts) -> bool:
    if rule.match_rule_id:
        pattern = rule.match_rule_id
        if pattern.endswith("*"):
            if not facts.rule_id.startswith(pattern[:-1]):
                return False
        elif facts.rule_id != pattern:
            return False
    if rule.match_actions and facts.action not in rule.match_actions:
        return False
    if rule.match_severities and facts.severity not in rule.match_severities:
        return False
    if rule.match_repository and not fnmatchcase(facts.repository, rule.match_repository):
        return False
    if rule.match_environment and not fnmatchcase(facts.environment.lower(), rule.match_environment.lower()):
        return False
    if rule.match_policy_pack and not fnmatchcase(facts.policy_pack, rule.match_policy_pack):
        return False
    if rule.match_target_contains:
        target = facts.target.lower()
        if not any(str(s).lower() in target for s in rule.match_target_contains if s):
            return False
    return True


# Namespace of the advisory lock that serialises the first use of routing per tenant.
_DEFAULTS_LOCK_CLASS = 0x43565241  # "CVRA"


def _lock_first_use(tenant: Tenant) -> None:
    """Serialise first use per tenant so two concurrent decisions do not both create the set.

    An advisory lock, not a row lock on the tenant: a decision holds the chain head and then, at
    COMMIT, checks its foreign key to the tenant row (FOR KEY SHARE). Locking that row FOR UPDATE here,
    before queueing on the chain head, was the reverse order and deadlocked (issue 17).
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_DEFAULTS_LOCK_CLASS, tenant.pk & 0x7FFFFFFF]
            )
    # SQLite (the demo default) serialises writers by itself.


def routing_rules_ensure_defaults(*, tenant: Tenant) -> list[RoutingRule]:
    """The tenant's enabled rules in order; a tenant with no rules at all gets the default set."""
    rules = list(RoutingRule.objects.filter(tenant=tenant, enabled=True).order_by("position", "id"))
    if rules or RoutingRule.objects.filter(tenant=tenant).exists():
        return rules
    with transaction.atomic():
        _lock_first_use(tenant)
        if not RoutingRule.objects.filter(tenant=tenant).exists():
            RoutingRule.objects.bulk_create(
                [
                    RoutingRule(tenant=tenant, position=(index + 1) * 10, **spec)
                    for index, spec in enumerate(DEFAULT_RULES)
                ]
            )
    return list(RoutingRule.objects.filter(tenant=tenant, enabled=True).order_by("position", "id"))


def route(*, tenant: Tenant, facts: RouteFacts) -> RoutingRule:
    """The first matching rule; with none matching, an unsaved strict fallback (security, quorum 1)."""
    for rule in routing_rules_ensure_defaults(tenant=tenant):
        if routing_rule_matches(rule, facts):
            return rule
    return RoutingRule(
        tenant=tenant,
        name="Fallback",
        group=ReviewerGroup.SECURITY,
        reviewer_role=Role.SECURITY_REVIEWER,
        ttl_seconds=DEFAULT_TTL_SECONDS,
    )


def routing_rule_validate(rule: RoutingRule) -> None:
    """Field checks a form, the admin and the API share; raises ValidationError naming the field."""
    errors: dict[str, str] = {}
    if not (1 <= rule.quorum <= 10):
        errors["quorum"] = "Quorum must be between 1 and 10 approvals."
    if not (60 <= rule.ttl_seconds <= max_ttl_seconds()):
        errors["ttl_seconds"] = f"TTL must be between 60 and {max_ttl_seconds()} seconds."
    bad_actions = [a for a in rule.match_actions or [] if a not in ACTIONS]
    if bad_actions:
        errors["match_actions"] = f"Unknown action(s): {', '.join(map(str, bad_actions))}."
    bad_sev = [s for s in rule.match_severities or [] if s not in SEVERITIES]
    if bad_sev:
        errors["match_severities"] = f"Unknown severity(ies): {', '.join(map(str, bad_sev))}."
    if not isinstance(rule.match_target_contains, list):
        errors["match_target_contains"] = "Give a list of substrings."
    if errors:
        raise ValidationError(errors)


def repository_grant_matches(globs: list[str], repository: str) -> bool:
    return bool(repository) and any(fnmatchcase(repository, g) for g in globs)


def user_repository_globs(*, tenant: Tenant, user) -> list[str]:
    return list(
        ReviewerRepositoryGrant.objects.filter(tenant=tenant, user=user).values_list(
            "repository_glob", flat=True
        )
    )

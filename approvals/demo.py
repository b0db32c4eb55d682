"""Idempotent demo approvals: default routing rules, reviewer repository grants, a few pending requests."""

from __future__ import annotations

import hashlib

from django.db import transaction

from approvals.models import ApprovalRequest
from approvals.routing import routing_rules_ensure_defaults
from approvals.services import approval_request_open, reviewer_repository_grant_add
from tenants.models import User

SAMPLES = [
    ("write_file", ".github/workflows/release.yml", "dev", "filesystem.write.require_approval", "high"),
    (
        "execute_command",
        "terraform apply -auto-approve",
        "production",
        "commands.default.require_approval",
        "critical",
    ),
    ("write_file", "src/billing/invoice.py", "dev", "filesystem.write.require_approval", "medium"),
]


@transaction.atomic
def seed(*, tenants, stdout=None) -> str:
    from registry.models import Agent

    opened = 0
    for slug, tenant in tenants.items():
        routing_rules_ensure_defaults(tenant=tenant)
        reviewer = User.objects.filter(email=f"security_reviewer@{slug}.test").first()
        if reviewer is not None:
            reviewer_repository_grant_add(tenant=tenant, user=reviewer, repository_glob=f"{slug}/*")
        agent = Agent.objects.filter(tenant=tenant).order_by("pk").first()
        if agent is None or ApprovalRequest.objects.filter(tenant=tenant).exists():
            continue
        for action, target, environment, rule_id, severity in SAMPLES:
            digest = hashlib.sha256(f"demo|{agent.public_id}|{action}|{target}".encode()).hexdigest()
            approval_request_open(
                tenant=tenant,
                agent=agent,
                action_digest=digest,
                action=action,
                target=target,
                repository=f"{slug}/web",
                environment=environment,
                rule_id=rule_id,
                severity=severity,
                reason="Demo request: the policy asks a human before this action.",
                policy_pack="demo",
                policy_digest="sha256:demo",
            )
            opened += 1
    return f"routing defaults and reviewer grants; {opened} pending requests opened"

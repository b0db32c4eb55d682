"""What each edition unlocks: the one table in the code (docs/entitlements.md shows the same, a test holds them equal).

In this pass the table is a notice: the status page shows it and the banner says when the licence does
not cover the installation. Nothing here is asked on the decision path; a licence never changes a decision.
"""

from __future__ import annotations

from dataclasses import dataclass


class Edition:
    COMMUNITY = "community"
    TRIAL = "trial"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"
    SAAS = "saas"


EDITIONS: tuple[str, ...] = (
    Edition.COMMUNITY,
    Edition.TRIAL,
    Edition.BUSINESS,
    Edition.ENTERPRISE,
    Edition.SAAS,
)

EDITION_LABELS: dict[str, str] = {
    Edition.COMMUNITY: "Community",
    Edition.TRIAL: "Trial",
    Edition.BUSINESS: "Business",
    Edition.ENTERPRISE: "Enterprise",
    Edition.SAAS: "SaaS",
}


@dataclass(frozen=True)
class Feature:
    key: str
    label: str
    editions: frozenset[str]


_ALL = frozenset(EDITIONS)
_PAID = frozenset({Edition.TRIAL, Edition.BUSINESS, Edition.ENTERPRISE, Edition.SAAS})
_LARGE = frozenset({Edition.TRIAL, Edition.ENTERPRISE, Edition.SAAS})

# Governance itself (deciding, approving, proving) is in every edition: a licence never weakens it.
FEATURES: tuple[Feature, ...] = (
    Feature("decisions", "Runtime decisions, policy packs, approvals, break-glass", _ALL),
    Feature("evidence", "Hash-chained evidence, signed tree heads, offline bundles", _ALL),
    Feature("mfa", "Multi-factor authentication (TOTP, WebAuthn, recovery codes)", _ALL),
    Feature("agents", "Agent adapters: Claude Code hook, MCP gateway, CI check, offline bundles", _ALL),
    Feature("sso", "Single sign-on (OIDC, SAML) with IdP group → role mappings", _PAID),
    Feature("aispm", "AI security posture: findings, control coverage, readiness packet", _PAID),
    Feature("reports", "Scheduled reports by e-mail (PDF, CSV/XLSX, signed manifests)", _PAID),
    Feature(
        "connectors", "Connectors: Splunk, Sentinel, Datadog, webhooks, ServiceNow, Jira, Slack, Teams", _PAID
    ),
    Feature("witnesses", "External witnesses and object-lock anchoring of signed tree heads", _LARGE),
    Feature("multi_tenant", "More than one tenant on one installation", _LARGE),
    Feature("high_availability", "Multi-node deployment: replicas, PgBouncer, RabbitMQ queues", _LARGE),
)

SUPPORT: dict[str, str] = {
    Edition.COMMUNITY: "community forum",
    Edition.TRIAL: "vendor e-mail, business hours",
    Edition.BUSINESS: "vendor e-mail, business hours",
    Edition.ENTERPRISE: "24×7, named contact",
    Edition.SAAS: "24×7, operated by the vendor",
}


def features_of(edition: str) -> list[Feature]:
    return [f for f in FEATURES if edition in f.editions]


def edition_matrix() -> list[dict]:
    """Rows for the status page and the docs test: feature, then one bool per edition in EDITIONS order."""
    return [
        {"key": f.key, "label": f.label, "editions": [e in f.editions for e in EDITIONS]} for f in FEATURES
    ]

"""The roles a member can hold in a tenant (shared enum), and the guardian permission on Tenant that carries each."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    TENANT_ADMIN = "tenant_admin", "Tenant admin"
    SECURITY_REVIEWER = "security_reviewer", "Security reviewer"
    OPERATOR = "operator", "Operator"
    EVALUATOR = "evaluator", "Evaluator"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
    AUDITOR = "auditor", "Auditor"
    EXECUTIVE = "executive", "Executive"
    REPORT_RECIPIENT = "report_recipient", "Report recipient"


ALL_ROLES: tuple[str, ...] = tuple(Role.values)


def role_permission(role: str) -> str:
    """The codename of the guardian object permission on Tenant that carries this role."""
    return f"role_{role}"


def role_permission_choices() -> list[tuple[str, str]]:
    return [(role_permission(value), f"Holds role {label}") for value, label in Role.choices]


def parse_roles(values) -> list[str]:
    """Validate role names, keeping a stable order; raise ValueError naming the unknown ones."""
    wanted = {str(v).strip() for v in values if str(v).strip()}
    unknown = sorted(wanted - set(ALL_ROLES))
    if unknown:
        raise ValueError(f"Unknown role(s): {', '.join(unknown)}. Valid roles: {', '.join(ALL_ROLES)}.")
    return [r for r in ALL_ROLES if r in wanted]

"""Grants that widen who may act: repository-scoped reviewer grants and break-glass grants."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.models import (
    BreakGlassGrant,
    ReviewerRepositoryGrant,
)
from evidence.services import evidence_append
from tenants.models import Tenant, User


def reviewer_repository_grant_add(
    *, tenant: Tenant, user: User, repository_glob: str, actor: User | None = None
) -> ReviewerRepositoryGrant:
    glob = (repository_glob or "").strip()
    if not glob:
        raise ValidationError({"repository_glob": "Give a repository or a glob such as acme/*."})
    with transaction.atomic():
        grant, _ = ReviewerRepositoryGrant.objects.get_or_create(
            tenant=tenant, user=user, repository_glob=glob
        )
        evidence_append(
            tenant=tenant,
            kind="approval.reviewer_grant_added",
            subject=f"user:{user.email}",
            payload={"user": user.email, "repository_glob": glob},
            actor=actor,
        )
    return grant


def break_glass_grant_add(*, tenant: Tenant, user: User, actor: User | None = None) -> BreakGlassGrant:
    with transaction.atomic():
        grant, _ = BreakGlassGrant.objects.get_or_create(
            tenant=tenant, user=user, defaults={"granted_by": actor}
        )
        evidence_append(
            tenant=tenant,
            kind="approval.break_glass_grant_added",
            subject=f"user:{user.email}",
            payload={"user": user.email},
            actor=actor,
        )
    return grant

"""The queryset every tenant-owned model gets: `.visible_to(user, perm, tenant=)`, scoped by core.authz."""

from __future__ import annotations

from django.db import models


class TenantScopedQuerySet(models.QuerySet):
    """`.visible_to(user, perm, tenant=)`: the tenant's rows when the user holds `perm` there, else none."""

    tenant_field = "tenant"

    def visible_to(self, user, perm: str, *, tenant):
        # Imported here: core.authz pulls in django.contrib.auth views, which need the models loaded.
        from core.authz import can

        if tenant is None or not can(user, tenant, perm):
            return self.none()
        return self.filter(**{self.tenant_field: tenant})

"""Admin for routing rules and grants (tenant admins edit them); requests are read-only."""

from django.contrib import admin

from approvals.models import (
    ApprovalRequest,
    BreakGlassGrant,
    BreakGlassReview,
    ReviewerRepositoryGrant,
    RoutingRule,
)
from approvals.routing import routing_rule_validate
from core.admin import ReadOnlyTenantScopedAdmin, TenantScopedAdmin


@admin.register(RoutingRule)
class RoutingRuleAdmin(TenantScopedAdmin):
    list_display = (
        "position",
        "name",
        "enabled",
        "group",
        "reviewer_role",
        "quorum",
        "ttl_seconds",
        "single_use",
    )
    list_editable = ("enabled",)
    ordering = ("tenant", "position")
    list_filter = ("tenant", "group", "enabled")

    def save_model(self, request, obj, form, change):
        routing_rule_validate(obj)  # the form already ran model validation; this adds the domain checks
        super().save_model(request, obj, form, change)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class Validated(form):
            def _post_clean(self):
                super()._post_clean()
                from django.core.exceptions import ValidationError

                try:
                    routing_rule_validate(self.instance)
                except ValidationError as exc:
                    self._update_errors(exc)

        return Validated


@admin.register(ReviewerRepositoryGrant)
class ReviewerRepositoryGrantAdmin(TenantScopedAdmin):
    list_display = ("user", "repository_glob", "created_at")
    list_filter = ("tenant",)


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(TenantScopedAdmin):
    list_display = ("user", "granted_by", "created_at")
    list_filter = ("tenant",)


_ReadOnly = ReadOnlyTenantScopedAdmin


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(_ReadOnly):
    list_display = ("public_id", "agent", "action", "severity", "status", "is_break_glass", "requested_at")
    list_filter = ("tenant", "status", "severity", "is_break_glass")
    search_fields = ("public_id", "target", "repository")


@admin.register(BreakGlassReview)
class BreakGlassReviewAdmin(_ReadOnly):
    list_display = ("request", "invoked_by", "status", "due_at")
    list_filter = ("tenant", "status")

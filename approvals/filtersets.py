"""Filters for approval lists (the history page), named after the query parameters they read."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from approvals.models import ApprovalRequest, effective_status_q
from core.filtersets import MomentFilter, SinceUntilForm


class ApprovalHistoryFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=ApprovalRequest.Status.choices,
        method="by_status",
        label="State",
        help_text="The state as it reads now",
    )
    reviewer = django_filters.CharFilter(
        field_name="reviews__reviewer__email", lookup_expr="iexact", distinct=True, label="Reviewer e-mail"
    )
    repository = django_filters.CharFilter(lookup_expr="icontains")
    agent = django_filters.CharFilter(method="by_agent", help_text="An agent's public id or name")
    since = MomentFilter(field_name="requested_at", lookup_expr="gte", label="From")
    until = MomentFilter(field_name="requested_at", lookup_expr="lte", end=True)

    class Meta:
        model = ApprovalRequest
        form = SinceUntilForm
        fields = ["status", "reviewer", "repository", "agent", "since", "until"]

    def by_status(self, queryset, name, value):
        # A request past its TTL reads expired before the beat task settles the stored state.
        return queryset.filter(effective_status_q(value, timezone.now()))

    def by_agent(self, queryset, name, value):
        return queryset.filter(Q(agent__public_id=value) | Q(agent__name__iexact=value))

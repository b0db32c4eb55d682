"""Filters for the evidence explorer, named after the query parameters they read."""

from __future__ import annotations

import django_filters

from core.filtersets import MOMENT_INPUT, MomentFilter, SinceUntilForm
from evidence.models import Decision, EvidenceRecord


class EvidenceRecordFilterSet(django_filters.FilterSet):
    kind = django_filters.CharFilter(method="by_kind", help_text="Exact kind, or a prefix ending in '.'")
    agent = django_filters.CharFilter(field_name="agent_ref")
    session = django_filters.CharFilter(field_name="session_ref")
    repository = django_filters.CharFilter()
    decision = django_filters.ChoiceFilter(choices=Decision.Verdict.choices, empty_label="Any")
    since = MomentFilter(field_name="created_at", lookup_expr="gte", widget=MOMENT_INPUT)
    until = MomentFilter(field_name="created_at", lookup_expr="lte", end=True, widget=MOMENT_INPUT)

    class Meta:
        model = EvidenceRecord
        form = SinceUntilForm
        fields = ["kind", "agent", "session", "repository", "decision", "since", "until"]

    def by_kind(self, queryset, name, value):
        return queryset.filter(kind__startswith=value) if value.endswith(".") else queryset.filter(kind=value)

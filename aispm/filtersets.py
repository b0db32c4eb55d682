"""Filters of the findings list, one FilterSet for the page and the API (named after the query parameters)."""

from __future__ import annotations

import django_filters

from aispm.models import SEVERITY_CHOICES, SURFACE_CHOICES, Finding
from core.api.filtersets import TextFilter

UNRESOLVED = "unresolved"


class FindingFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(UNRESOLVED, "Open or acknowledged"), *Finding.Status.choices],
        method="by_status",
        empty_label="Any",
        help_text="'unresolved' is open or acknowledged",
    )
    severity = django_filters.ChoiceFilter(choices=SEVERITY_CHOICES, empty_label="Any")
    surface = django_filters.ChoiceFilter(choices=SURFACE_CHOICES, empty_label="Any")
    check = TextFilter(field_name="check_id", max_length=80, help_text="A check id (agents.stale)")
    agent = TextFilter(field_name="agent_ref", max_length=64, help_text="Agent public id (agt_…)")
    repository = TextFilter()

    class Meta:
        model = Finding
        fields: list[str] = []

    def by_status(self, queryset, name, value):
        if value == UNRESOLVED:
            return queryset.filter(status__in=(Finding.Status.OPEN, Finding.Status.ACKNOWLEDGED))
        return queryset.filter(status=value)

"""Filters of the registry lists (agents, MCP servers), one FilterSet per list for the pages and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from core.api.filtersets import TextFilter
from registry.models import Agent, McpServer, RiskTier
from registry.profiles import PROFILES


class AgentFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Agent.Status.choices)
    profile = django_filters.ChoiceFilter(choices=[(key, key) for key in PROFILES])
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    owner = TextFilter(field_name="owner__email", lookup_expr="iexact", help_text="Owner's e-mail address")
    q = TextFilter(method="search", label="Search", help_text="Search in name and description")

    class Meta:
        model = Agent
        fields: list[str] = []

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class McpServerFilterSet(django_filters.FilterSet):
    trust_tier = django_filters.ChoiceFilter(choices=McpServer.TrustTier.choices)
    approval_state = django_filters.ChoiceFilter(choices=McpServer.ApprovalState.choices)
    q = TextFilter(method="search", label="Search", help_text="Search in server id, name and publisher")

    class Meta:
        model = McpServer
        fields: list[str] = []

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(server_id__icontains=value) | Q(name__icontains=value) | Q(publisher__icontains=value)
        )

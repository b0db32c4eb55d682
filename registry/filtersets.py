"""Filters for the registry lists (agents, MCP servers), named after the query parameters they read."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from registry.models import Agent, McpServer, RiskTier
from registry.profiles import PROFILE_CHOICES


class AgentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=Agent.Status.choices)
    profile = django_filters.ChoiceFilter(choices=PROFILE_CHOICES)
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    owner = django_filters.CharFilter(field_name="owner__email", lookup_expr="iexact")

    class Meta:
        model = Agent
        fields = ["q", "status", "profile", "risk_tier", "owner"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class McpServerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    trust_tier = django_filters.ChoiceFilter(choices=McpServer.TrustTier.choices)
    approval_state = django_filters.ChoiceFilter(choices=McpServer.ApprovalState.choices)

    class Meta:
        model = McpServer
        fields = ["q", "trust_tier", "approval_state"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(server_id__icontains=value) | Q(name__icontains=value) | Q(publisher__icontains=value)
        )

"""Filters for the activity lists (decisions, sessions), named after the query parameters they read."""

from __future__ import annotations

import django_filters
from django import forms

from cavra_engine.policy.vocabulary import SEVERITIES
from core.filtersets import MomentFilter, SinceUntilForm
from evidence.models import AgentSession, Decision

_MOMENT_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"})


class DecisionFilterSet(django_filters.FilterSet):
    agent = django_filters.CharFilter(field_name="agent_ref", max_length=64)
    repository = django_filters.CharFilter(max_length=300)
    environment = django_filters.CharFilter(max_length=100)
    decision = django_filters.ChoiceFilter(choices=Decision.Verdict.choices, empty_label="any")
    severity = django_filters.ChoiceFilter(choices=[(s, s) for s in SEVERITIES], empty_label="any")
    rule_id = django_filters.CharFilter(label="Rule", max_length=200)
    since = MomentFilter(field_name="created_at", lookup_expr="gte", widget=_MOMENT_INPUT)
    until = MomentFilter(field_name="created_at", lookup_expr="lte", end=True, widget=_MOMENT_INPUT)

    class Meta:
        model = Decision
        form = SinceUntilForm
        fields = ["agent", "repository", "environment", "decision", "severity", "rule_id", "since", "until"]


class SessionFilterSet(django_filters.FilterSet):
    agent = django_filters.CharFilter(field_name="agent_ref", max_length=64)
    repository = django_filters.CharFilter(max_length=300)
    environment = django_filters.CharFilter(max_length=100)

    class Meta:
        model = AgentSession
        fields = ["agent", "repository", "environment"]

"""Query parameters of the activity API (decisions, sessions), parsed by django-filter: a bad value is a 400 naming it."""

from __future__ import annotations

import django_filters

from approvals.models import Severity
from cavra_engine.policy.vocabulary import ACTIONS
from core.api.filtersets import SinceUntilFilterSet, TextFilter
from evidence.models import AgentSession, Decision


class DecisionFilterSet(SinceUntilFilterSet):
    agent = TextFilter(field_name="agent_ref", max_length=64, help_text="Agent public id (agt_…)")
    repository = TextFilter()
    environment = TextFilter(max_length=100)
    decision = django_filters.ChoiceFilter(choices=Decision.Verdict.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    rule_id = TextFilter(max_length=200)
    action = django_filters.ChoiceFilter(choices=[(a, a) for a in ACTIONS])
    session = TextFilter(
        field_name="session__public_id", max_length=40, help_text="Session public id (ses_…)"
    )

    class Meta:
        model = Decision
        fields: list[str] = []


class SessionFilterSet(django_filters.FilterSet):
    agent = TextFilter(field_name="agent_ref", max_length=64, help_text="Agent public id (agt_…)")
    repository = TextFilter()
    environment = TextFilter(max_length=100)

    class Meta:
        model = AgentSession
        fields: list[str] = []

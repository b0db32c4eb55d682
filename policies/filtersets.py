"""Filters of the activity lists (decisions, sessions), one FilterSet per list for the pages and the API.

The activity page reads its time window as the form shows it (a date, or a date and time, `until`
inclusive of its day); the API reads ISO 8601 times, `until` exclusive. That window is the one
difference, so the page's FilterSet is the API's with its own `since`/`until`.
"""

from __future__ import annotations

import django_filters

from approvals.models import Severity
from cavra_engine.policy.vocabulary import ACTIONS
from core.api.filtersets import SinceUntilFilterSet, TextFilter
from core.filtersets import MOMENT_INPUT, MomentFilter, SinceUntilForm
from evidence.models import AgentSession, Decision


class DecisionFilterSet(SinceUntilFilterSet):
    agent = TextFilter(field_name="agent_ref", max_length=64, help_text="Agent public id (agt_…)")
    repository = TextFilter()
    environment = TextFilter(max_length=100)
    decision = django_filters.ChoiceFilter(choices=Decision.Verdict.choices, empty_label="any")
    severity = django_filters.ChoiceFilter(choices=Severity.choices, empty_label="any")
    rule_id = TextFilter(max_length=200)
    action = django_filters.ChoiceFilter(choices=[(a, a) for a in ACTIONS])
    session = TextFilter(
        field_name="session__public_id", max_length=40, help_text="Session public id (ses_…)"
    )

    class Meta:
        model = Decision
        fields: list[str] = []


class DecisionPageFilterSet(DecisionFilterSet):
    """The activity page's form: the API's filters with a date-or-time window, less action and session."""

    action = None
    session = None
    rule_id = TextFilter(label="Rule", max_length=200)  # a label would become the API parameter's description
    since = MomentFilter(field_name="created_at", lookup_expr="gte", widget=MOMENT_INPUT)
    until = MomentFilter(field_name="created_at", lookup_expr="lte", end=True, widget=MOMENT_INPUT)

    class Meta(DecisionFilterSet.Meta):
        form = SinceUntilForm


class SessionFilterSet(django_filters.FilterSet):
    agent = TextFilter(field_name="agent_ref", max_length=64, help_text="Agent public id (agt_…)")
    repository = TextFilter()
    environment = TextFilter(max_length=100)

    class Meta:
        model = AgentSession
        fields: list[str] = []

"""Filters of the report archive and the schedules, one FilterSet per list for the pages and the API."""

from __future__ import annotations

import django_filters

from core.api.filtersets import SinceUntilFilterSet, TextFilter
from core.filtersets import MOMENT_INPUT, MomentFilter, SinceUntilForm
from reports.catalogue import REPORT_TYPE_CHOICES
from reports.models import ReportRun, ReportSchedule


class ReportRunFilterSet(SinceUntilFilterSet):
    report_type = django_filters.ChoiceFilter(choices=REPORT_TYPE_CHOICES, empty_label="Any")
    trigger = django_filters.ChoiceFilter(choices=ReportRun.Trigger.choices, empty_label="Any")
    schedule = TextFilter(field_name="schedule__public_id", max_length=40, help_text="Schedule public id")

    class Meta:
        model = ReportRun
        fields: list[str] = []


class ReportRunPageFilterSet(ReportRunFilterSet):
    """The archive page's form: the API's filters with a date-or-time window (`until` inclusive of its day)."""

    since = MomentFilter(field_name="created_at", lookup_expr="gte", widget=MOMENT_INPUT)
    until = MomentFilter(field_name="created_at", lookup_expr="lte", end=True, widget=MOMENT_INPUT)

    class Meta(ReportRunFilterSet.Meta):
        form = SinceUntilForm


class ScheduleFilterSet(django_filters.FilterSet):
    report_type = django_filters.ChoiceFilter(choices=REPORT_TYPE_CHOICES, empty_label="Any")
    paused = django_filters.BooleanFilter(help_text="true: paused schedules only; false: running ones")

    class Meta:
        model = ReportSchedule
        fields: list[str] = []

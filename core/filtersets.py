"""Shared pieces for the apps' django-filter FilterSets: bad values become a 400 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, time

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

# A time-window field in a filter form (the page's FilterSets; the API reads the same parameter as text).
MOMENT_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"})
MOMENT_HELP = "Use a date (2026-01-31) or a date and time (2026-01-31T12:00Z)."


def filtered(filterset: django_filters.FilterSet) -> tuple[QuerySet, dict[str, list[str]]]:
    """The filtered rows and no errors, or no rows and the errors by parameter name.

    A list page answers 400 with the errors shown beside the fields: a bad value never widens the
    list silently (django-filter alone would drop the field) and never becomes a 500."""
    if filterset.is_valid():
        return filterset.qs, {}
    return filterset.queryset.none(), {name: list(errors) for name, errors in filterset.errors.items()}


class MomentField(forms.Field):
    """A date or a date-time; a bare date means the start of that day (or its end, for `end=True`)."""

    def __init__(self, *, end: bool = False, **kwargs):
        self.end = end
        super().__init__(**kwargs)

    def to_python(self, value):
        value = (value or "").strip()
        if not value:
            return None
        try:
            # A bare date first: parse_datetime would read "2026-01-31" as midnight, and `until` that
            # day would then leave the day itself out.
            day = parse_date(value)
            moment = None if day else parse_datetime(value)
        except ValueError:  # well formed but impossible, e.g. 2026-02-30
            moment = day = None
        if moment is None:
            if day is None:
                raise forms.ValidationError(MOMENT_HELP, code="invalid")
            moment = datetime.combine(day, time.max if self.end else time.min)
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC)
        return moment


class MomentFilter(django_filters.Filter):
    field_class = MomentField


class SinceUntilForm(forms.Form):
    """Base form (FilterSet `Meta.form`) for lists with a `since`/`until` window: an empty window is an error."""

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            self.add_error("until", "Must be later than 'since'.")
        return data

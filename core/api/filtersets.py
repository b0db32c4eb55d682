"""The one way the API reads query parameters: a django-filter FilterSet per list endpoint, applied
by DjangoFilterBackend (REST_FRAMEWORK's DEFAULT_FILTER_BACKENDS). A value that does not parse (a
date that does not exist, an unknown choice, a number that is not one, an over-long string) is a 400
problem naming the parameter, never a 500; the OpenAPI schema lists the same parameters, with their
types and choices, generated from the FilterSet."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

# Text parameters are bounded: an over-long value cannot name anything here.
TEXT_MAX_LENGTH = 300


class TextFilter(django_filters.CharFilter):
    """An exact-match text parameter of bounded length (NUL is refused earlier, by core.middleware)."""

    def __init__(self, *args, max_length: int = TEXT_MAX_LENGTH, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, handed on in UTC. Python takes offsets up to ±23:59, PostgreSQL only up to
    ±15:59, so a time like `...T08:53:51-21:55` passed on with its own offset was a 500 (DataError);
    one that cannot be expressed in UTC at all (year 1 with a positive offset) is refused too."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class SinceUntilFilterSet(django_filters.FilterSet):
    """`since` (inclusive) and `until` (exclusive), ISO 8601 times on the model's `created_at`."""

    since = UtcIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="ISO 8601 time, inclusive (2026-11-01T00:00:00Z)",
    )
    until = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601 time, exclusive (2026-12-01T00:00:00Z)"
    )

"""The one way the API reads query parameters: a django-filter FilterSet per list endpoint, applied
by DjangoFilterBackend (REST_FRAMEWORK's DEFAULT_FILTER_BACKENDS). A value that does not parse (a
date that does not exist, an unknown choice, a number that is not one, an over-long string) is a 400
problem naming the parameter, never a 500; the OpenAPI schema lists the same parameters, with their
types and choices, generated from the FilterSet."""

from __future__ import annotations

import django_filters

# Text parameters are bounded: an over-long value cannot name anything here.
TEXT_MAX_LENGTH = 300


class TextFilter(django_filters.CharFilter):
    """An exact-match text parameter of bounded length (NUL is refused earlier, by core.middleware)."""

    def __init__(self, *args, max_length: int = TEXT_MAX_LENGTH, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)


class SinceUntilFilterSet(django_filters.FilterSet):
    """`since` (inclusive) and `until` (exclusive), ISO 8601 times on the model's `created_at`."""

    since = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="ISO 8601 time, inclusive (2026-11-01T00:00:00Z)",
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601 time, exclusive (2026-12-01T00:00:00Z)"
    )

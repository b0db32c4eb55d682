"""Filters of the connectors list, one FilterSet for the page and the API."""

from __future__ import annotations

import django_filters

from connectors.models import Connector


class ConnectorFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Connector.Kind.choices, empty_label="Any")
    enabled = django_filters.BooleanFilter(help_text="true: enabled connectors only; false: switched off")

    class Meta:
        model = Connector
        fields: list[str] = []

"""The one table component of the portal's lists (django-tables2): sortable headers that swap the table
region through htmx and keep the filters in the URL, human labels, times in the reader's zone, and a CSV
export of exactly the rows the page shows (same selector, same filters, same permission), formula-safe."""

from __future__ import annotations

import django_tables2 as tables
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django_tables2.export import TableExport

from core.spreadsheet import formula_safe
from core.timezones import reader_time

SORT_PARAMETER = "sort"
# An export is built in memory: past this many rows the portal asks for narrower filters instead.
EXPORT_LIMIT = 10_000


def human_label(value) -> str:
    """'require_approval' -> 'Require approval', 'read-only' -> 'Read only'; other values as text."""
    text = str(value).replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


class LabelColumn(tables.Column):
    """A slug or snake_case value without choices on its field, shown (and exported) as words."""

    def render(self, value):
        return human_label(value)

    def value(self, value):
        return human_label(value)


class MomentColumn(tables.Column):
    """A time in the active (reader's) zone; the exact moment with its zone and UTC on hover and in the CSV."""

    def __init__(self, *args, empty: str = "never", **kwargs):
        kwargs.setdefault("default", empty)
        super().__init__(*args, **kwargs)

    def render(self, value):
        local = timezone.localtime(value)
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            value.isoformat(),
            reader_time(value),
            f"{local:%Y-%m-%d %H:%M}",
        )

    def value(self, value):
        return reader_time(value) if value else ""


class PortalTable(tables.Table):
    """Base of every list table. `region` is the id of the element an htmx sort replaces (the view answers an
    htmx GET with that partial); `export_url` the list's CSV address (the page's query string is appended);
    `filter_form` the id of the list's filter form, which then submits the current sort with the filters."""

    class Meta:
        template_name = "core/table.html"
        attrs = {"class": "table"}
        order_by_field = SORT_PARAMETER
        empty_text = "Nothing matches."

    def __init__(
        self, data, *, region: str, export_url: str | None = None, filter_form: str | None = None, **kwargs
    ):
        self.region = region
        self.export_url = export_url
        self.filter_form = filter_form
        super().__init__(data, **kwargs)

    def as_values(self, exclude_columns=None):
        # Every cell a spreadsheet opens passes through the one formula guard (core.spreadsheet).
        for row in super().as_values(exclude_columns=exclude_columns):
            yield [formula_safe(value) for value in row]


def configured(table: PortalTable, request, *, per_page: int | None = None) -> PortalTable:
    """Apply `?sort=` (and `?page=` when `per_page`) from the request: a column that does not exist or
    cannot sort is ignored, a page out of range is the last one; never a 500. An export passes no
    `per_page`: it holds every filtered row, in the page's order."""
    paginate = {"per_page": per_page, "silent": True} if per_page else False
    tables.RequestConfig(request, paginate=paginate).configure(table)
    return table


def csv_response(table: PortalTable, filename: str) -> HttpResponse:
    if len(table.rows) > EXPORT_LIMIT:
        return HttpResponse(
            f"More than {EXPORT_LIMIT:,} rows match: narrow the filters and export again.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    response = TableExport(TableExport.CSV, table).response(filename=filename)
    response["Cache-Control"] = "no-store"
    return response

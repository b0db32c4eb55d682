"""The one table component of the portal's lists (django-tables2): sortable headers that swap the table
region through htmx and keep the filters in the URL, human labels, times in the reader's zone, and a CSV
export of exactly the rows the page shows (same selector, same filters, same permission), formula-safe."""

from __future__ import annotations

from datetime import timedelta

import django_tables2 as tables
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django_tables2.export import TableExport

from core.spreadsheet import formula_safe
from core.timezones import reader_time

SORT_PARAMETER = "sort"
# An export is built in memory: past this many rows the portal asks for narrower filters instead.
EXPORT_LIMIT = 10_000
RELATIVE_WITHIN = timedelta(days=7)


def relative(moment) -> str:
    """'5 minutes ago' within the last week; older (or future) moments as the reader's local date and time."""
    age = timezone.now() - moment
    if timedelta(0) <= age < RELATIVE_WITHIN:
        return "just now" if age < timedelta(minutes=1) else f"{timesince(moment, depth=1)} ago"
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


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


class CodeColumn(tables.Column):
    """An identifier, a path or a command shown as code (cut to `chars` on the page), exported whole."""

    def __init__(self, *args, chars: int | None = None, **kwargs):
        self.chars = chars
        super().__init__(*args, **kwargs)

    def render(self, value):
        text = str(value)
        if self.chars and len(text) > self.chars:
            return format_html('<code title="{}">{}…</code>', text, text[: self.chars])
        return format_html("<code>{}</code>", text)

    def value(self, value):
        return value


class BadgeColumn(tables.Column):
    """A state or a severity as a badge styled by its stored value, shown and exported as its label."""

    def __init__(self, *args, label=human_label, **kwargs):
        self.label = label  # for values without choices on their field
        super().__init__(*args, **kwargs)

    def render(self, value, record, bound_column):
        raw = bound_column.accessor.resolve(record)
        return format_html('<span class="badge badge-{}">{}</span>', raw, self._words(raw, value))

    def value(self, value, record, bound_column):
        return self._words(bound_column.accessor.resolve(record), value)

    def _words(self, raw, value):
        return self.label(raw) if value == raw else value  # `value` is the choice's label when it has one


class MomentColumn(tables.Column):
    """A time in the active (reader's) zone; the exact moment with its zone and UTC on hover and in the CSV."""

    def __init__(self, *args, empty: str = "never", **kwargs):
        kwargs.setdefault("default", empty)
        super().__init__(*args, **kwargs)

    def render(self, value):
        return format_html(
            '<time datetime="{}" title="{}">{}</time>', value.isoformat(), reader_time(value), relative(value)
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

    @property
    def caption(self) -> str:
        return getattr(self.Meta, "caption", "")

    def as_values(self, exclude_columns=None):
        # Every cell a spreadsheet opens passes through the one formula guard (core.spreadsheet).
        for row in super().as_values(exclude_columns=exclude_columns):
            yield [formula_safe(value) for value in row]


def list_meta(model, *, testid: str, row: str, empty: str, key: str = "public_id", caption: str = "") -> type:
    """The Meta of a list table: its model (no automatic columns), `data-testid` on the table, each row's
    `data-<row>` attribute holding the record's `key`, the sentence shown when nothing matches, and the
    table's caption for screen readers (the model's plural name unless given)."""
    return type(
        "Meta",
        (PortalTable.Meta,),
        {
            "model": model,
            "fields": (),
            "attrs": {**PortalTable.Meta.attrs, "data-testid": testid},
            "row_attrs": {f"data-{row}": lambda record: getattr(record, key)},
            "empty_text": empty,
            "caption": caption or str(model._meta.verbose_name_plural).capitalize(),
        },
    )


def configured(
    table: PortalTable, request, *, per_page: int | None = None, paginator_class=None
) -> PortalTable:
    """Apply `?sort=` (and `?page=` when `per_page`) from the request: a column that does not exist or
    cannot sort is ignored, a page out of range is the last one; never a 500. An export passes no
    `per_page`: it holds every filtered row, in the page's order."""
    paginate = {"per_page": per_page, "silent": True} if per_page else False
    if paginate and paginator_class:
        paginate["paginator_class"] = paginator_class
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

"""The one list page of the portal: a FilterSet over a tenant-scoped selector, a `core.tables` table, and
the same list as CSV (`as_view(export=True)`): same selector, filters, sort and capability, so an export
never holds a row the page would not show. An htmx GET (a filter, a sort, a page) gets only the table
region; a bad filter is a 400 naming the parameter (never a widened list, never a 500)."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from core.authz import CapabilityRequiredMixin
from core.filtersets import filtered
from core.tables import PortalTable, configured, csv_response
from core.timezones import request_timezone

PAGE_SIZE = 50


class TableListView(CapabilityRequiredMixin, View):
    filterset_class: type
    table_class: type[PortalTable]
    template: str
    region = "results"  # the partial of `template` an htmx GET gets, and the id of its element
    filter_form: str | None = None  # the id of the filter form (core/filter_form.html)
    export_url_name: str | None = None
    export_filename = ""  # after the tenant's slug: "<slug>-<export_filename>.csv"
    per_page: int | None = PAGE_SIZE
    paginator_class = None  # django_tables2's LazyPaginator where counting every row would be slow
    export = False

    def get_queryset(self, request):
        """The tenant-scoped selector's rows, before the filters."""
        raise NotImplementedError

    def rows(self, queryset):
        """Annotations the table needs, after the filters."""
        return queryset

    def extra_context(self, request, table) -> dict:
        return {}

    def export_url(self) -> str | None:
        return reverse(self.export_url_name, kwargs=self.kwargs) if self.export_url_name else None

    def table(self, request):
        filterset = self.filterset_class(request.GET, queryset=self.get_queryset(request))
        rows, filter_errors = filtered(filterset)
        table = self.table_class(
            self.rows(rows), region=self.region, export_url=self.export_url(), filter_form=self.filter_form
        )
        configured(
            table,
            request,
            per_page=None if self.export else self.per_page,
            paginator_class=self.paginator_class,
        )
        return table, filterset, filter_errors

    def get(self, request, *args, **kwargs):
        table, filterset, filter_errors = self.table(request)
        return self.respond(request, table, filterset.form, filter_errors)

    def respond(self, request, table, filters_form, filter_errors, *, status: int = 200, **context):
        with timezone.override(request_timezone(request)):
            if self.export and not filter_errors:
                return csv_response(table, filename=f"{request.tenant.slug}-{self.export_filename}.csv")
            context = {
                "table": table,
                "filters_form": filters_form,
                "filter_errors": filter_errors,
                **self.extra_context(request, table),
                **context,
            }
            htmx_get = request.htmx and request.method == "GET"
            template = f"{self.template}#{self.region}" if htmx_get else self.template
            return render(request, template, context, status=400 if filter_errors else status)

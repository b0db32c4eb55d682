"""Connector pages: the list with health badges, create/edit, detail with test-send and the outbox."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views import View

from connectors import selectors
from connectors.filtersets import ConnectorFilterSet
from connectors.forms import ConnectorForm
from connectors.selectors import MANAGE, VIEW
from connectors.services import (
    connector_create,
    connector_delete,
    connector_message_retry,
    connector_test_send,
    connector_update,
)
from connectors.tables import ConnectorTable
from core.authz import CapabilityRequiredMixin, can
from core.outbox import MAX_ATTEMPTS
from core.table_views import TableListView
from tenants.forms import apply_service_errors

MESSAGES_SHOWN = 50


def _connector(request, public_id):
    return selectors.connector_get(tenant=request.tenant, user=request.user, public_id=public_id)


def _detail_context(request, connector):
    return {
        "connector": connector,
        "messages_list": list(selectors.connector_messages(connector=connector)[:MESSAGES_SHOWN]),
        "counts": selectors.message_counts(connector=connector),
        "max_attempts": MAX_ATTEMPTS,
        "can_manage": can(request.user, request.tenant, MANAGE),
    }


def _status(request, connector, status=200):
    """htmx gets the #status fragment; a plain POST goes back to the page."""
    if request.htmx:
        connector.refresh_from_db()
        return render(
            request, "connectors/detail.html#status", _detail_context(request, connector), status=status
        )
    return redirect("connectors:detail", public_id=connector.public_id)


class ConnectorListView(TableListView):
    """Connectors filtered (the API's FilterSet) and sorted; the same rows as CSV with `export=True`."""

    required_capability = VIEW
    filterset_class, table_class = ConnectorFilterSet, ConnectorTable
    template, filter_form = "connectors/list.html", "connector-filters"
    export_url_name, export_filename = "connectors:export", "connectors"

    def get_queryset(self, request):
        return selectors.connector_list(tenant=request.tenant, user=request.user)

    def extra_context(self, request, table) -> dict:
        return {"can_manage": can(request.user, request.tenant, MANAGE)}


class ConnectorCreateView(CapabilityRequiredMixin, View):
    required_capability = MANAGE

    def get(self, request):
        return render(request, "connectors/form.html", {"form": ConnectorForm()})

    def post(self, request):
        form = ConnectorForm(request.POST)
        if form.is_valid():
            try:
                connector = connector_create(
                    tenant=request.tenant,
                    actor=request.user,
                    values=form.values(),
                    secret=form.cleaned_data["secret"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Connector {connector.name} saved. Press “Send test” to try it.")
                return redirect("connectors:detail", public_id=connector.public_id)
        return render(request, "connectors/form.html", {"form": form}, status=400)


class ConnectorEditView(CapabilityRequiredMixin, View):
    required_capability = MANAGE

    def get(self, request, public_id):
        connector = _connector(request, public_id)
        return render(
            request,
            "connectors/form.html",
            {"form": ConnectorForm(connector=connector), "connector": connector},
        )

    def post(self, request, public_id):
        connector = _connector(request, public_id)
        form = ConnectorForm(request.POST, connector=connector)
        if form.is_valid():
            try:
                connector_update(
                    connector=connector,
                    actor=request.user,
                    values=form.values(),
                    secret=form.cleaned_data["secret"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Connector saved.")
                return redirect("connectors:detail", public_id=connector.public_id)
        return render(request, "connectors/form.html", {"form": form, "connector": connector}, status=400)


class ConnectorDetailView(CapabilityRequiredMixin, View):
    required_capability = VIEW

    def get(self, request, public_id):
        connector = _connector(request, public_id)
        template = "connectors/detail.html#status" if request.htmx else "connectors/detail.html"
        return render(request, template, _detail_context(request, connector))


class ConnectorTestView(CapabilityRequiredMixin, View):
    required_capability = MANAGE

    def post(self, request, public_id):
        connector = _connector(request, public_id)
        connector_test_send(connector=connector, actor=request.user)
        return _status(request, connector)


class ConnectorMessageRetryView(CapabilityRequiredMixin, View):
    required_capability = MANAGE

    def post(self, request, public_id, message_id: int):
        connector = _connector(request, public_id)
        message = selectors.connector_message_get(connector=connector, message_id=message_id)
        try:
            connector_message_retry(connector=connector, message=message, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return _status(request, connector, status=400)
        return _status(request, connector)


class ConnectorDeleteView(CapabilityRequiredMixin, View):
    required_capability = MANAGE

    def post(self, request, public_id):
        connector = _connector(request, public_id)
        connector_delete(connector=connector, actor=request.user)
        messages.success(request, f"Connector {connector.name} deleted.")
        return redirect("connectors:list")

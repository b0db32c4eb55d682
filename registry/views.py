"""Registry pages: agents with their credentials, MCP servers with their tools (htmx where it helps)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.views import View

from core.authz import CapabilityRequiredMixin
from core.table_views import TableListView
from registry import selectors, services
from registry.filtersets import AgentFilterSet, McpServerFilterSet
from registry.forms import AgentForm, AgentStatusForm, CredentialIssueForm, McpServerForm
from registry.models import Agent, McpServer, RiskTier
from registry.profiles import PROFILE_CHOICES, PROFILES
from registry.selectors import can_write_registry
from registry.tables import AgentTable, McpServerTable
from tenants.forms import apply_service_errors


class RegistryPageMixin(CapabilityRequiredMixin):
    """Readers may GET; only who holds `write_capability` may POST."""

    write_capability = "registry.manage_agents"

    @property
    def required_capability(self):
        return "registry.view" if self.request.method in ("GET", "HEAD") else self.write_capability


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response


class RegistryListView(RegistryPageMixin, TableListView):
    """A registry list (core.table_views) with the register form, declared by the subclass: an invalid
    form is a 422 with the list around it. `as_view(export=True)` is the same list as CSV."""

    list_selector = None  # selectors.<x>_list(tenant=, user=)
    per_page = None  # every agent and server on one page

    def form(self, data=None):
        raise NotImplementedError

    def create(self, request, data):
        """Call the service; return the redirect to the new row."""
        raise NotImplementedError

    def choices(self) -> dict:
        return {}

    def get_queryset(self, request):
        return self.list_selector(tenant=request.tenant, user=request.user)

    def extra_context(self, request, table) -> dict:
        return {
            "filters": request.GET,
            "form": self.form(),
            "can_write": can_write_registry(request.user, request.tenant),
            **self.choices(),
        }

    def post(self, request):
        if self.export:
            return self.http_method_not_allowed(request)
        form = self.form(request.POST)
        if form.is_valid():
            try:
                return self.create(request, form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
        table, filterset, filter_errors = self.table(request)
        return self.respond(request, table, filterset.form, filter_errors, status=422, form=form)


# ---------------------------------------------------------------- agents


class AgentsView(RegistryListView):
    filterset_class = AgentFilterSet
    list_selector = staticmethod(selectors.agent_list)
    table_class, export_url_name = AgentTable, "registry:agents-export"
    template, region, filter_form = "registry/agents.html", "agents-table", "agents-filters"
    export_filename = "agents"

    def form(self, data=None):
        return AgentForm(data, tenant=self.request.tenant)

    def create(self, request, data):
        agent = services.agent_create(tenant=request.tenant, actor=request.user, **data)
        messages.success(request, f"Agent {agent.name} registered. Issue it a token below.")
        return redirect("registry:agent", agent_id=agent.public_id)

    def rows(self, queryset):
        return queryset.annotate(
            active_credentials=Count("credentials", filter=Q(credentials__revoked_at__isnull=True))
        )

    def choices(self) -> dict:
        return {
            "status_choices": Agent.Status.choices,
            "profile_choices": PROFILE_CHOICES,
            "risk_choices": RiskTier.choices,
        }


def _agent_context(request, agent, **extra) -> dict:
    return {
        "agent": agent,
        "profile": PROFILES.get(agent.profile),
        "credentials": selectors.agent_credentials(agent=agent),
        "can_write": can_write_registry(request.user, request.tenant),
        "status_form": AgentStatusForm(initial={"status": agent.status}),
        "issue_form": CredentialIssueForm(),
        "status_choices": Agent.Status.choices,
        **extra,
    }


class AgentDetailView(RegistryPageMixin, View):
    def get(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        return render(request, "registry/agent_detail.html", _agent_context(request, agent))


class AgentEditView(RegistryPageMixin, View):
    required_capability = "registry.manage_agents"  # GET too: the form is for who may change it

    def get(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        form = AgentForm(
            tenant=request.tenant,
            initial={
                "name": agent.name,
                "description": agent.description,
                "profile": agent.profile,
                "owner": agent.owner_id,
                "risk_tier": agent.risk_tier,
                "allowed_repositories": "\n".join(agent.allowed_repositories),
                "allowed_actions": agent.allowed_actions,
                "allowed_mcp_tools": "\n".join(agent.allowed_mcp_tools),
            },
        )
        return render(request, "registry/agent_edit.html", {"agent": agent, "form": form})

    def post(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        form = AgentForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                services.agent_update(agent=agent, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Agent {form.cleaned_data['name']} saved.")
                return redirect("registry:agent", agent_id=agent.public_id)
        return render(request, "registry/agent_edit.html", {"agent": agent, "form": form}, status=422)


class AgentStatusView(RegistryPageMixin, View):
    required_capability = "registry.manage_agents"  # GET too: the form is for who may change it

    def post(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        form = AgentStatusForm(request.POST)
        error = None
        if form.is_valid():
            try:
                agent = services.agent_set_status(
                    agent=agent, actor=request.user, status=form.cleaned_data["status"]
                )
            except ValidationError as exc:
                error = "; ".join(exc.messages)
        else:
            error = "Choose active, suspended or retired."
        if error is None:
            if request.htmx:
                return render(
                    request, "registry/agent_detail.html#agent-status", _agent_context(request, agent)
                )
            messages.success(request, f"Agent {agent.name} is now {agent.get_status_display().lower()}.")
            return redirect("registry:agent", agent_id=agent.public_id)
        context = _agent_context(request, agent, status_error=error)
        template = "registry/agent_detail.html#agent-status" if request.htmx else "registry/agent_detail.html"
        return render(request, template, context, status=422)


class AgentCredentialIssueView(RegistryPageMixin, View):
    """Shows the new token in the response itself: it is never stored, so it cannot be shown later."""

    required_capability = "registry.manage_agents"  # GET too: the form is for who may change it

    def post(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        form = CredentialIssueForm(request.POST)
        extra: dict = {}
        status = 200
        if form.is_valid():
            try:
                credential, token = services.agent_credential_issue(
                    agent=agent,
                    actor=request.user,
                    expires_at=form.cleaned_data["expires_at"],
                    label=form.cleaned_data["label"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
                status = 422
            else:
                extra = {"new_token": token, "new_credential": credential}
        else:
            status = 422
        context = _agent_context(request, agent, **extra)
        if status != 200:
            context["issue_form"] = form
        template = "registry/agent_detail.html#credentials" if request.htmx else "registry/agent_detail.html"
        return _no_store(render(request, template, context, status=status))


class AgentCredentialRevokeView(RegistryPageMixin, View):
    required_capability = "registry.manage_agents"  # GET too: the form is for who may change it

    def post(self, request, agent_id: str, credential_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        credential = selectors.agent_credential_get(agent=agent, public_id=credential_id)
        services.agent_credential_revoke(credential=credential, actor=request.user)
        if request.htmx:
            return render(request, "registry/agent_detail.html#credentials", _agent_context(request, agent))
        messages.success(request, f"Token {credential.prefix}… revoked; it stops working immediately.")
        return redirect("registry:agent", agent_id=agent.public_id)


# ---------------------------------------------------------------- MCP servers


class McpServersView(RegistryListView):
    write_capability = "registry.manage_mcp"
    filterset_class = McpServerFilterSet
    list_selector = staticmethod(selectors.mcp_server_list)
    table_class, export_url_name = McpServerTable, "registry:mcp-servers-export"
    template, region, filter_form = "registry/mcp_servers.html", "servers-table", "servers-filters"
    export_filename = "mcp-servers"

    def form(self, data=None):
        return McpServerForm(data)

    def create(self, request, data):
        server = services.mcp_server_create(
            tenant=request.tenant, actor=request.user, owner=request.user, **data
        )
        messages.success(request, f"MCP server {server.server_id} registered (approval pending).")
        return redirect("registry:mcp-server", server_id=server.public_id)

    def choices(self) -> dict:
        return {
            "tier_choices": McpServer.TrustTier.choices,
            "approval_choices": McpServer.ApprovalState.choices,
        }


def _server_context(request, server, **extra) -> dict:
    return {
        "server": server,
        "tools": selectors.mcp_server_tools(server=server),
        "can_write": can_write_registry(request.user, request.tenant),
        "tier_choices": McpServer.TrustTier.choices,
        **extra,
    }


class McpServerDetailView(RegistryPageMixin, View):
    write_capability = "registry.manage_mcp"

    def get(self, request, server_id: str):
        server = selectors.mcp_server_get(tenant=request.tenant, user=request.user, public_id=server_id)
        return render(request, "registry/mcp_server_detail.html", _server_context(request, server))


class McpServerApproveView(RegistryPageMixin, View):
    required_capability = "registry.manage_mcp"  # GET too: the form is for who may change it

    def post(self, request, server_id: str):
        server = selectors.mcp_server_get(tenant=request.tenant, user=request.user, public_id=server_id)
        tier = request.POST.get("trust_tier") or None
        try:
            server = services.mcp_server_approve(server=server, actor=request.user, trust_tier=tier)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(
                request, f"MCP server {server.server_id} approved ({server.get_trust_tier_display()})."
            )
        return self._respond(request, server)

    def _respond(self, request, server):
        if request.htmx:
            server = selectors.mcp_server_get(
                tenant=request.tenant, user=request.user, public_id=server.public_id
            )
            return render(
                request, "registry/mcp_server_detail.html#server-state", _server_context(request, server)
            )
        return redirect("registry:mcp-server", server_id=server.public_id)


class McpServerBlockView(McpServerApproveView):
    def post(self, request, server_id: str):
        server = selectors.mcp_server_get(tenant=request.tenant, user=request.user, public_id=server_id)
        server = services.mcp_server_block(server=server, actor=request.user)
        messages.success(request, f"MCP server {server.server_id} blocked: every call to it is refused.")
        return self._respond(request, server)


class McpToolApproveView(RegistryPageMixin, View):
    required_capability = "registry.manage_mcp"  # GET too: the form is for who may change it

    def post(self, request, server_id: str, tool_id: str):
        server = selectors.mcp_server_get(tenant=request.tenant, user=request.user, public_id=server_id)
        tool = selectors.mcp_tool_get(
            tenant=request.tenant, user=request.user, server=server, public_id=tool_id
        )
        error = None
        try:
            tool = services.mcp_tool_approve(
                tool=tool, actor=request.user, capability_class=request.POST.get("capability_class") or None
            )
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        if request.htmx:
            context = _server_context(request, server, t=tool, row_error=error)
            return render(
                request, "registry/mcp_server_detail.html#tool-row", context, status=422 if error else 200
            )
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Tool {server.server_id}:{tool.name} approved.")
        return redirect("registry:mcp-server", server_id=server.public_id)

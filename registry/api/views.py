"""Registry API: agents and their credentials, MCP servers, and tool observations from agents."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.problems import ERRORS
from core.authz import HasCapability
from registry import selectors, services
from registry.api.serializers import (
    AgentDetailSerializer,
    AgentSerializer,
    AgentWriteSerializer,
    CredentialIssueSerializer,
    CredentialSerializer,
    IssuedCredentialSerializer,
    McpServerDetailSerializer,
    McpServerSerializer,
    McpServerWriteSerializer,
    McpToolObservationSerializer,
    McpToolObserveSerializer,
    WorkloadIdentityBindSerializer,
    WorkloadIdentitySerializer,
)
from registry.authentication import AGENT_OR_SESSION_AUTHENTICATION, request_agent
from registry.filtersets import AgentFilterSet, McpServerFilterSet
from registry.models import Agent, McpServer, McpTool
from tenants.models import User


class RegistryPermission(BasePermission):
    """People: `read_capability` for reads, `required_capability` for writes. Agent tokens: only the methods a
    view lists in `agent_methods`, and on objects only reads (their own record, via the queryset)."""

    message = "Your role in this tenant does not allow this action."

    def has_permission(self, request, view) -> bool:
        if request_agent(request) is not None:
            return request.method in getattr(view, "agent_methods", ())
        return HasCapability().has_permission(request, view)

    def has_object_permission(self, request, view, obj) -> bool:
        if request_agent(request) is None:
            return True
        return request.method in SAFE_METHODS


class RegistryAPIView(APIView):
    authentication_classes = AGENT_OR_SESSION_AUTHENTICATION
    permission_classes = [IsAuthenticated, RegistryPermission]
    required_capability = "registry.manage_agents"
    read_capability = "registry.view"
    agent_methods: tuple[str, ...] = ()


def _owner(tenant, email):
    """An e-mail from the API -> the member it names (service checks membership)."""
    if email in (None, ""):
        return None
    user = User.objects.filter(email__iexact=email, memberships__tenant=tenant).first()
    if user is None:
        raise ValidationError({"owner": f"{email} is not a member of {tenant.name}."})
    return user


# ---------------------------------------------------------------- agents


class AgentListView(RegistryAPIView, generics.ListAPIView):
    serializer_class = AgentSerializer
    agent_methods = ("GET",)

    filterset_class = AgentFilterSet
    queryset = Agent.objects.none()  # the model, for the schema; get_queryset scopes the rows

    def get_queryset(self):
        return selectors.agent_list(tenant=self.request.tenant, user=self.request.user)

    @extend_schema(
        summary="List agents",
        description="Readers see every agent of the tenant; an agent token sees only itself.",
        responses={200: AgentSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Register an agent",
        request=AgentWriteSerializer,
        responses={201: AgentDetailSerializer, **ERRORS},
    )
    def post(self, request):
        serializer = AgentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("status", None)
        data["owner"] = _owner(request.tenant, data.get("owner"))
        agent = services.agent_create(tenant=request.tenant, actor=request.user, **data)
        return Response(AgentDetailSerializer(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(RegistryAPIView):
    agent_methods = ("GET", "PATCH")

    def get_object(self) -> Agent:
        agent = selectors.agent_get(
            tenant=self.request.tenant, user=self.request.user, public_id=self.kwargs["agent_id"]
        )
        self.check_object_permissions(self.request, agent)
        return agent

    @extend_schema(
        summary="One agent, with its credentials (prefixes only)",
        responses={200: AgentDetailSerializer, **ERRORS},
    )
    def get(self, request, agent_id: str):
        return Response(AgentDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary="Change an agent (profile, status, owner, allowed repositories/actions/tools, risk tier)",
        request=AgentWriteSerializer(partial=True),
        responses={200: AgentDetailSerializer, **ERRORS},
    )
    def patch(self, request, agent_id: str):
        agent = self.get_object()
        serializer = AgentWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "owner" in data:
            data["owner"] = _owner(request.tenant, data["owner"])
        agent = services.agent_update(agent=agent, actor=request.user, **data)
        return Response(AgentDetailSerializer(agent).data)


class AgentCredentialIssueView(RegistryAPIView):
    agent_methods = ("POST",)  # reaches the lookup so another tenant's agent is a 404, then 403

    @extend_schema(
        summary="Issue a token for an agent (the token is in this response only)",
        request=CredentialIssueSerializer,
        responses={201: IssuedCredentialSerializer, **ERRORS},
    )
    def post(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        self.check_object_permissions(request, agent)
        serializer = CredentialIssueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credential, token = services.agent_credential_issue(
            agent=agent, actor=request.user, **serializer.validated_data
        )
        data = dict(CredentialSerializer(credential).data, token=token)
        return Response(data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class AgentCredentialRevokeView(RegistryAPIView):
    agent_methods = ("POST",)

    @extend_schema(
        summary="Revoke a token; the next request that uses it is refused",
        request=None,
        responses={200: CredentialSerializer, **ERRORS},
    )
    def post(self, request, agent_id: str, credential_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        credential = selectors.agent_credential_get(agent=agent, public_id=credential_id)
        self.check_object_permissions(request, credential)
        credential = services.agent_credential_revoke(credential=credential, actor=request.user)
        return Response(CredentialSerializer(credential).data)


# ---------------------------------------------------------------- workload identities


class AgentWorkloadIdentityListView(RegistryAPIView):
    agent_methods = ()  # an agent never sees or changes its own bindings

    @extend_schema(
        summary="An agent's workload identities (CI OIDC tokens that may act as the agent)",
        responses={200: WorkloadIdentitySerializer(many=True), **ERRORS},
    )
    def get(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        bindings = selectors.workload_identity_list(agent=agent)
        return Response(WorkloadIdentitySerializer(bindings, many=True).data)

    @extend_schema(
        summary="Bind a CI provider's OIDC identity (issuer, audience, subject and claim globs) to an agent",
        description=(
            "CI jobs whose OIDC token comes from `issuer`, lists `audience`, and whose `sub` and claims match "
            "the globs may then call the API as this agent with that token. The audience must be unique to "
            "this tenant for the issuer."
        ),
        request=WorkloadIdentityBindSerializer,
        responses={201: WorkloadIdentitySerializer, **ERRORS},
    )
    def post(self, request, agent_id: str):
        agent = selectors.agent_get(tenant=request.tenant, user=request.user, public_id=agent_id)
        serializer = WorkloadIdentityBindSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        binding = services.workload_identity_bind(
            agent=agent, actor=request.user, **serializer.validated_data
        )
        return Response(WorkloadIdentitySerializer(binding).data, status=status.HTTP_201_CREATED)


class AgentWorkloadIdentityDetailView(RegistryAPIView):
    agent_methods = ()

    def get_object(self):
        agent = selectors.agent_get(
            tenant=self.request.tenant, user=self.request.user, public_id=self.kwargs["agent_id"]
        )
        return selectors.workload_identity_get(agent=agent, public_id=self.kwargs["binding_id"])

    @extend_schema(summary="One workload identity", responses={200: WorkloadIdentitySerializer, **ERRORS})
    def get(self, request, agent_id: str, binding_id: str):
        return Response(WorkloadIdentitySerializer(self.get_object()).data)

    @extend_schema(
        summary="Unbind: the next token that matched this binding is refused",
        request=None,
        responses={204: None, **ERRORS},
    )
    def delete(self, request, agent_id: str, binding_id: str):
        services.workload_identity_unbind(binding=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- MCP servers


class McpServerListView(RegistryAPIView, generics.ListAPIView):
    required_capability = "registry.manage_mcp"
    serializer_class = McpServerSerializer
    agent_methods = ("GET",)

    filterset_class = McpServerFilterSet
    queryset = McpServer.objects.none()  # the model, for the schema; get_queryset scopes the rows

    def get_queryset(self):
        return selectors.mcp_server_list(tenant=self.request.tenant, user=self.request.user)

    @extend_schema(
        summary="List MCP servers",
        responses={200: McpServerSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Register an MCP server",
        request=McpServerWriteSerializer,
        responses={201: McpServerDetailSerializer, **ERRORS},
    )
    def post(self, request):
        serializer = McpServerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["owner"] = _owner(request.tenant, data.get("owner"))
        server = services.mcp_server_create(tenant=request.tenant, actor=request.user, **data)
        return Response(McpServerDetailSerializer(server).data, status=status.HTTP_201_CREATED)


class McpServerDetailView(RegistryAPIView):
    required_capability = "registry.manage_mcp"
    agent_methods = ("GET",)

    @extend_schema(
        summary="One MCP server with its tools", responses={200: McpServerDetailSerializer, **ERRORS}
    )
    def get(self, request, server_id: str):
        server = selectors.mcp_server_get(tenant=request.tenant, user=request.user, public_id=server_id)
        return Response(McpServerDetailSerializer(server).data)


class McpToolObserveView(RegistryAPIView):
    required_capability = "registry.manage_mcp"
    agent_methods = ("POST",)

    @extend_schema(
        summary="Report what an MCP tool says about itself (rug-pull detection)",
        description=(
            "Agents call this when they list a server's tools. A tool never seen before is recorded as "
            "pending; a description or input schema that differs from the approved one marks the tool "
            "`changed`, and calls to it then need approval until an operator re-approves it."
        ),
        request=McpToolObserveSerializer,
        responses={200: McpToolObservationSerializer, **ERRORS},
    )
    def post(self, request):
        serializer = McpToolObserveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tool = services.mcp_tool_observe(
            tenant=request.tenant,
            server_id=data["server_id"],
            tool=data["tool"],
            description=data["description"],
            input_schema=data["input_schema"],
            agent=request_agent(request),
            capability_class=data.get("capability_class"),
        )
        body = {
            "server_id": data["server_id"],
            "tool": tool,
            "changed": tool.status == McpTool.Status.CHANGED,
        }
        return Response(McpToolObservationSerializer(body).data)

from django.urls import path

from registry.api import views

urlpatterns = [
    path("agents", views.AgentListView.as_view(), name="agents"),
    path("agents/<str:agent_id>", views.AgentDetailView.as_view(), name="agent"),
    path(
        "agents/<str:agent_id>/credentials",
        views.AgentCredentialIssueView.as_view(),
        name="agent-credentials",
    ),
    path(
        "agents/<str:agent_id>/credentials/<str:credential_id>/revoke",
        views.AgentCredentialRevokeView.as_view(),
        name="agent-credential-revoke",
    ),
    path(
        "agents/<str:agent_id>/workload-identities",
        views.AgentWorkloadIdentityListView.as_view(),
        name="agent-workload-identities",
    ),
    path(
        "agents/<str:agent_id>/workload-identities/<str:binding_id>",
        views.AgentWorkloadIdentityDetailView.as_view(),
        name="agent-workload-identity",
    ),
    path("mcp-servers", views.McpServerListView.as_view(), name="mcp-servers"),
    path("mcp-servers/<str:server_id>", views.McpServerDetailView.as_view(), name="mcp-server"),
    path("mcp-tools/observe", views.McpToolObserveView.as_view(), name="mcp-tool-observe"),
]

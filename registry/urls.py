from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("agents/", views.AgentsView.as_view(), name="agents"),
    path("agents/export.csv", views.AgentsView.as_view(export=True), name="agents-export"),
    path("agents/<str:agent_id>/", views.AgentDetailView.as_view(), name="agent"),
    path("agents/<str:agent_id>/edit/", views.AgentEditView.as_view(), name="agent-edit"),
    path("agents/<str:agent_id>/status/", views.AgentStatusView.as_view(), name="agent-status"),
    path(
        "agents/<str:agent_id>/credentials/",
        views.AgentCredentialIssueView.as_view(),
        name="agent-credentials",
    ),
    path(
        "agents/<str:agent_id>/credentials/<str:credential_id>/revoke/",
        views.AgentCredentialRevokeView.as_view(),
        name="credential-revoke",
    ),
    path("mcp-servers/", views.McpServersView.as_view(), name="mcp-servers"),
    path("mcp-servers/export.csv", views.McpServersView.as_view(export=True), name="mcp-servers-export"),
    path("mcp-servers/<str:server_id>/", views.McpServerDetailView.as_view(), name="mcp-server"),
    path(
        "mcp-servers/<str:server_id>/approve/",
        views.McpServerApproveView.as_view(),
        name="mcp-server-approve",
    ),
    path("mcp-servers/<str:server_id>/block/", views.McpServerBlockView.as_view(), name="mcp-server-block"),
    path(
        "mcp-servers/<str:server_id>/tools/<str:tool_id>/approve/",
        views.McpToolApproveView.as_view(),
        name="mcp-tool-approve",
    ),
]

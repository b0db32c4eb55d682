from django.urls import path

from policies.api import governance, views

urlpatterns = [
    path("decisions", views.DecisionListCreateView.as_view(), name="decisions"),
    path("decisions/<str:decision_id>", views.DecisionDetailView.as_view(), name="decision"),
    path("sessions", views.SessionListCreateView.as_view(), name="sessions"),
    path("sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session"),
    path("health", views.HealthView.as_view(), name="health"),
    path("policy-packs", governance.PolicyPackCatalogView.as_view(), name="policy-packs"),
    path(
        "policy-packs/<str:pack>/drafts",
        governance.PolicyDraftCreateView.as_view(),
        name="policy-draft-create",
    ),
    path("policy-drafts/<str:draft_id>", governance.PolicyDraftDetailView.as_view(), name="policy-draft"),
    path(
        "policy-drafts/<str:draft_id>/publish-plan",
        governance.PublishPlanView.as_view(),
        name="policy-publish-plan",
    ),
    path(
        "policy-drafts/<str:draft_id>/publish-request",
        governance.PublishRequestView.as_view(),
        name="policy-publish-request",
    ),
    path(
        "policy-drafts/<str:draft_id>/replay",
        governance.DraftReplayView.as_view(),
        name="policy-draft-replay",
    ),
    path("replays/<str:replay_id>", governance.ReplayDetailView.as_view(), name="replay"),
    path(
        "policy-versions/<str:version_id>/signature",
        governance.VersionSignatureView.as_view(),
        name="policy-signature",
    ),
    path("policy-trust-root", governance.PolicyTrustRootView.as_view(), name="policy-trust-root"),
    path(
        "policy-rollouts/change-plan", governance.RolloutChangePlanView.as_view(), name="rollout-change-plan"
    ),
    path(
        "policy-rollouts/apply-change",
        governance.RolloutApplyChangeView.as_view(),
        name="rollout-apply-change",
    ),
    path(
        "policy-rollouts/audit-results",
        governance.AuditResultsAPIView.as_view(),
        name="rollout-audit-results",
    ),
]

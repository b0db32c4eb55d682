from django.urls import path

from policies import change_views, views

app_name = "policies"

urlpatterns = [
    path("", views.PoliciesView.as_view(), name="index"),
    path("upload/", views.PackUploadView.as_view(), name="upload"),
    path("install/", views.BundledInstallView.as_view(), name="install"),
    path("rollouts/", views.RolloutSetView.as_view(), name="rollout-set"),
    path("rollouts/<str:public_id>/remove/", views.RolloutRemoveView.as_view(), name="rollout-remove"),
    path("versions/<str:public_id>/", views.VersionDetailView.as_view(), name="version"),
    path("sandbox/", views.SandboxView.as_view(), name="sandbox"),
    path(
        "versions/<str:public_id>/policy.yaml",
        change_views.VersionSourceView.as_view(),
        name="version-source",
    ),
    path(
        "versions/<str:public_id>/policy.yaml.sig.json",
        change_views.VersionSignatureDownloadView.as_view(),
        name="version-signature",
    ),
    path("drafts/", change_views.DraftListView.as_view(), name="drafts"),
    path("drafts/new/", change_views.DraftCreateView.as_view(), name="draft-create"),
    path("drafts/<str:public_id>/", change_views.DraftEditorView.as_view(), name="draft"),
    path("drafts/<str:public_id>/plan/", change_views.DraftPlanView.as_view(), name="draft-plan"),
    path("plans/<str:public_id>/", change_views.PlanView.as_view(), name="plan"),
    path("plans/<str:public_id>/request/", change_views.PlanRequestView.as_view(), name="plan-request"),
    path("replays/<str:public_id>/", change_views.ReplayView.as_view(), name="replay"),
    path(
        "replays/<str:public_id>/changed.csv", change_views.ReplayExportView.as_view(), name="replay-export"
    ),
    path("rollout-plans/<str:public_id>/", change_views.RolloutPlanView.as_view(), name="rollout-plan"),
    path(
        "rollout-plans/<str:public_id>/apply/",
        change_views.RolloutPlanApplyView.as_view(),
        name="rollout-plan-apply",
    ),
    path(
        "rollout-plans/<str:public_id>/rollback/",
        change_views.RolloutPlanRollbackView.as_view(),
        name="rollout-plan-rollback",
    ),
    path("audit-results/", change_views.AuditResultsView.as_view(), name="audit-results"),
    path("canaries/", change_views.CanariesView.as_view(), name="canaries"),
    path("signing-key/", change_views.SigningKeyView.as_view(), name="signing"),
    path("signing-key/rotate/", change_views.SigningKeyRotateView.as_view(), name="signing-rotate"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
    path("activity/export.csv", views.ActivityView.as_view(export=True), name="activity-export"),
    path("activity/decisions/<str:public_id>/", views.DecisionDetailPage.as_view(), name="decision"),
    path("activity/sessions/", views.SessionsView.as_view(), name="sessions"),
    path("activity/sessions/export.csv", views.SessionsView.as_view(export=True), name="sessions-export"),
    path("activity/sessions/<str:public_id>/", views.SessionDetailPage.as_view(), name="session"),
]

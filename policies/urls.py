from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    path("", views.PoliciesView.as_view(), name="index"),
    path("upload/", views.PackUploadView.as_view(), name="upload"),
    path("install/", views.BundledInstallView.as_view(), name="install"),
    path("rollouts/", views.RolloutSetView.as_view(), name="rollout-set"),
    path("rollouts/<str:public_id>/remove/", views.RolloutRemoveView.as_view(), name="rollout-remove"),
    path("versions/<str:public_id>/", views.VersionDetailView.as_view(), name="version"),
    path("sandbox/", views.SandboxView.as_view(), name="sandbox"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
    path("activity/decisions/<str:public_id>/", views.DecisionDetailPage.as_view(), name="decision"),
    path("activity/sessions/", views.SessionsView.as_view(), name="sessions"),
    path("activity/sessions/<str:public_id>/", views.SessionDetailPage.as_view(), name="session"),
]

from django.urls import path

from policies.api import views

urlpatterns = [
    path("decisions", views.DecisionListCreateView.as_view(), name="decisions"),
    path("decisions/<str:decision_id>", views.DecisionDetailView.as_view(), name="decision"),
    path("decisions/<str:decision_id>/outcome", views.DecisionOutcomeView.as_view(), name="decision-outcome"),
    path("sessions", views.SessionListCreateView.as_view(), name="sessions"),
    path("sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session"),
    path("policy-bundles/<str:scope>", views.PolicyBundleView.as_view(), name="policy-bundle"),
    path("offline-decisions", views.OfflineDecisionSyncView.as_view(), name="offline-decisions"),
    path("health", views.HealthView.as_view(), name="health"),
]

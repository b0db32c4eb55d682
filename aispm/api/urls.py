from django.urls import path

from aispm.api import views

urlpatterns = [
    path("aispm/posture", views.PostureView.as_view(), name="posture"),
    path("aispm/findings", views.FindingListView.as_view(), name="findings"),
    path("aispm/findings/<str:finding_id>", views.FindingDetailView.as_view(), name="finding"),
    path(
        "aispm/findings/<str:finding_id>/transitions",
        views.FindingTransitionView.as_view(),
        name="finding-transitions",
    ),
    path("aispm/timeline", views.TimelineView.as_view(), name="timeline"),
    path("aispm/control-coverage", views.ControlCoverageView.as_view(), name="control-coverage"),
    path("aispm/near-misses", views.NearMissesView.as_view(), name="near-misses"),
    path("aispm/readiness", views.ReadinessView.as_view(), name="readiness"),
]

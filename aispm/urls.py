from django.urls import path

from aispm import views

app_name = "aispm"

urlpatterns = [
    path("", views.OverviewView.as_view(), name="overview"),
    path("trend.csv", views.TrendCsvView.as_view(), name="trend-csv"),
    path("score/", views.ScoreView.as_view(), name="score"),
    path("findings/", views.FindingsView.as_view(), name="findings"),
    path("findings/refresh/", views.FindingsRefreshView.as_view(), name="findings-refresh"),
    path("findings.csv", views.FindingsView.as_view(export=True), name="findings-csv"),
    path("findings/<str:public_id>/", views.FindingDetailView.as_view(), name="finding"),
    path(
        "findings/<str:public_id>/transition/",
        views.FindingTransitionView.as_view(),
        name="finding-transition",
    ),
    path("coverage/", views.CoverageView.as_view(), name="coverage"),
    path("coverage/<str:framework>/", views.FrameworkView.as_view(), name="framework"),
    path("coverage/<str:framework>/export.csv", views.FrameworkCsvView.as_view(), name="framework-csv"),
    path("coverage/<str:framework>/controls/<str:control_id>/", views.ControlView.as_view(), name="control"),
    path("near-misses/", views.NearMissesView.as_view(), name="near-misses"),
    path("timeline/", views.TimelineView.as_view(), name="timeline"),
    path("readiness/", views.ReadinessView.as_view(), name="readiness"),
    path("readiness/packet.json", views.ReadinessPacketView.as_view(), name="readiness-packet"),
    path("checks/", views.ChecksView.as_view(), name="checks"),
    path("checks/settings/", views.CheckSettingView.as_view(), name="check-setting"),
]

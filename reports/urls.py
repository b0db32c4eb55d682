from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.ArchiveView.as_view(), name="archive"),
    path("export.csv", views.ArchiveView.as_view(export=True), name="archive-export"),
    path("archive/<str:report_id>/", views.ReportView.as_view(), name="report"),
    path("archive/<str:report_id>/manifest.json", views.ReportManifestView.as_view(), name="report-manifest"),
    path(
        "archive/<str:report_id>/files/<str:variant>.<str:file_format>",
        views.ReportFileView.as_view(),
        name="report-file",
    ),
    path("schedules/", views.SchedulesView.as_view(), name="schedules"),
    path("schedules/export.csv", views.SchedulesView.as_view(export=True), name="schedules-export"),
    path("schedules/<str:schedule_id>/", views.ScheduleView.as_view(), name="schedule"),
    path("schedules/<str:schedule_id>/run/", views.ScheduleRunView.as_view(), name="schedule-run"),
    path("schedules/<str:schedule_id>/pause/", views.SchedulePauseView.as_view(), name="schedule-pause"),
    path(
        "schedules/<str:schedule_id>/preview/", views.SchedulePreviewView.as_view(), name="schedule-preview"
    ),
    path("recipient-policy/", views.RecipientPolicyView.as_view(), name="recipient-policy"),
]

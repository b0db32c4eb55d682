from django.urls import path

from reports.api import views

urlpatterns = [
    path("reports/schedules", views.ScheduleListView.as_view(), name="schedules"),
    path("reports/schedules/<str:schedule_id>", views.ScheduleDetailView.as_view(), name="schedule"),
    path("reports/schedules/<str:schedule_id>/run", views.ScheduleRunView.as_view(), name="schedule-run"),
    path(
        "reports/schedules/<str:schedule_id>/pause", views.SchedulePauseView.as_view(), name="schedule-pause"
    ),
    path("reports/archive", views.ArchiveListView.as_view(), name="archive"),
    path("reports/archive/<str:report_id>", views.ArchiveDetailView.as_view(), name="report"),
    path(
        "reports/archive/<str:report_id>/files/<str:variant>.<str:file_format>",
        views.ArchiveFileView.as_view(),
        name="report-file",
    ),
    path("reports/recipient-policy", views.RecipientPolicyView.as_view(), name="recipient-policy"),
]

from django.urls import path

from evidence import views

app_name = "evidence"

urlpatterns = [
    path("", views.ExplorerView.as_view(), name="explorer"),
    path("export.csv", views.ExplorerView.as_view(export=True), name="export"),
    path("records/<str:public_id>/", views.RecordDetailView.as_view(), name="record"),
    path("verification/", views.VerificationView.as_view(), name="verification"),
    path("bundle/", views.BundleDownloadView.as_view(), name="bundle"),
    path("trust-root.json", views.TrustRootDownloadView.as_view(), name="trust-root"),
    path("retention/", views.RetentionView.as_view(), name="retention"),
    path("doctor/", views.DoctorView.as_view(), name="doctor"),
]

from django.urls import path

from evidence.api import views

urlpatterns = [
    path("evidence/records", views.RecordListView.as_view(), name="records"),
    path("evidence/records/<str:public_id>", views.RecordDetailView.as_view(), name="record"),
    path("evidence/records/<str:public_id>/proof", views.RecordProofView.as_view(), name="record-proof"),
    path("evidence/consistency", views.ConsistencyProofView.as_view(), name="consistency"),
    path("evidence/checkpoints", views.CheckpointListView.as_view(), name="checkpoints"),
    path("evidence/trust-root", views.TrustRootView.as_view(), name="trust-root"),
    path("evidence/bundles", views.BundleExportView.as_view(), name="bundles"),
    path("evidence/bundles/verify", views.BundleVerifyView.as_view(), name="bundle-verify"),
    path("evidence/verification", views.VerificationView.as_view(), name="verification"),
    path("evidence/siem", views.SiemExportView.as_view(), name="siem"),
]

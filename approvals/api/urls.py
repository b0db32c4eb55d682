from django.urls import path, re_path

from approvals.api import views

urlpatterns = [
    re_path(r"^approvals/?$", views.ApprovalQueueView.as_view(), name="list"),
    path("approvals/break-glass", views.BreakGlassView.as_view(), name="break-glass"),
    path("approvals/<str:public_id>", views.ApprovalDetailView.as_view(), name="detail"),
    path("approvals/<str:public_id>/approve", views.ApprovalApproveView.as_view(), name="approve"),
    path("approvals/<str:public_id>/deny", views.ApprovalDenyView.as_view(), name="deny"),
]

from django.urls import path

from tenants.api import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("members", views.MemberListView.as_view(), name="members"),
]

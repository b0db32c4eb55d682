from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("switch/", views.tenant_switch, name="switch"),
    path("members/", views.MembersView.as_view(), name="members"),
    path("members/<int:membership_id>/", views.MemberRolesView.as_view(), name="member"),
    path("members/<int:membership_id>/remove/", views.MemberRemoveView.as_view(), name="member-remove"),
    path("tokens/", views.PersonalTokensView.as_view(), name="tokens"),
    path("tokens/<str:token_id>/revoke/", views.PersonalTokenRevokeView.as_view(), name="token-revoke"),
]

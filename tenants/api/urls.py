from django.urls import path

from tenants.api import sso, views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("members", views.MemberListView.as_view(), name="members"),
    path("sso/provider", sso.SsoProviderView.as_view(), name="sso-provider"),
    path("sso/provider/state", sso.SsoProviderStateView.as_view(), name="sso-provider-state"),
    path("sso/provider/test", sso.SsoProviderTestView.as_view(), name="sso-provider-test"),
    path("sso/role-mappings", sso.RoleMappingsView.as_view(), name="sso-role-mappings"),
]

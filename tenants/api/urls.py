from django.urls import path

from tenants.api import saml, sso, views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("members", views.MemberListView.as_view(), name="members"),
    path("sso/provider", sso.SsoProviderView.as_view(), name="sso-provider"),
    path("sso/provider/state", sso.SsoProviderStateView.as_view(), name="sso-provider-state"),
    path("sso/provider/test", sso.SsoProviderTestView.as_view(), name="sso-provider-test"),
    path("sso/saml", saml.SamlProviderView.as_view(), name="sso-saml"),
    path("sso/saml/state", saml.SamlProviderStateView.as_view(), name="sso-saml-state"),
    path("sso/saml/test", saml.SamlProviderTestView.as_view(), name="sso-saml-test"),
    path("sso/role-mappings", sso.RoleMappingsView.as_view(), name="sso-role-mappings"),
]

from django.urls import path

from tenants.api import members, saml, sso, views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("members", views.MemberListView.as_view(), name="members"),
    path(
        "members/<str:member_id>/deactivate", members.MemberDeactivateView.as_view(), name="member-deactivate"
    ),
    path(
        "members/<str:member_id>/reactivate", members.MemberReactivateView.as_view(), name="member-reactivate"
    ),
    path("members/<str:member_id>/mfa-reset", members.MemberMfaResetView.as_view(), name="member-mfa-reset"),
    path("mfa/policy", members.MfaPolicyView.as_view(), name="mfa-policy"),
    path("invitations", members.InvitationListView.as_view(), name="invitations"),
    path(
        "invitations/<str:invitation_id>/resend",
        members.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
    path(
        "invitations/<str:invitation_id>/revoke",
        members.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path("sso/provider", sso.SsoProviderView.as_view(), name="sso-provider"),
    path("sso/provider/state", sso.SsoProviderStateView.as_view(), name="sso-provider-state"),
    path("sso/provider/test", sso.SsoProviderTestView.as_view(), name="sso-provider-test"),
    path("sso/saml", saml.SamlProviderView.as_view(), name="sso-saml"),
    path("sso/saml/state", saml.SamlProviderStateView.as_view(), name="sso-saml-state"),
    path("sso/saml/test", saml.SamlProviderTestView.as_view(), name="sso-saml-test"),
    path("sso/role-mappings", sso.RoleMappingsView.as_view(), name="sso-role-mappings"),
]

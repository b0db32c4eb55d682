from django.urls import path

from tenants import invitation_views, member_views, mfa_views, sso_views, views

app_name = "tenants"

urlpatterns = [
    path("switch/", views.tenant_switch, name="switch"),
    path("members/", views.MembersView.as_view(), name="members"),
    path("members/<int:membership_id>/", views.MemberRolesView.as_view(), name="member"),
    path("members/<int:membership_id>/remove/", views.MemberRemoveView.as_view(), name="member-remove"),
    path(
        "members/<int:membership_id>/deactivate/",
        member_views.MemberDeactivateView.as_view(),
        name="member-deactivate",
    ),
    path(
        "members/<int:membership_id>/reactivate/",
        member_views.MemberReactivateView.as_view(),
        name="member-reactivate",
    ),
    path(
        "invitations/<str:invitation_id>/resend/",
        invitation_views.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
    path(
        "invitations/<str:invitation_id>/revoke/",
        invitation_views.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path(
        "invitations/<str:token>/", invitation_views.InvitationAcceptView.as_view(), name="invitation-accept"
    ),
    path("members/mfa-policy/", mfa_views.MfaPolicyView.as_view(), name="mfa-policy"),
    path(
        "members/<int:membership_id>/mfa-reset/",
        mfa_views.MemberMfaResetView.as_view(),
        name="member-mfa-reset",
    ),
    path("sso/", sso_views.SsoSettingsView.as_view(), name="sso"),
    path("sso/state/", sso_views.SsoStateView.as_view(), name="sso-state"),
    path("sso/test/", sso_views.SsoTestView.as_view(), name="sso-test"),
    path("sso/saml/", sso_views.SamlSettingsView.as_view(), name="sso-saml"),
    path("sso/saml/test/", sso_views.SamlTestView.as_view(), name="sso-saml-test"),
    path("sso/mappings/", sso_views.SsoMappingsView.as_view(), name="sso-mappings"),
    path("tokens/", views.PersonalTokensView.as_view(), name="tokens"),
    path("tokens/<str:token_id>/revoke/", views.PersonalTokenRevokeView.as_view(), name="token-revoke"),
]

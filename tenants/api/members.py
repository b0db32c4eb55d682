"""API for tenant admins: members (with sign-in, SSO and MFA status), deactivation, MFA reset, the MFA
policy and invitations. The same services as the members page (tenants.members, tenants.mfa,
tenants.invitations); another tenant's member or invitation is a 404, a wrong role a 403."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authz import HasCapability
from core.roles import Role
from tenants.invitations import invitation_create, invitation_resend, invitation_revoke
from tenants.members import members_with_status, membership_deactivate, membership_reactivate
from tenants.mfa import mfa_reset, tenant_mfa_policy_set
from tenants.selectors import tenant_invitation_get, tenant_invitations, tenant_member_get

MEMBER_ID = OpenApiParameter("member_id", str, OpenApiParameter.PATH, description="`mem_<number>`")
INVITATION_ID = OpenApiParameter("invitation_id", str, OpenApiParameter.PATH, description="`inv_…`")


class MemberDetailSerializer(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    active = serializers.BooleanField(help_text="False once deactivated: the member holds no role here.")
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    suspended_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), help_text="Given back on reactivation."
    )
    created_at = serializers.DateTimeField()
    deactivated_at = serializers.DateTimeField(allow_null=True)
    last_login = serializers.DateTimeField(allow_null=True)
    mfa = serializers.ListField(child=serializers.CharField(), help_text="Enrolled factors: totp, webauthn.")
    mfa_enrolled = serializers.BooleanField()
    sso_linked = serializers.BooleanField(help_text="Has signed in through the tenant's identity provider.")
    break_glass = serializers.BooleanField(
        help_text="The admin who keeps password sign-in while SSO is required."
    )


class DeactivationSerializer(serializers.Serializer):
    member = MemberDetailSerializer()
    tokens_revoked = serializers.ListField(child=serializers.CharField())
    sessions_ended = serializers.IntegerField()
    sessions_scope = serializers.ChoiceField(choices=["all", "this tenant"])


class MfaResetSerializer(serializers.Serializer):
    member = MemberDetailSerializer()
    authenticators_removed = serializers.IntegerField()


class MfaPolicySerializer(serializers.Serializer):
    mfa_required_roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))


class InvitationSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", read_only=True)
    email = serializers.CharField(help_text="The address the link is e-mailed to.")
    full_name = serializers.CharField(required=False, allow_blank=True, default="")
    roles = serializers.ListField(child=serializers.CharField(), allow_empty=True)
    state = serializers.CharField(read_only=True, help_text="pending, expired or revoked")
    sent_count = serializers.IntegerField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)


def member_data(m) -> dict:
    return {
        "id": f"mem_{m.pk}",
        "email": m.user.email,
        "full_name": m.user.full_name,
        "active": m.deactivated_at is None,
        "roles": m.roles,
        "suspended_roles": m.suspended_roles,
        "created_at": m.created_at,
        "deactivated_at": m.deactivated_at,
        "last_login": m.user.last_login,
        "mfa": m.mfa,
        "mfa_enrolled": bool(m.mfa),
        "sso_linked": m.sso_linked,
        "break_glass": m.is_break_glass,
    }


class _MembersApi(APIView):
    permission_classes = [IsAuthenticated, HasCapability]
    required_capability = "tenants.manage_members"

    def member(self, request, member_id: str):
        number = member_id.removeprefix("mem_")
        if not number.isdigit() or not member_id.startswith("mem_"):
            raise NotFound("No member with this id.")
        return tenant_member_get(tenant=request.tenant, user=request.user, membership_id=int(number))

    def fresh(self, request, membership) -> dict:
        membership = self.member(request, f"mem_{membership.pk}")
        return member_data(members_with_status([membership], tenant=request.tenant)[0])


class MemberDeactivateView(_MembersApi):
    @extend_schema(
        request=None,
        parameters=[MEMBER_ID],
        responses=DeactivationSerializer,
        summary="Deactivate a member: roles suspended, personal API tokens revoked, sessions ended",
    )
    def post(self, request, member_id: str):
        membership = self.member(request, member_id)
        result = membership_deactivate(membership=membership, actor=request.user)
        data = {
            "member": self.fresh(request, membership),
            "tokens_revoked": result["tokens_revoked"],
            "sessions_ended": result["sessions_ended"],
            "sessions_scope": result["sessions_scope"],
        }
        return Response(DeactivationSerializer(data).data)


class MemberReactivateView(_MembersApi):
    @extend_schema(
        request=None,
        parameters=[MEMBER_ID],
        responses=MemberDetailSerializer,
        summary="Reactivate a member with the roles they held (tokens stay revoked)",
    )
    def post(self, request, member_id: str):
        membership = self.member(request, member_id)
        membership_reactivate(membership=membership, actor=request.user)
        return Response(MemberDetailSerializer(self.fresh(request, membership)).data)


class MemberMfaResetView(_MembersApi):
    @extend_schema(
        request=None,
        parameters=[MEMBER_ID],
        responses=MfaResetSerializer,
        summary="Remove every authenticator of a member (they enrol again at next sign-in)",
    )
    def post(self, request, member_id: str):
        membership = self.member(request, member_id)
        removed = mfa_reset(membership=membership, actor=request.user)
        data = {"member": self.fresh(request, membership), "authenticators_removed": removed}
        return Response(MfaResetSerializer(data).data)


class MfaPolicyView(_MembersApi):
    @extend_schema(responses=MfaPolicySerializer, summary='The "MFA required for roles" policy')
    def get(self, request):
        return Response({"mfa_required_roles": list(request.tenant.mfa_required_roles)})

    @extend_schema(
        request=MfaPolicySerializer, responses=MfaPolicySerializer, summary="Change the MFA policy"
    )
    def put(self, request):
        roles = request.data.get("mfa_required_roles") if isinstance(request.data, dict) else None
        if not isinstance(roles, list):
            raise serializers.ValidationError({"mfa_required_roles": ["A list of role names."]})
        tenant = tenant_mfa_policy_set(tenant=request.tenant, actor=request.user, roles=roles)
        return Response({"mfa_required_roles": list(tenant.mfa_required_roles)})


class InvitationListView(_MembersApi):
    @extend_schema(
        responses=InvitationSerializer(many=True),
        summary="Invitations not accepted (pending, expired, revoked in the last 30 days)",
    )
    def get(self, request):
        rows = tenant_invitations(tenant=request.tenant, user=request.user)
        return Response(InvitationSerializer(rows, many=True).data)

    @extend_schema(
        request=InvitationSerializer,
        responses={201: InvitationSerializer},
        summary="Invite by e-mail (a 7-day, single-use link sent through the outbox)",
    )
    def post(self, request):
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = invitation_create(
            tenant=request.tenant,
            actor=request.user,
            base_url=request.build_absolute_uri("/"),
            **serializer.validated_data,
        )
        return Response(InvitationSerializer(invitation).data, status=201)


class _InvitationActionApi(_MembersApi):
    def invitation(self, request, invitation_id: str):
        return tenant_invitation_get(tenant=request.tenant, user=request.user, public_id=invitation_id)


class InvitationResendView(_InvitationActionApi):
    @extend_schema(
        request=None,
        parameters=[INVITATION_ID],
        responses=InvitationSerializer,
        summary="Send the invitation again with a new link (the old one stops working)",
    )
    def post(self, request, invitation_id: str):
        invitation = invitation_resend(
            invitation=self.invitation(request, invitation_id),
            actor=request.user,
            base_url=request.build_absolute_uri("/"),
        )
        return Response(InvitationSerializer(invitation).data)


class InvitationRevokeView(_InvitationActionApi):
    @extend_schema(request=None, parameters=[INVITATION_ID], responses=InvitationSerializer, summary="Revoke")
    def post(self, request, invitation_id: str):
        invitation = invitation_revoke(invitation=self.invitation(request, invitation_id), actor=request.user)
        return Response(InvitationSerializer(invitation).data)

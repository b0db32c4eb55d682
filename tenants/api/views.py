"""API for the caller's identity and the tenant's members."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authz import HasCapability, roles_of
from tenants.api.members import MemberDetailSerializer, member_data
from tenants.api.serializers import MeSerializer
from tenants.members import members_with_status
from tenants.models import Membership
from tenants.selectors import tenant_members


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer, summary="Who am I, in which tenant, with which roles")
    def get(self, request):
        tenant = request.tenant
        data = {
            "email": request.user.email,
            "full_name": request.user.full_name,
            "tenant": {"slug": tenant.slug, "name": tenant.name} if tenant else None,
            "roles": sorted(roles_of(request.user, tenant)),
            "tenants": [{"slug": m.tenant.slug, "name": m.tenant.name} for m in request.memberships],
        }
        return Response(MeSerializer(data).data)


class MemberListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated, HasCapability]
    required_capability = "tenants.manage_members"
    serializer_class = MemberDetailSerializer
    queryset = Membership.objects.none()  # the model, for the schema; get_queryset scopes the rows

    def get_queryset(self):
        return tenant_members(tenant=self.request.tenant, user=self.request.user)

    @extend_schema(
        summary="Members of the current tenant with state, last sign-in, SSO link and MFA enrolment"
    )
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = members_with_status(page, tenant=request.tenant)
        return self.get_paginated_response(
            MemberDetailSerializer([member_data(m) for m in rows], many=True).data
        )

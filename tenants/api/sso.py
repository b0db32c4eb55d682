"""API for SSO self-service (tenant admins): the OIDC provider, its state, the connection test and the
IdP group -> role mappings. The same services as the SSO page (tenants.sso_config)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authz import HasCapability
from core.roles import Role
from tenants.models import RoleMapping, SsoProvider
from tenants.sso_config import (
    role_mappings_from_pairs,
    role_mappings_preview,
    role_mappings_replace,
    sso_connection_test,
    sso_provider_save,
    sso_provider_set_state,
    tenant_provider,
)


class SsoProviderSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    name = serializers.CharField(allow_blank=True, required=False, default="")
    issuer_url = serializers.CharField(allow_blank=True, required=False, default="")
    client_id = serializers.CharField(allow_blank=True, required=False, default="")
    client_secret = serializers.CharField(
        allow_blank=True, required=False, default="", write_only=True, help_text="Empty keeps the stored one."
    )
    client_secret_set = serializers.BooleanField(read_only=True)
    scopes = serializers.CharField(allow_blank=True, required=False, default="openid email profile")
    groups_claim = serializers.CharField(allow_blank=True, required=False, default="groups")
    email_domains = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="Comma-separated."
    )
    provider_id = serializers.CharField(allow_blank=True, required=False, default="")
    jit_provisioning = serializers.BooleanField(required=False, default=True)
    redirect_uri = serializers.CharField(read_only=True)
    enabled = serializers.BooleanField(read_only=True)
    enforce_sso = serializers.BooleanField(read_only=True)
    break_glass_admin = serializers.EmailField(read_only=True, allow_null=True)


class SsoStateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    enforce_sso = serializers.BooleanField(required=False, default=False)
    break_glass_email = serializers.CharField(allow_blank=True, required=False, default="")


class SsoTestRequestSerializer(serializers.Serializer):
    issuer_url = serializers.CharField(allow_blank=True, required=False, default="")


class SsoTestStepSerializer(serializers.Serializer):
    step = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField()


class SsoTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    issuer_url = serializers.CharField()
    error = serializers.CharField()
    steps = SsoTestStepSerializer(many=True)


class RoleMappingSerializer(serializers.Serializer):
    idp_group = serializers.CharField(allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices)


class RoleMappingsRequestSerializer(serializers.Serializer):
    mappings = RoleMappingSerializer(many=True)
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Preview only, change nothing."
    )


class MemberRoleChangeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    groups = serializers.ListField(child=serializers.CharField())
    gain = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    lose = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))


class RoleMappingsResultSerializer(serializers.Serializer):
    mappings = RoleMappingSerializer(many=True)
    changes = MemberRoleChangeSerializer(many=True, help_text="Whose roles change at their next SSO sign-in.")
    changed = serializers.BooleanField(
        help_text="False for a dry run or when the mappings were already these."
    )


def _provider_data(request, provider) -> dict:
    return {
        "id": f"sso_{provider.pk}",
        "name": provider.name,
        "issuer_url": provider.issuer_url,
        "client_id": provider.client_id,
        "client_secret_set": provider.has_client_secret,
        "scopes": provider.scopes,
        "groups_claim": provider.groups_claim,
        "email_domains": provider.email_domains,
        "provider_id": provider.provider_id,
        "jit_provisioning": provider.jit_provisioning,
        "redirect_uri": request.build_absolute_uri(provider.callback_path),
        **state_data(provider),
    }


def state_data(provider) -> dict:
    return {
        "enabled": provider.enabled,
        "enforce_sso": provider.enforce_sso,
        "break_glass_admin": provider.break_glass_user.email if provider.break_glass_user else None,
    }


def report_data(report, **source) -> dict:
    return {
        "ok": report.ok,
        **source,
        "error": report.error,
        "steps": [{"step": s, "passed": p, "detail": d} for s, p, d in report.steps],
    }


class SsoApi(APIView):
    """Tenant admins only. `answer` is every write's shape: validate the body, call the service (bad input
    from it is a 400 naming the field), answer with the response serializer."""

    permission_classes = [IsAuthenticated, HasCapability]
    required_capability = "tenants.manage_sso"
    protocol = SsoProvider.OIDC

    def provider_or_404(self, request):
        provider = tenant_provider(tenant=request.tenant, protocol=self.protocol)
        if provider is None:
            raise NotFound(f"This tenant has no {self.get_protocol_display()} provider yet: PUT one first.")
        return provider

    def get_protocol_display(self) -> str:
        return dict(SsoProvider.PROTOCOLS)[self.protocol]

    def provider_data(self, request, provider) -> dict:
        return _provider_data(request, provider)

    def answer(self, request, body_serializer, call, response_serializer) -> Response:
        serializer = body_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(response_serializer(call(serializer.validated_data)).data)


class SsoProviderView(SsoApi):
    @extend_schema(responses=SsoProviderSerializer, summary="The tenant's OIDC provider")
    def get(self, request):
        return Response(SsoProviderSerializer(_provider_data(request, self.provider_or_404(request))).data)

    @extend_schema(
        request=SsoProviderSerializer,
        responses=SsoProviderSerializer,
        summary="Create or change the tenant's OIDC provider (a new one starts disabled)",
    )
    def put(self, request):
        def save(data):
            return _provider_data(
                request, sso_provider_save(tenant=request.tenant, actor=request.user, **data)
            )

        return self.answer(request, SsoProviderSerializer, save, SsoProviderSerializer)


class SsoProviderStateView(SsoApi):
    response_serializer = SsoProviderSerializer

    @extend_schema(
        request=SsoStateSerializer,
        responses=SsoProviderSerializer,
        summary="Enable the provider, and require SSO (password only for the break-glass admin)",
    )
    def post(self, request):
        def set_state(data):
            provider = sso_provider_set_state(
                provider=self.provider_or_404(request), actor=request.user, **data
            )
            return self.provider_data(request, provider)

        return self.answer(request, SsoStateSerializer, set_state, self.response_serializer)


class SsoProviderTestView(SsoApi):
    @extend_schema(
        request=SsoTestRequestSerializer,
        responses=SsoTestResultSerializer,
        summary="Test OIDC discovery and the JWKS fetch (the given issuer, or the saved one)",
    )
    def post(self, request):
        def test(data):
            issuer = data["issuer_url"].strip() or self.provider_or_404(request).issuer_url
            return report_data(sso_connection_test(issuer_url=issuer), issuer_url=issuer)

        return self.answer(request, SsoTestRequestSerializer, test, SsoTestResultSerializer)


class RoleMappingsView(SsoApi):
    @extend_schema(responses=RoleMappingSerializer(many=True), summary="IdP group -> role mappings")
    def get(self, request):
        rows = RoleMapping.objects.filter(tenant=request.tenant).values("idp_group", "role")
        return Response(RoleMappingSerializer(rows, many=True).data)

    @extend_schema(
        request=RoleMappingsRequestSerializer,
        responses=RoleMappingsResultSerializer,
        summary="Replace the mappings (or preview with dry_run); they apply at each member's next SSO sign-in "
        "(OIDC and SAML alike)",
    )
    def put(self, request):
        def replace(data):
            mappings = role_mappings_from_pairs(data["mappings"])
            changes = role_mappings_preview(tenant=request.tenant, mappings=mappings)
            changed = not data["dry_run"] and role_mappings_replace(
                tenant=request.tenant, actor=request.user, mappings=mappings
            )
            return {
                "mappings": [{"idp_group": g, "role": r} for g, r in mappings],
                "changes": [vars(c) for c in changes],
                "changed": changed,
            }

        return self.answer(request, RoleMappingsRequestSerializer, replace, RoleMappingsResultSerializer)

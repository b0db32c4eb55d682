"""API for SAML 2.0 self-service (tenant admins): the SAML provider, its state and the metadata test.
The same services as the SSO page (tenants.saml_config); group -> role mappings are shared with OIDC."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from tenants.api.sso import (
    SsoApi,
    SsoProviderStateView,
    SsoStateSerializer,
    SsoTestStepSerializer,
    report_data,
    state_data,
)
from tenants.models import SsoProvider
from tenants.saml_config import (
    saml_connection_test,
    saml_provider_save,
    saml_settings_of,
    saml_sp_urls,
    saml_test_inputs,
)


class SamlProviderSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    name = serializers.CharField(allow_blank=True, required=False, default="")
    metadata_url = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="Fetched and checked when saved."
    )
    metadata_xml = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="Pasted metadata; wins over the URL."
    )
    idp_entity_id = serializers.CharField(allow_blank=True, required=False, default="")
    sp_entity_id = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="Empty: the SP metadata URL."
    )
    groups_attribute = serializers.CharField(allow_blank=True, required=False, default="groups")
    email_attribute = serializers.CharField(allow_blank=True, required=False, default="")
    first_name_attribute = serializers.CharField(allow_blank=True, required=False, default="")
    last_name_attribute = serializers.CharField(allow_blank=True, required=False, default="")
    email_domains = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="Comma-separated."
    )
    provider_id = serializers.CharField(allow_blank=True, required=False, default="")
    jit_provisioning = serializers.BooleanField(required=False, default=True)
    idp_sso_url = serializers.CharField(read_only=True)
    idp_certificates = serializers.IntegerField(read_only=True)
    acs_url = serializers.CharField(read_only=True)
    sp_metadata_url = serializers.CharField(read_only=True)
    effective_sp_entity_id = serializers.CharField(read_only=True, help_text="The audience the IdP must use.")
    enabled = serializers.BooleanField(read_only=True)
    enforce_sso = serializers.BooleanField(read_only=True)
    break_glass_admin = serializers.EmailField(read_only=True, allow_null=True)


class SamlTestRequestSerializer(serializers.Serializer):
    metadata_url = serializers.CharField(allow_blank=True, required=False, default="")
    metadata_xml = serializers.CharField(allow_blank=True, required=False, default="")
    idp_entity_id = serializers.CharField(allow_blank=True, required=False, default="")


class SamlTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    metadata_url = serializers.CharField()
    idp_entity_id = serializers.CharField()
    error = serializers.CharField()
    steps = SsoTestStepSerializer(many=True)


def saml_provider_data(request, provider) -> dict:
    urls = saml_sp_urls(request, provider)
    return {
        "id": f"sso_{provider.pk}",
        **saml_settings_of(provider),
        "idp_sso_url": provider.saml_idp.get("sso_url", ""),
        "idp_certificates": len(provider.saml_idp.get("x509certs", [])),
        "acs_url": urls["acs_url"],
        "sp_metadata_url": urls["sp_metadata_url"],
        "effective_sp_entity_id": urls["sp_entity_id"],
        **state_data(provider),
    }


class _SamlApi(SsoApi):
    protocol = SsoProvider.SAML

    def provider_data(self, request, provider) -> dict:
        return saml_provider_data(request, provider)


class SamlProviderView(_SamlApi):
    @extend_schema(responses=SamlProviderSerializer, summary="The tenant's SAML 2.0 provider")
    def get(self, request):
        return Response(
            SamlProviderSerializer(self.provider_data(request, self.provider_or_404(request))).data
        )

    @extend_schema(
        request=SamlProviderSerializer,
        responses=SamlProviderSerializer,
        summary="Create or change the tenant's SAML provider (metadata read and checked now; starts disabled)",
    )
    def put(self, request):
        def save(data):
            return self.provider_data(
                request, saml_provider_save(tenant=request.tenant, actor=request.user, **data)
            )

        return self.answer(request, SamlProviderSerializer, save, SamlProviderSerializer)


class SamlProviderStateView(_SamlApi, SsoProviderStateView):
    response_serializer = SamlProviderSerializer

    @extend_schema(
        request=SsoStateSerializer,
        responses=SamlProviderSerializer,
        summary="Enable the SAML provider, and require SSO (password only for the break-glass admin)",
    )
    def post(self, request):
        return super().post(request)


class SamlProviderTestView(_SamlApi):
    @extend_schema(
        request=SamlTestRequestSerializer,
        responses=SamlTestResultSerializer,
        summary="Fetch and parse the IdP metadata (the given URL or XML, or the saved one; 400 naming what is missing)",
    )
    def post(self, request):
        def test(data):
            url, xml, entity_id = saml_test_inputs(tenant=request.tenant, **data)
            report = saml_connection_test(metadata_url=url, metadata_xml=xml, entity_id=entity_id)
            return report_data(report, metadata_url="" if xml else url, idp_entity_id=entity_id)

        return self.answer(request, SamlTestRequestSerializer, test, SamlTestResultSerializer)

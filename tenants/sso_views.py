"""The SSO page for tenant admins: provider settings, connection test, enable/require, group -> role mappings."""

from __future__ import annotations

from allauth.socialaccount.providers.saml.views import finish_acs
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from core.authz import CapabilityRequiredMixin
from core.roles import Role
from tenants.forms import (
    RoleMappingsForm,
    SamlProviderForm,
    SsoProviderForm,
    SsoStateForm,
    apply_service_errors,
)
from tenants.models import SsoProvider
from tenants.saml_config import (
    saml_connection_test,
    saml_provider_save,
    saml_settings_of,
    saml_sp_urls,
    saml_test_inputs,
    tenant_saml_provider,
)
from tenants.selectors import members_with_role
from tenants.sso import saml_refusal_in_words
from tenants.sso_config import (
    role_mappings_parse,
    role_mappings_preview,
    role_mappings_replace,
    role_mappings_text,
    sso_connection_test,
    sso_provider_save,
    sso_provider_set_state,
    tenant_sso_provider,
)

TEMPLATE = "tenants/sso.html"


def _provider_initial(provider) -> dict:
    if provider is None:
        return {}
    return {
        "name": provider.name,
        "issuer_url": provider.issuer_url,
        "client_id": provider.client_id,
        "scopes": provider.scopes,
        "groups_claim": provider.groups_claim,
        "email_domains": provider.email_domains,
        "provider_id": provider.provider_id,
        "jit_provisioning": provider.jit_provisioning,
    }


def _saml_initial(provider) -> dict:
    return saml_settings_of(provider) if provider else {}


def _state_initial(provider) -> dict:
    if provider is None:
        return {}
    return {
        "enabled": provider.enabled,
        "enforce_sso": provider.enforce_sso,
        "break_glass_email": provider.break_glass_user.email if provider.break_glass_user else "",
    }


class _SsoPage(CapabilityRequiredMixin, View):
    required_capability = "tenants.manage_sso"

    def page(self, request, *, status=200, partial=None, **forms_and_extra):
        tenant = request.tenant
        provider = tenant_sso_provider(tenant=tenant)
        saml = tenant_saml_provider(tenant=tenant)
        context = {
            "provider": provider,
            "redirect_uri": request.build_absolute_uri(provider.callback_path) if provider else "",
            "provider_form": SsoProviderForm(initial=_provider_initial(provider)),
            "state_form": SsoStateForm(initial=_state_initial(provider)),
            "saml": saml,
            "saml_urls": saml_sp_urls(request, saml),
            "saml_form": SamlProviderForm(initial=_saml_initial(saml), prefix="saml"),
            "saml_state_form": SsoStateForm(initial=_state_initial(saml)),
            "mappings_form": RoleMappingsForm(initial={"mappings": role_mappings_text(tenant=tenant)}),
            "admins": members_with_role(tenant=tenant, role=Role.TENANT_ADMIN),
            "role_choices": Role.choices,
            **forms_and_extra,
        }
        template = TEMPLATE + (f"#{partial}" if partial and request.htmx else "")
        return render(request, template, context, status=status)

    def answered(self, request, message: str, partial: str):
        messages.success(request, message)
        if request.htmx:
            return self.page(request, partial=partial)
        return redirect("tenants:sso")

    def submit(self, request, form, call, *, region: str, form_key: str, message):
        """Every form on the page: the service checks the values (`call(cleaned_data)`); its errors go
        next to the fields (422, the region swapped in place), else `message(result)` is the toast."""
        form.is_valid()  # plain fields: always valid; the service checks the values
        try:
            result = call(form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.page(request, status=422, partial=region, **{form_key: form})
        return self.answered(request, message(result), region)


class SsoSettingsView(_SsoPage):
    def get(self, request):
        return self.page(request)

    def post(self, request):
        return self.submit(
            request,
            SsoProviderForm(request.POST),
            lambda data: sso_provider_save(tenant=request.tenant, actor=request.user, **data),
            region="provider-region",
            form_key="provider_form",
            message=lambda _: "SSO settings saved.",
        )


class SsoStateView(_SsoPage):
    """Enable / require the OIDC provider, or the SAML one (`protocol=saml`): the same rules for both."""

    def post(self, request):
        saml = request.POST.get("protocol") == SsoProvider.SAML
        provider = (tenant_saml_provider if saml else tenant_sso_provider)(tenant=request.tenant)
        if provider is None:
            raise Http404("Save the provider settings first.")
        region, form_key = ("saml-region", "saml_state_form") if saml else ("state-region", "state_form")

        def said(provider):
            state = "required" if provider.enforce_sso else ("enabled" if provider.enabled else "disabled")
            return f"Sign-in with {provider.name} is {state}."

        return self.submit(
            request,
            SsoStateForm(request.POST),
            lambda data: sso_provider_set_state(provider=provider, actor=request.user, **data),
            region=region,
            form_key=form_key,
            message=said,
        )


class SamlSettingsView(_SsoPage):
    def post(self, request):
        return self.submit(
            request,
            SamlProviderForm(request.POST, prefix="saml"),
            lambda data: saml_provider_save(tenant=request.tenant, actor=request.user, **data),
            region="saml-region",
            form_key="saml_form",
            message=lambda _: "SAML settings saved.",
        )


class SamlTestView(_SsoPage):
    """Fetches (for a URL) and parses the metadata typed in the form, or the saved one: a read, no change."""

    def post(self, request):
        form = SamlProviderForm(request.POST, prefix="saml")
        form.is_valid()
        data = form.cleaned_data
        try:
            url, xml, entity_id = saml_test_inputs(
                tenant=request.tenant,
                metadata_url=data["metadata_url"],
                metadata_xml=data["metadata_xml"],
                idp_entity_id=data["idp_entity_id"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.page(request, status=422, partial="saml-region", saml_form=form)
        report = saml_connection_test(metadata_url=url, metadata_xml=xml, entity_id=entity_id)
        tested = "pasted XML" if xml else url
        return self.page(request, partial="saml-test-result", saml_test_report=report, saml_tested=tested)


class SsoTestView(_SsoPage):
    """Runs discovery + JWKS against the issuer typed in the form (or the saved one): a read, no change."""

    def post(self, request):
        provider = tenant_sso_provider(tenant=request.tenant)
        issuer = (request.POST.get("issuer_url") or "").strip() or (provider.issuer_url if provider else "")
        if not issuer:
            form = SsoProviderForm(request.POST)
            form.is_valid()
            form.add_error("issuer_url", "Give the issuer URL to test.")
            return self.page(request, status=422, partial="provider-region", provider_form=form)
        report = sso_connection_test(issuer_url=issuer)
        return self.page(request, partial="test-result", test_report=report, tested_issuer=issuer)


class SsoMappingsView(_SsoPage):
    """`preview` shows whose roles would change; `save` replaces the mappings (applied at next sign-in)."""

    def post(self, request):
        form = RoleMappingsForm(request.POST)
        form.is_valid()
        try:
            mappings = role_mappings_parse(form.cleaned_data["mappings"])
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.page(request, status=422, partial="mappings-region", mappings_form=form)
        preview = role_mappings_preview(tenant=request.tenant, mappings=mappings)
        if "save" not in request.POST:
            return self.page(
                request, partial="mappings-region", mappings_form=form, preview=preview, previewed=True
            )
        changed = role_mappings_replace(tenant=request.tenant, actor=request.user, mappings=mappings)
        message = "Group → role mappings saved; they apply at each member's next SSO sign-in."
        return self.answered(request, message if changed else "No change to the mappings.", "mappings-region")


def saml_finish_acs(request, organization_slug):
    """allauth's SAML finish step, every refusal in words (and 403): allauth raises a bare
    PermissionDenied for an InResponseTo this browser did not start."""
    try:
        return finish_acs(request, organization_slug=organization_slug)
    except PermissionDenied as exc:
        # The adapter's refusals (domain not routed, not provisioned) carry their words; allauth's has none.
        context = {"refusal": str(exc) or saml_refusal_in_words("InResponseTo")}
        return render(request, "socialaccount/authentication_error.html", context, status=403)

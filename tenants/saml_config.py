"""SAML 2.0 self-service for tenant admins: the tenant's SAML identity provider described by its metadata
(a URL or pasted XML), the metadata check ("test connection"), and allauth's SAML app settings.

Enable / require / break-glass, the e-mail domain routing and the group -> role mappings are shared with
OIDC (tenants.sso_config); every write is atomic, authorized and audited."""

from __future__ import annotations

import base64
import datetime as dt

import requests
from cryptography import x509
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from core.authz import authorize_actor
from tenants.models import SsoProvider, Tenant, User
from tenants.sso_config import (
    CAPABILITY,
    TEST_TIMEOUT,
    ConnectionReport,
    clean_common,
    clean_text,
    provider_store,
    tenant_provider,
)

METADATA_MAX_BYTES = 1_000_000
_MD = "urn:oasis:names:tc:SAML:2.0:metadata"


def tenant_saml_provider(*, tenant: Tenant) -> SsoProvider | None:
    return tenant_provider(tenant=tenant, protocol=SsoProvider.SAML)


class MetadataError(ValueError):
    """A metadata problem in words, with the form field it belongs to and the test step it failed."""

    def __init__(self, message: str, *, field: str, step: str):
        super().__init__(message)
        self.field, self.step = field, step


def _fetch_metadata(url: str) -> bytes:
    step, field = "Metadata download", "metadata_url"
    try:
        response = requests.get(url, timeout=TEST_TIMEOUT, headers={"Accept": "application/samlmetadata+xml"})
    except requests.Timeout:
        raise MetadataError(f"No answer from {url} within {TEST_TIMEOUT} seconds.", field=field, step=step)
    except requests.ConnectionError:
        raise MetadataError(
            f"Could not connect to {url}: unreachable (DNS name, port or firewall?).", field=field, step=step
        )
    except requests.RequestException as exc:
        raise MetadataError(f"Request to {url} failed ({exc.__class__.__name__}).", field=field, step=step)
    if response.status_code != 200:
        raise MetadataError(
            f"{url} answered HTTP {response.status_code}, expected 200.", field=field, step=step
        )
    if len(response.content) > METADATA_MAX_BYTES:
        raise MetadataError(f"{url} sent over {METADATA_MAX_BYTES:,} bytes.", field=field, step=step)
    return response.content


def _certificate_problem(b64: str) -> str:
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(b64, validate=False))
    except ValueError:
        return "The signing certificate in the metadata cannot be read (not a DER X.509 certificate)."
    if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
        return f"The signing certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC."
    return ""


def saml_metadata_parse(xml: bytes | str, *, entity_id: str, field: str) -> dict:
    """The IdP as the portal uses it: {"entityId", "sso_url", "x509certs"}; MetadataError otherwise."""
    if isinstance(xml, str):
        xml = xml.encode()
    try:
        root = OneLogin_Saml2_XML.to_etree(xml)
    except (etree.XMLSyntaxError, ValueError) as exc:
        message = str(exc).split(" (<string>")[0].split(" (line")[0] or "empty document"
        raise MetadataError(f"This is not XML: {message}.", field=field, step="Metadata is XML")
    except Exception as exc:  # defusedxml-style refusals (DTDs, entities) come as their own types
        raise MetadataError(f"This XML is refused: {exc}.", field=field, step="Metadata is XML")
    descriptors = (
        [root] if root.tag == f"{{{_MD}}}EntityDescriptor" else root.findall(f".//{{{_MD}}}EntityDescriptor")
    )
    idps = {d.get("entityID", ""): d for d in descriptors if d.find(f"{{{_MD}}}IDPSSODescriptor") is not None}
    if not idps:
        raise MetadataError(
            "The XML is not SAML IdP metadata: no EntityDescriptor with an IDPSSODescriptor.",
            field=field,
            step="IdP described",
        )
    if entity_id not in idps:
        raise MetadataError(
            f"Entity id mismatch: the metadata describes {', '.join(sorted(idps))}, not {entity_id}.",
            field="idp_entity_id",
            step="IdP described",
        )
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(
        etree.tostring(idps[entity_id]), required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT
    ).get("idp", {})
    sso_url = (parsed.get("singleSignOnService") or {}).get("url", "")
    if not sso_url:
        raise MetadataError(
            "The metadata names no SingleSignOnService with the HTTP-Redirect binding.",
            field=field,
            step="IdP described",
        )
    certs = (parsed.get("x509certMulti") or {}).get("signing") or (
        [parsed["x509cert"]] if parsed.get("x509cert") else []
    )
    if not certs:
        raise MetadataError(
            "No signing certificate in the metadata: assertions could not be verified.",
            field=field,
            step="Signing certificate",
        )
    problems = [p for p in (_certificate_problem(c) for c in certs) if p]
    if len(problems) == len(certs):
        raise MetadataError(problems[0], field=field, step="Signing certificate")
    return {"entityId": entity_id, "sso_url": sso_url, "x509certs": certs}


def saml_metadata_read(*, metadata_url: str, metadata_xml: str, entity_id: str) -> dict:
    if metadata_xml.strip():
        return saml_metadata_parse(metadata_xml.strip(), entity_id=entity_id, field="metadata_xml")
    return saml_metadata_parse(_fetch_metadata(metadata_url), entity_id=entity_id, field="metadata_url")


def saml_connection_test(
    *, metadata_url: str = "", metadata_xml: str = "", entity_id: str
) -> ConnectionReport:
    """Fetch (for a URL) and parse the metadata as a sign-in would use it; each failure in words."""
    report = ConnectionReport(ok=False)
    try:
        idp = saml_metadata_read(metadata_url=metadata_url, metadata_xml=metadata_xml, entity_id=entity_id)
    except MetadataError as exc:
        if exc.step != "Metadata download" and not metadata_xml.strip():
            report.steps.append(("Metadata download", True, f"Read from {metadata_url}."))
        report.steps.append((exc.step, False, str(exc)))
        return report
    source = "pasted XML" if metadata_xml.strip() else metadata_url
    report.steps.append(("Metadata", True, f"IdP {idp['entityId']} described in {source}."))
    report.steps.append(("Single sign-on URL", True, idp["sso_url"]))
    report.steps.append(("Signing certificate", True, f"{len(idp['x509certs'])} signing certificate(s)."))
    report.ok = True
    return report


def saml_settings_of(provider: SsoProvider) -> dict:
    """The provider's settings under the names the page's form, the API and the service use."""
    return {
        "name": provider.name,
        "metadata_url": provider.saml_metadata_url,
        "metadata_xml": provider.saml_metadata_xml,
        "idp_entity_id": provider.saml_idp_entity_id,
        "sp_entity_id": provider.saml_sp_entity_id,
        "groups_attribute": provider.groups_claim,
        "email_attribute": provider.saml_email_attribute,
        "first_name_attribute": provider.saml_first_name_attribute,
        "last_name_attribute": provider.saml_last_name_attribute,
        "email_domains": provider.email_domains,
        "provider_id": provider.provider_id,
        "jit_provisioning": provider.jit_provisioning,
    }


def saml_sp_urls(request, provider) -> dict:
    """What the IdP needs from the portal: ACS URL, SP entity id and SP metadata URL (absolute)."""
    if provider is None or not provider.provider_id:
        return {}
    metadata_url = request.build_absolute_uri(provider.saml_metadata_path)
    return {
        "acs_url": request.build_absolute_uri(provider.callback_path),
        "sp_entity_id": provider.saml_sp_entity_id or metadata_url,
        "sp_metadata_url": metadata_url,
    }


def saml_test_inputs(
    *, tenant: Tenant, metadata_url: str, metadata_xml: str, idp_entity_id: str
) -> tuple[str, str, str]:
    """(url, xml, entity id) to test: what was typed, else what is saved. A ValidationError names what
    is missing from both."""
    url, xml, entity_id = metadata_url.strip(), metadata_xml.strip(), idp_entity_id.strip()
    saved = tenant_saml_provider(tenant=tenant)
    if saved is not None:
        if not url and not xml:
            url, xml = saved.saml_metadata_url, saved.saml_metadata_xml
        entity_id = entity_id or saved.saml_idp_entity_id
    errors = {}
    if not url and not xml:
        errors["metadata_url"] = "Give the metadata URL (or XML) to test."
    if not entity_id:
        errors["idp_entity_id"] = "Give the IdP entity id to test."
    if errors:
        raise ValidationError(errors)
    return url, xml, entity_id


def _snapshot(provider: SsoProvider) -> dict:
    return {
        "protocol": "saml",
        "name": provider.name,
        "metadata_url": provider.saml_metadata_url,
        "metadata_xml": "pasted" if provider.saml_metadata_xml else "",
        "idp_entity_id": provider.saml_idp_entity_id,
        "idp_sso_url": provider.saml_idp.get("sso_url", ""),
        "idp_certificates": len(provider.saml_idp.get("x509certs", [])),
        "sp_entity_id": provider.saml_sp_entity_id,
        "groups_attribute": provider.groups_claim,
        "email_attribute": provider.saml_email_attribute,
        "first_name_attribute": provider.saml_first_name_attribute,
        "last_name_attribute": provider.saml_last_name_attribute,
        "email_domains": provider.domain_list,
        "jit_provisioning": provider.jit_provisioning,
        "enabled": provider.enabled,
        "enforce_sso": provider.enforce_sso,
        "break_glass_admin": provider.break_glass_user.email if provider.break_glass_user else None,
        "provider_id": provider.provider_id,
    }


def _clean_metadata_source(cleaned: dict, errors: dict, metadata_url: str, metadata_xml: str) -> None:
    url, xml = (metadata_url or "").strip(), (metadata_xml or "").strip()
    if not url and not xml:
        errors["metadata_url"] = "Give the IdP metadata URL or paste the metadata XML."
    if url:
        try:
            URLValidator(schemes=["https", "http"])(url)
        except ValidationError:
            errors["metadata_url"] = "Give the metadata URL as an http(s) URL."
        if len(url) > 500:
            errors["metadata_url"] = "At most 500 characters."
    if len(xml.encode()) > METADATA_MAX_BYTES:
        errors["metadata_xml"] = f"At most {METADATA_MAX_BYTES:,} bytes."
    cleaned["saml_metadata_url"], cleaned["saml_metadata_xml"] = url, xml


def saml_provider_save(
    *,
    tenant: Tenant,
    actor: User | None,
    name: str,
    metadata_url: str,
    metadata_xml: str,
    idp_entity_id: str,
    sp_entity_id: str,
    groups_attribute: str,
    email_attribute: str,
    first_name_attribute: str,
    last_name_attribute: str,
    email_domains: str,
    jit_provisioning: bool,
    provider_id: str = "",
) -> SsoProvider:
    """Create or update the tenant's SAML provider. The metadata is read and checked now (a URL is
    fetched): what cannot be used for a sign-in is refused, naming the field. Starts disabled."""
    authorize_actor(actor, tenant, CAPABILITY)
    cleaned, errors = clean_common(name=name, email_domains=email_domains, provider_id=provider_id)
    _clean_metadata_source(cleaned, errors, metadata_url, metadata_xml)
    fields = {
        "saml_idp_entity_id": ("idp_entity_id", idp_entity_id, 500, True),
        "saml_sp_entity_id": ("sp_entity_id", sp_entity_id, 500, False),
        "groups_claim": ("groups_attribute", groups_attribute, 100, True),
        "saml_email_attribute": ("email_attribute", email_attribute, 200, False),
        "saml_first_name_attribute": ("first_name_attribute", first_name_attribute, 200, False),
        "saml_last_name_attribute": ("last_name_attribute", last_name_attribute, 200, False),
    }
    for model_field, (key, raw, limit, required) in fields.items():
        clean_text(cleaned, errors, key, raw, limit, required=required)
        cleaned[model_field] = cleaned.pop(key)
    if "'" in cleaned["saml_idp_entity_id"] or '"' in cleaned["saml_idp_entity_id"]:
        errors["idp_entity_id"] = "An entity id has no quotes."
    if not errors:
        try:
            cleaned["saml_idp"] = saml_metadata_read(
                metadata_url=cleaned["saml_metadata_url"],
                metadata_xml=cleaned["saml_metadata_xml"],
                entity_id=cleaned["saml_idp_entity_id"],
            )
        except MetadataError as exc:
            errors[exc.field] = str(exc)
    provider, _ = provider_store(
        tenant=tenant,
        actor=actor,
        protocol=SsoProvider.SAML,
        cleaned=cleaned,
        errors=errors,
        jit_provisioning=jit_provisioning,
        snapshot=_snapshot,
    )
    return provider

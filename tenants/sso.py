"""Per-tenant OpenID Connect sign-in: allauth's SocialApp kept in step with SsoProvider, IdP claims read."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import jwt
import requests
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.db import transaction
from django.utils.text import slugify

from tenants.audit import record_audit
from tenants.models import SsoProvider, User

logger = logging.getLogger(__name__)

OIDC_PROVIDER = "openid_connect"
# Asymmetric algorithms only: an HS256 token "signed" with the public key must never pass.
ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
SOCIAL_APP_NAME_MAX = 40  # SocialApp.name
SAML_PROVIDER = "saml"
# allauth's defaults, tried in order when the admin names no attribute.
DEFAULT_EMAIL_ATTRIBUTES = [
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
]
DEFAULT_FIRST_NAME_ATTRIBUTES = [
    "urn:oid:2.5.4.42",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
]
DEFAULT_LAST_NAME_ATTRIBUTES = [
    "urn:oid:2.5.4.4",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
]
SUBJECT_ID_ATTRIBUTE = "urn:oasis:names:tc:SAML:attribute:subject-id"


def email_domain(email: str | None) -> str:
    email = (email or "").strip().lower()
    return email.rsplit("@", 1)[-1] if "@" in email else ""


def sso_provider_for_login(sociallogin) -> SsoProvider | None:
    """The enabled provider a social login came through (allauth stores our provider_id as `provider`)."""
    provider_id = getattr(sociallogin.account, "provider", "") or ""
    if not provider_id:
        return None
    return SsoProvider.objects.select_related("tenant").filter(enabled=True, provider_id=provider_id).first()


def sso_provider_may_sign_in(*, provider: SsoProvider | None, email: str | None) -> bool:
    """A provider speaks only for the e-mail domains its tenant routed to it."""
    domain = email_domain(email)
    return provider is not None and provider.enabled and bool(domain) and domain in provider.domain_list


def idp_groups_from_claims(extra_data: dict | None, *, claim: str) -> list[str]:
    """The user's IdP groups from an OIDC login's extra_data: userinfo first, then the ID token."""
    extra_data = extra_data or {}
    sources = [extra_data.get("userinfo"), extra_data.get("id_token")]
    if "userinfo" not in extra_data and "id_token" not in extra_data:
        sources.append(extra_data)  # allauth < 65.11 stored the claims flat
    for source in sources:
        if not isinstance(source, dict) or claim not in source:
            continue
        value = source[claim]
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            return sorted({str(g).strip() for g in value if str(g).strip()})
        return []
    return []


def _default_provider_id(provider: SsoProvider) -> str:
    base = slugify(f"{provider.tenant.slug}-{provider.name}")[:44].strip("-") or "sso"
    candidate, n = base, 1
    while SsoProvider.objects.filter(provider_id=candidate).exclude(pk=provider.pk).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def sso_provider_sync(*, provider: SsoProvider, actor: User | None = None) -> SocialApp | None:
    """Make allauth's SocialApp match the provider: present and current when enabled, gone when not."""
    with transaction.atomic():
        current = SsoProvider.objects.select_for_update().select_related("tenant").get(pk=provider.pk)
        app = _social_app_sync(current, actor=actor)
    provider.provider_id, provider.social_app = current.provider_id, app
    return app


def _social_app_sync(provider: SsoProvider, *, actor: User | None) -> SocialApp | None:
    if not provider.provider_id:
        provider.provider_id = _default_provider_id(provider)
        provider.save(update_fields=["provider_id"])
    app = provider.social_app
    if not provider.enabled:
        if app is not None:
            sso_provider_app_remove(provider=provider)
            provider.social_app = None
            provider.save(update_fields=["social_app"])
            record_audit(
                tenant=provider.tenant,
                actor=actor,
                action="sso.app_remove",
                obj=provider,
                before={"provider_id": provider.provider_id},
            )
        return None
    saml = provider.protocol == SsoProvider.SAML
    app = app or SocialApp(provider=SAML_PROVIDER if saml else OIDC_PROVIDER)
    created = app.pk is None
    app.provider_id = provider.provider_id
    app.name = provider.name[:SOCIAL_APP_NAME_MAX]
    # The secret stays encrypted in SsoProvider; TenantSocialAccountAdapter.list_apps decrypts it into
    # the in-memory app at sign-in, so allauth's table never holds it in clear.
    app.secret = ""
    if saml:
        app.client_id = provider.provider_id  # allauth's "organization slug" in /accounts/saml/<slug>/
        app.settings = saml_app_settings(provider)
    else:
        app.client_id = provider.client_id
        app.settings = {
            **(app.settings or {}),
            "server_url": provider.issuer_url.rstrip("/"),
            "oauth_pkce_enabled": True,
            "scope": provider.scopes.split() or ["openid", "email", "profile"],
        }
    app.save()
    if created:
        provider.social_app = app
        provider.save(update_fields=["social_app"])
    record_audit(
        tenant=provider.tenant,
        actor=actor,
        action="sso.app_sync",
        obj=provider,
        after={"provider_id": provider.provider_id, "protocol": provider.protocol}
        | ({"idp_entity_id": provider.saml_idp_entity_id} if saml else {"issuer_url": provider.issuer_url}),
    )
    return app


def sso_provider_app_remove(*, provider: SsoProvider) -> None:
    """Drop the provider's SocialApp (its sign-in URL then 404s). SocialAccounts stay: a re-enabled
    provider with the same sign-in id finds its users again."""
    if provider.social_app_id:
        SocialApp.objects.filter(pk=provider.social_app_id).delete()


def social_apps_with_secrets(apps: list[SocialApp]) -> list[SocialApp]:
    """Put each OIDC app's decrypted client secret on the in-memory instance allauth will use."""
    from core.secrets import secret_decrypt

    ids = [app.pk for app in apps if app.provider == OIDC_PROVIDER and app.pk]
    tokens = dict(
        SsoProvider.objects.filter(social_app_id__in=ids).values_list(
            "social_app_id", "client_secret_encrypted"
        )
    )
    for app in apps:
        if app.pk in tokens:
            app.secret = secret_decrypt(tokens[app.pk])
    return apps


def _openid_configuration(server_url: str) -> dict:
    url = (
        server_url
        if "/.well-known/" in server_url
        else f"{server_url.rstrip('/')}/.well-known/openid-configuration"
    )
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.json()


def id_token_verify_signature(id_token: str) -> None:
    """Refuse an ID token not signed by a key of the configured provider's JWKS.

    allauth skips this check for tokens it fetched from the token endpoint itself (OIDC Core 3.1.3.7
    allows that only over TLS); we check anyway, so a forged token is refused even behind a
    misconfigured proxy or on plain HTTP. Issuer and audience are checked again by allauth.
    """
    try:
        header = jwt.get_unverified_header(id_token)
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise OAuth2Error("Invalid id_token") from exc
    if header.get("alg") not in ID_TOKEN_ALGORITHMS:
        raise OAuth2Error(f"Unsupported id_token algorithm: {header.get('alg')!r}")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    for app in SocialApp.objects.filter(provider=OIDC_PROVIDER, client_id__in=audiences):
        try:
            config = _openid_configuration(app.settings["server_url"])
            if config.get("issuer") != claims.get("iss"):
                continue
            alg, key = jwtkit.fetch_key(id_token, config["jwks_uri"], jwtkit.lookup_kid_jwk)
            jwt.decode(
                id_token,
                key=key,
                algorithms=[header["alg"]],
                audience=app.client_id,
                issuer=config["issuer"],
                options={"verify_exp": True},
            )
            return
        except (KeyError, ValueError, requests.RequestException, OAuth2Error, jwt.PyJWTError) as exc:
            logger.warning("SSO: id_token for %s refused: %s", app.provider_id, exc)
    raise OAuth2Error("id_token is not signed by the configured identity provider")


def verify_id_token_in_token_response(response: requests.Response, *args, **kwargs) -> None:
    """requests response hook: a token-endpoint answer carrying an id_token must be signed correctly."""
    if response.request is None or response.request.method != "POST" or not response.ok:
        return
    try:
        data = response.json()
    except ValueError:
        return
    if isinstance(data, dict) and data.get("access_token") and data.get("id_token"):
        id_token_verify_signature(str(data["id_token"]))


def sso_form_action_origins() -> list[str]:
    """Origins of every enabled IdP (OIDC issuer, SAML single sign-on URL). The sign-in page posts to
    allauth, which redirects to the IdP, and browsers check the CSP's form-action on that redirect too."""
    origins = set()
    for settings_ in SocialApp.objects.filter(provider="openid_connect").values_list("settings", flat=True):
        parts = urlsplit((settings_ or {}).get("server_url", ""))
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}")
    for provider in SsoProvider.objects.filter(protocol=SsoProvider.SAML, enabled=True).only("saml_idp"):
        origins.add(saml_sso_origin(provider))
    return sorted(o for o in origins if o)


def saml_app_settings(provider: SsoProvider) -> dict:
    """allauth's SocialApp.settings for the provider (allauth.socialaccount.providers.saml)."""

    def names(custom: str, defaults: list[str]) -> list[str]:
        return [custom] if custom else defaults

    idp: dict = {"entity_id": provider.saml_idp_entity_id}
    if provider.saml_metadata_url and not provider.saml_metadata_xml:
        idp["metadata_url"] = provider.saml_metadata_url  # re-read by allauth (cached): key rotation works
    else:
        idp.update(x509cert=provider.saml_idp["x509certs"][0], sso_url=provider.saml_idp["sso_url"])
    settings = {
        "idp": idp,
        "attribute_mapping": {
            "uid": [SUBJECT_ID_ATTRIBUTE],
            "email": names(provider.saml_email_attribute, DEFAULT_EMAIL_ATTRIBUTES),
            "first_name": names(provider.saml_first_name_attribute, DEFAULT_FIRST_NAME_ATTRIBUTES),
            "last_name": names(provider.saml_last_name_attribute, DEFAULT_LAST_NAME_ATTRIBUTES),
        },
        # strict: signature (Response or Assertion), audience, destination, validity window and
        # InResponseTo are checked by python3-saml; SHA-1 is refused; IdP-initiated sign-in is refused.
        # allow_single_label_domains: a portal at http://localhost:… (the demo) is a valid SP too.
        "advanced": {
            "strict": True,
            "reject_idp_initiated_sso": True,
            "reject_deprecated_algorithm": True,
            "allow_single_label_domains": True,
        },
    }
    if provider.saml_sp_entity_id:
        settings["sp"] = {"entity_id": provider.saml_sp_entity_id}
    return settings


def saml_sso_origin(provider: SsoProvider) -> str:
    parts = urlsplit(provider.saml_idp.get("sso_url", ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


_SAML_REFUSALS = [
    ("Signature validation failed", "The response is not signed by a certificate in the IdP's metadata."),
    ("No Signature found", "The response is not signed: the IdP must sign the response or the assertion."),
    (
        "not a valid audience",
        "The assertion is meant for another service provider (its audience is not "
        "this portal's SP entity id).",
    ),
    (
        "expired",
        "The assertion has expired (NotOnOrAfter is in the past): sign in again, and check the IdP's clock.",
    ),
    ("not yet valid", "The assertion is not valid yet (NotBefore is in the future): check the IdP's clock."),
    ("InResponseTo", "The response answers no sign-in the portal started in this browser."),
    ("Destination", "The response was sent to another address than this portal's ACS URL."),
    ("Invalid issuer", "The response comes from another IdP than the one configured (issuer mismatch)."),
    ("deprecated", "The IdP signed with a deprecated algorithm (SHA-1): configure SHA-256 at the IdP."),
]


def saml_refusal_in_words(reason: str) -> str:
    """What a tenant admin or member can act on, from python3-saml's error reason."""
    for needle, words in _SAML_REFUSALS:
        if needle.lower() in (reason or "").lower():
            return words
    if not reason:
        return (
            "Sign-in must start from the portal's sign-in page: the portal refuses responses it did not ask "
            "for (IdP-initiated sign-in)."
        )
    return f"The identity provider's response was refused: {reason}"

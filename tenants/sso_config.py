"""SSO self-service for tenant admins: the tenant's OIDC provider, its state (enabled, required, break-glass
admin), the connection test, and IdP group -> role mappings with a preview of their effect.

Every write is atomic, checks the actor through core.authz and is audited (and so in evidence)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from core.authz import authorize_actor
from core.roles import ALL_ROLES, Role
from core.secrets import secret_encrypt
from tenants.audit import record_audit
from tenants.models import SLUG_VALIDATOR, Membership, RoleMapping, SsoProvider, Tenant, User
from tenants.selectors import members_with_role
from tenants.sso import email_domain, idp_groups_from_claims, sso_provider_sync

CAPABILITY = "tenants.manage_sso"
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 scope-token
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_GROUP_MAX = RoleMapping._meta.get_field("idp_group").max_length
TEST_TIMEOUT = 10


def tenant_sso_provider(*, tenant: Tenant) -> SsoProvider | None:
    """The tenant's provider as the self-service page edits it (the first by name, if the Django admin
    ever made several)."""
    return tenant_provider(tenant=tenant, protocol=SsoProvider.OIDC)


def tenant_provider(*, tenant: Tenant, protocol: str) -> SsoProvider | None:
    return (
        SsoProvider.objects.filter(tenant=tenant, protocol=protocol)
        .select_related("break_glass_user")
        .first()
    )


def _snapshot(provider: SsoProvider) -> dict:
    return {
        "name": provider.name,
        "issuer_url": provider.issuer_url,
        "client_id": provider.client_id,
        "client_secret": "set" if provider.has_client_secret else "not set",
        "scopes": provider.scopes,
        "groups_claim": provider.groups_claim,
        "email_domains": provider.domain_list,
        "jit_provisioning": provider.jit_provisioning,
        "enabled": provider.enabled,
        "enforce_sso": provider.enforce_sso,
        "break_glass_admin": provider.break_glass_user.email if provider.break_glass_user else None,
        "provider_id": provider.provider_id,
    }


def _clean_issuer(value: str) -> str:
    value = (value or "").strip().rstrip("/")
    try:
        URLValidator(schemes=["https", "http"])(value)
    except ValidationError:
        raise ValidationError(
            {"issuer_url": "Give the issuer as an http(s) URL, e.g. https://login.example.com."}
        )
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValidationError({"issuer_url": "An issuer URL has no query string or fragment."})
    return value


def _clean_scopes(value: str) -> str:
    scopes = (value or "").split()
    bad = [s for s in scopes if not _SCOPE_TOKEN.match(s)]
    if bad:
        raise ValidationError({"scopes": f"Not a valid scope: {bad[0]!r}."})
    if "openid" not in scopes:
        raise ValidationError({"scopes": "The scopes must include openid."})
    return " ".join(dict.fromkeys(scopes))


def _clean_domains(value: str) -> str:
    domains = [d.strip().lower() for d in (value or "").replace("\n", ",").split(",") if d.strip()]
    if not domains:
        raise ValidationError({"email_domains": "Name at least one e-mail domain this provider signs in."})
    bad = [d for d in domains if not _DOMAIN.match(d)]
    if bad:
        raise ValidationError({"email_domains": f"Not an e-mail domain: {bad[0]!r}."})
    return ", ".join(dict.fromkeys(domains))


def clean_common(*, name: str, email_domains: str, provider_id: str) -> tuple[dict, dict]:
    """The settings every protocol shares: (cleaned values, errors by field)."""
    errors: dict[str, str] = {}
    cleaned: dict = {}
    try:
        cleaned["email_domains"] = _clean_domains(email_domains)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    clean_text(cleaned, errors, "name", name, 120)
    provider_id = (provider_id or "").strip()
    if provider_id:
        try:
            SLUG_VALIDATOR(provider_id)
        except ValidationError as exc:
            errors["provider_id"] = exc.messages[0]
    cleaned["provider_id"] = provider_id
    return cleaned, errors


def clean_text(cleaned: dict, errors: dict, key: str, raw: str, limit: int, *, required: bool = True) -> None:
    value = (raw or "").strip()
    if required and not value:
        errors[key] = "This field is required."
    elif len(value) > limit:
        errors[key] = f"At most {limit} characters."
    cleaned[key] = value


def provider_store(
    *,
    tenant: Tenant,
    actor: User | None,
    protocol: str,
    cleaned: dict,
    errors: dict,
    jit_provisioning: bool,
    snapshot,
    create_errors: dict | None = None,
    model_fields: dict | None = None,
) -> tuple[SsoProvider, bool]:
    """Create or update the tenant's provider of `protocol` from cleaned values (model field -> value),
    keep allauth's app in step and audit it (`sso[.saml].provider_create|change`). A new provider starts
    disabled. `create_errors` apply only when there is no provider yet. Returns (provider, created)."""
    provider_id = cleaned.pop("provider_id", "")
    with transaction.atomic():
        provider = (
            SsoProvider.objects.select_for_update(of=("self",))
            .filter(tenant=tenant, protocol=protocol)
            .select_related("break_glass_user")
            .first()
        )
        creating = provider is None
        if creating:
            errors = {**(create_errors or {}), **errors}
        if errors:
            raise ValidationError(errors)
        provider = provider or SsoProvider(tenant=tenant, protocol=protocol, enabled=False)
        before = None if creating else snapshot(provider)
        for key, value in {**cleaned, **(model_fields or {})}.items():
            setattr(provider, key, value)
        provider.jit_provisioning = bool(jit_provisioning)
        if provider_id and provider_id != provider.provider_id:
            if SsoProvider.objects.filter(provider_id=provider_id).exclude(pk=provider.pk).exists():
                raise ValidationError({"provider_id": f"The sign-in id {provider_id!r} is taken."})
            provider.provider_id = provider_id
        try:
            provider.full_clean(exclude=["tenant", "social_app", "break_glass_user"])
        except ValidationError as exc:
            raise ValidationError({k: v[0] for k, v in exc.message_dict.items()})
        provider.save()
        sso_provider_sync(provider=provider, actor=actor)
        provider.refresh_from_db()
        after = snapshot(provider)
        if before is not None and "client_secret_encrypted" in (model_fields or {}):
            after["client_secret"] = "replaced"
        prefix = "sso.saml_provider" if protocol == SsoProvider.SAML else "sso.provider"
        record_audit(
            tenant=tenant,
            actor=actor,
            action=f"{prefix}_create" if creating else f"{prefix}_change",
            obj=provider,
            before=before,
            after=after,
        )
    return provider, creating


def sso_provider_save(
    *,
    tenant: Tenant,
    actor: User | None,
    name: str,
    issuer_url: str,
    client_id: str,
    client_secret: str | None,
    scopes: str,
    groups_claim: str,
    email_domains: str,
    jit_provisioning: bool,
    provider_id: str = "",
) -> SsoProvider:
    """Create or update the tenant's OIDC provider. An empty `client_secret` keeps the stored one. A new
    provider starts disabled: it is enabled (and later required) on purpose, after a connection test."""
    authorize_actor(actor, tenant, CAPABILITY)
    cleaned, errors = clean_common(name=name, email_domains=email_domains, provider_id=provider_id)
    for key, cleaner, raw in [("issuer_url", _clean_issuer, issuer_url), ("scopes", _clean_scopes, scopes)]:
        try:
            cleaned[key] = cleaner(raw)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    clean_text(cleaned, errors, "client_id", client_id, 200)
    clean_text(cleaned, errors, "groups_claim", groups_claim, 100)
    provider, _ = provider_store(
        tenant=tenant,
        actor=actor,
        protocol=SsoProvider.OIDC,
        cleaned=cleaned,
        errors=errors,
        jit_provisioning=jit_provisioning,
        snapshot=_snapshot,
        create_errors=(
            {}
            if client_secret
            else {"client_secret": "Give the client secret your identity provider issued."}
        ),
        model_fields={"client_secret_encrypted": secret_encrypt(client_secret)} if client_secret else None,
    )
    return provider


def sso_provider_set_state(
    *,
    provider: SsoProvider,
    actor: User | None,
    enabled: bool,
    enforce_sso: bool,
    break_glass_email: str = "",
) -> SsoProvider:
    """Turn sign-in through the provider on or off, and require it (password sign-in then only for the
    named break-glass admin, a tenant admin of this tenant)."""
    tenant = provider.tenant
    authorize_actor(actor, tenant, CAPABILITY)
    break_glass_email = (break_glass_email or "").strip().lower()
    with transaction.atomic():
        current = (
            SsoProvider.objects.select_for_update(of=("self",))
            .select_related("break_glass_user")
            .get(pk=provider.pk)
        )
        before = _snapshot(current)
        break_glass = None
        if break_glass_email:
            admins = {
                m.user.email.lower(): m.user for m in members_with_role(tenant=tenant, role=Role.TENANT_ADMIN)
            }
            break_glass = admins.get(break_glass_email)
            if break_glass is None:
                raise ValidationError(
                    {"break_glass_email": f"{break_glass_email} is not a tenant admin of {tenant.name}."}
                )
        if enforce_sso and not enabled:
            raise ValidationError({"enforce_sso": "Enable sign-in through the provider before requiring it."})
        if enforce_sso and break_glass is None:
            raise ValidationError(
                {
                    "break_glass_email": "Name the tenant admin who keeps password sign-in while SSO is required."
                }
            )
        if enabled and current.ready_to_enable:
            raise ValidationError({"enabled": current.ready_to_enable})
        current.enabled, current.enforce_sso, current.break_glass_user = (
            bool(enabled),
            bool(enforce_sso),
            break_glass,
        )
        try:
            current.clean()  # one e-mail domain routes to one enabled provider
        except ValidationError as exc:
            raise ValidationError({"enabled": exc.message_dict.get("email_domains", exc.messages)[0]})
        current.save(update_fields=["enabled", "enforce_sso", "break_glass_user"])
        sso_provider_sync(provider=current, actor=actor)
        after = _snapshot(current)
        if after != before:
            record_audit(
                tenant=tenant, actor=actor, action="sso.state_change", obj=current, before=before, after=after
            )
    return current


def password_signin_refusal(email: str) -> str:
    """Why a password sign-in for `email` is refused (its domain must use a provider that requires SSO),
    or "" when it may go ahead. The break-glass admin and platform superusers keep their password."""
    domain = email_domain(email)
    if not domain:
        return ""
    for provider in SsoProvider.objects.filter(enabled=True, enforce_sso=True).select_related(
        "break_glass_user"
    ):
        if domain not in provider.domain_list:
            continue
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is not None and (user.is_superuser or user.pk == provider.break_glass_user_id):
            return ""
        return f"{domain} signs in with {provider.name}: use the “Sign in with {provider.name}” button."
    return ""


# ------------------------------------------------------------------- connection test


@dataclass
class ConnectionReport:
    ok: bool
    steps: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, passed, detail in words)

    @property
    def error(self) -> str:
        return next((detail for _, passed, detail in self.steps if not passed), "")


def _fetch_json(url: str, what: str) -> dict:
    try:
        response = requests.get(url, timeout=TEST_TIMEOUT, headers={"Accept": "application/json"})
    except requests.Timeout:
        raise ValueError(f"{what}: no answer from {url} within {TEST_TIMEOUT} seconds.")
    except requests.ConnectionError:
        raise ValueError(f"{what}: could not connect to {url} (DNS name, port or firewall?).")
    except requests.RequestException as exc:
        raise ValueError(f"{what}: request to {url} failed ({exc.__class__.__name__}).")
    if response.status_code != 200:
        raise ValueError(f"{what}: {url} answered HTTP {response.status_code}, expected 200.")
    try:
        data = response.json()
    except ValueError:
        raise ValueError(f"{what}: {url} did not answer with JSON.")
    if not isinstance(data, dict):
        raise ValueError(f"{what}: {url} answered JSON that is not an object.")
    return data


def sso_connection_test(*, issuer_url: str) -> ConnectionReport:
    """OIDC discovery and a JWKS fetch, as a sign-in would do them; each failure explained in words."""
    report = ConnectionReport(ok=False)
    issuer = (issuer_url or "").strip().rstrip("/")
    discovery_url = f"{issuer}/.well-known/openid-configuration"
    try:
        config = _fetch_json(discovery_url, "Discovery")
    except ValueError as exc:
        report.steps.append(("Discovery document", False, str(exc)))
        return report
    if config.get("issuer", "").rstrip("/") != issuer:
        report.steps.append(
            (
                "Discovery document",
                False,
                f"The provider calls itself {config.get('issuer')!r}, not {issuer!r}: ID tokens would be refused. "
                "Use exactly the issuer the provider names.",
            )
        )
        return report
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not config.get(k)]
    if missing:
        report.steps.append(
            ("Discovery document", False, f"The discovery document lacks {', '.join(missing)}.")
        )
        return report
    report.steps.append(("Discovery document", True, f"Found at {discovery_url}."))
    try:
        jwks = _fetch_json(config["jwks_uri"], "Signing keys")
    except ValueError as exc:
        report.steps.append(("Signing keys (JWKS)", False, str(exc)))
        return report
    keys = [k for k in jwks.get("keys") or [] if isinstance(k, dict) and k.get("kty")]
    signing = [k for k in keys if k.get("use", "sig") == "sig" and k.get("kty") in {"RSA", "EC", "OKP"}]
    if not signing:
        report.steps.append(("Signing keys (JWKS)", False, f"{config['jwks_uri']} publishes no signing key."))
        return report
    report.steps.append(("Signing keys (JWKS)", True, f"{len(signing)} signing key(s) published."))
    report.ok = True
    return report


# ------------------------------------------------------------------- group -> role mappings


def role_mappings_parse(text: str) -> list[tuple[str, str]]:
    """`group = role` per line (blank lines and # comments skipped); an error names the line."""
    mappings: list[tuple[str, str]] = []
    labels = {label.lower(): value for value, label in Role.choices}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, role = line.rpartition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or not role:
            raise ValidationError({"mappings": f"Line {number}: write it as `IdP group = role`."})
        role = labels.get(role.lower(), role)
        if role not in ALL_ROLES:
            raise ValidationError(
                {"mappings": f"Line {number}: unknown role {role!r}. Roles: {', '.join(ALL_ROLES)}."}
            )
        if len(group) > _GROUP_MAX:
            raise ValidationError(
                {"mappings": f"Line {number}: the group name is over {_GROUP_MAX} characters."}
            )
        if (group, role) not in mappings:
            mappings.append((group, role))
    return mappings


def role_mappings_from_pairs(pairs: list[dict]) -> list[tuple[str, str]]:
    """The API's form: [{"idp_group": ..., "role": ...}]; an error names the item (from 1)."""
    mappings: list[tuple[str, str]] = []
    for number, pair in enumerate(pairs, start=1):
        group, role = str(pair.get("idp_group") or "").strip(), str(pair.get("role") or "").strip()
        if not group:
            raise ValidationError({"mappings": f"Item {number}: idp_group is required."})
        if len(group) > _GROUP_MAX:
            raise ValidationError({"mappings": f"Item {number}: idp_group is over {_GROUP_MAX} characters."})
        if role not in ALL_ROLES:
            raise ValidationError(
                {"mappings": f"Item {number}: unknown role {role!r}. Roles: {', '.join(ALL_ROLES)}."}
            )
        if (group, role) not in mappings:
            mappings.append((group, role))
    return mappings


def role_mappings_text(*, tenant: Tenant) -> str:
    return "\n".join(f"{m.idp_group} = {m.role}" for m in RoleMapping.objects.filter(tenant=tenant))


@dataclass
class MemberRoleChange:
    email: str
    groups: list[str]
    gain: list[str]
    lose: list[str]


def role_mappings_preview(*, tenant: Tenant, mappings: list[tuple[str, str]]) -> list[MemberRoleChange]:
    """Whose roles would change at their next SSO sign-in: members who signed in through one of the
    tenant's providers (OIDC or SAML), with the groups their IdP sent last time, under the proposed mappings."""
    from allauth.socialaccount.models import SocialAccount

    providers = {
        p.provider_id: p for p in SsoProvider.objects.filter(tenant=tenant).exclude(provider_id=None)
    }
    if not providers:
        return []
    by_group: dict[str, set[str]] = {}
    for group, role in mappings:
        by_group.setdefault(group, set()).add(role)
    members = {m.user_id: m for m in Membership.objects.filter(tenant=tenant).select_related("user")}
    latest: dict[int, SocialAccount] = {}  # a member who used both providers: the one used last
    accounts = SocialAccount.objects.filter(provider__in=providers, user_id__in=members).select_related(
        "user"
    )
    for account in accounts.order_by("last_login", "pk"):
        latest[account.user_id] = account
    changes = []
    for account in sorted(latest.values(), key=lambda a: a.user.email):
        claim = providers[account.provider].groups_claim
        groups = idp_groups_from_claims(account.extra_data, claim=claim)
        proposed = set().union(*(by_group.get(g, set()) for g in groups)) if groups else set()
        current = set(members[account.user_id].roles)
        gain = [r for r in ALL_ROLES if r in proposed - current]
        lose = [r for r in ALL_ROLES if r in current - proposed]
        if gain or lose:
            changes.append(MemberRoleChange(account.user.email, groups, gain, lose))
    return changes


def role_mappings_replace(*, tenant: Tenant, actor: User | None, mappings: list[tuple[str, str]]) -> bool:
    """Make the tenant's mappings exactly `mappings`; they apply at each member's next SSO sign-in."""
    authorize_actor(actor, tenant, CAPABILITY)
    with transaction.atomic():
        existing = {
            (m.idp_group, m.role): m for m in RoleMapping.objects.select_for_update().filter(tenant=tenant)
        }
        wanted = set(mappings)
        if wanted == set(existing):
            return False
        before = sorted(f"{g} = {r}" for g, r in existing)
        RoleMapping.objects.filter(pk__in=[m.pk for key, m in existing.items() if key not in wanted]).delete()
        RoleMapping.objects.bulk_create(
            [RoleMapping(tenant=tenant, idp_group=g, role=r) for g, r in mappings if (g, r) not in existing]
        )
        record_audit(
            tenant=tenant,
            actor=actor,
            action="sso.role_mappings_change",
            obj=tenant,
            before={"mappings": before},
            after={"mappings": sorted(f"{g} = {r}" for g, r in wanted)},
        )
    return True

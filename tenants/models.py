"""Users, tenants, memberships, IdP group mappings, personal API tokens and the admin audit trail."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from core.models import TenantOwned
from core.roles import ALL_ROLES, Role, role_permission, role_permission_choices

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person; logs in with an e-mail address. Tenancy comes from Membership."""

    username = None
    email = models.EmailField("e-mail address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Tenant(models.Model):
    class Edition(models.TextChoices):
        COMMUNITY = "community", "Community"
        TRIAL = "trial", "Trial"
        ENTERPRISE = "enterprise", "Enterprise"

    class Entitlement(models.TextChoices):
        ACTIVE = "active", "Active"
        TRIAL = "trial", "Trial"
        SUSPENDED = "suspended", "Suspended"
        EXPIRED = "expired", "Expired"

    slug = models.SlugField(max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField("display name", max_length=120)
    edition = models.CharField(max_length=20, choices=Edition.choices, default=Edition.COMMUNITY)
    entitlement_status = models.CharField(
        max_length=20, choices=Entitlement.choices, default=Entitlement.ACTIVE
    )
    entitlement_expires_at = models.DateField(null=True, blank=True)
    operating_contacts = models.TextField(
        blank=True, help_text="Who runs this tenant day to day (one per line)."
    )
    escalation_route = models.TextField(
        blank=True, help_text="Where incidents escalate (people, rota, channel)."
    )
    allow_self_approval = models.BooleanField(
        default=False, help_text="May an agent's owner approve their own agent's requests?"
    )
    mfa_required_roles = models.JSONField(
        "MFA required for roles",
        default=list,
        blank=True,
        help_text="Members holding any of these roles must use multi-factor authentication (tenants.mfa).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Bumped in the same transaction as any change to which policy applies where (rollouts,
    # repositories, environments), so the decision path can cache its rollout lookups per process.
    policy_generation = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["slug"]
        permissions = role_permission_choices()

    def __str__(self) -> str:
        return self.name

    @property
    def is_usable(self) -> bool:
        if self.entitlement_status in {self.Entitlement.SUSPENDED, self.Entitlement.EXPIRED}:
            return False
        return not (self.entitlement_expires_at and self.entitlement_expires_at < timezone.now().date())


def tenant_content_type():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Tenant)


def role_grants_attr(tenant_id: int) -> str:
    """Where tenants.selectors puts a user's prefetched guardian grants on one tenant."""
    return f"_role_grants_{tenant_id}"


class Membership(TenantOwned):
    """A user's place in a tenant. The roles held here are stored once, as guardian object permissions
    on the Tenant (`role_<name>`); `roles` reads them (tenants.selectors prefetches them for lists)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Deactivated (tenants.members.membership_deactivate): the member holds no role here, so no grant,
    # page, token or notification reaches them; the roles they held wait in `suspended_roles` only to be
    # granted again on reactivation (they are not read as roles anywhere else).
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suspended_roles = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["tenant__slug", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant.slug}"

    @property
    def roles(self) -> list[str]:
        """The roles held in this tenant, in the canonical order of core.roles."""
        grants = getattr(self.user, role_grants_attr(self.tenant_id), None)
        if grants is None:
            from guardian.models import UserObjectPermission

            codenames = set(
                UserObjectPermission.objects.filter(
                    user_id=self.user_id, content_type=tenant_content_type(), object_pk=str(self.tenant_id)
                ).values_list("permission__codename", flat=True)
            )
        else:
            codenames = {grant.permission.codename for grant in grants}
        return [role for role in ALL_ROLES if role_permission(role) in codenames]

    def role_labels(self) -> list[str]:
        labels = dict(Role.choices)
        return [labels.get(r, r) for r in self.roles]

    @property
    def is_active(self) -> bool:
        return self.deactivated_at is None

    def suspended_role_labels(self) -> list[str]:
        labels = dict(Role.choices)
        return [labels.get(r, r) for r in self.suspended_roles]


class RoleMapping(TenantOwned):
    """An IdP group whose members get a role in this tenant at every SSO login."""

    idp_group = models.CharField(max_length=200)
    role = models.CharField(max_length=40, choices=Role.choices)

    class Meta:
        ordering = ["idp_group", "role"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idp_group", "role"], name="rolemapping_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.idp_group} -> {self.role}"


class SsoProvider(TenantOwned):
    """A tenant's identity provider, OpenID Connect or SAML 2.0 (client secret never shown after saving).

    A tenant has at most one of each protocol on the self-service page; both share the tenant's
    RoleMapping rows, the e-mail domain routing and the enable / require / break-glass state."""

    OIDC, SAML = "oidc", "saml"
    PROTOCOLS = [(OIDC, "OpenID Connect"), (SAML, "SAML 2.0")]

    name = models.CharField(max_length=120)
    protocol = models.CharField(max_length=8, choices=PROTOCOLS, default=OIDC)
    issuer_url = models.URLField(blank=True)  # OIDC only
    client_id = models.CharField(max_length=200, blank=True)  # OIDC only
    # Fernet token (core.secrets); the plaintext is never stored, shown or logged.
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    scopes = models.CharField(
        max_length=300,
        default="openid email profile",
        help_text="Space-separated scopes requested at sign-in; must include openid.",
    )
    email_domains = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated domains routed here."
    )
    groups_claim = models.CharField(
        max_length=100,
        default="groups",
        help_text="Claim (in userinfo or the ID token) that lists the user's IdP groups.",
    )
    enabled = models.BooleanField(default=True)
    provider_id = models.SlugField(
        "sign-in id",
        max_length=100,
        unique=True,
        null=True,
        blank=True,
        validators=[SLUG_VALIDATOR],
        # No angle brackets: the admin renders help text as HTML, which swallowed "<id>" into /accounts/oidc//.
        help_text="Names the sign-in URLs /accounts/oidc/{sign-in id}/login/ and the redirect URI "
        "/accounts/oidc/{sign-in id}/login/callback/. Leave empty to derive it from tenant and name.",
    )
    jit_provisioning = models.BooleanField(
        "just-in-time provisioning",
        default=True,
        help_text="Create an account and membership at the first SSO sign-in of a person whose IdP groups "
        "map to a role. Off: only people already invited can sign in with SSO.",
    )
    enforce_sso = models.BooleanField(
        "require SSO",
        default=False,
        help_text="Refuse password sign-in for the routed e-mail domains, except the break-glass admin.",
    )
    break_glass_user = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The one tenant admin who keeps password sign-in while SSO is required.",
    )
    # SAML only. The IdP is described by its metadata, fetched from the URL (re-read by allauth, so a
    # rotated certificate is picked up) or pasted; what the portal last parsed is kept in saml_idp.
    saml_metadata_url = models.URLField("IdP metadata URL", max_length=500, blank=True)
    saml_metadata_xml = models.TextField("IdP metadata XML", blank=True)
    saml_idp_entity_id = models.CharField("IdP entity id", max_length=500, blank=True)
    saml_sp_entity_id = models.CharField(
        "SP entity id", max_length=500, blank=True, help_text="Empty: the SP metadata URL."
    )
    saml_email_attribute = models.CharField(max_length=200, blank=True)
    saml_first_name_attribute = models.CharField(max_length=200, blank=True)
    saml_last_name_attribute = models.CharField(max_length=200, blank=True)
    saml_idp = models.JSONField(
        default=dict, blank=True, editable=False, help_text="entityId, SSO URL and signing certificates."
    )
    # allauth's client registration, kept in step by tenants.sso.sso_provider_sync; never edited by hand.
    social_app = models.OneToOneField(
        "socialaccount.SocialApp",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="ssoprovider_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    @property
    def callback_path(self) -> str:
        if not self.provider_id:
            return ""
        if self.protocol == self.SAML:
            return f"/accounts/saml/{self.provider_id}/acs/"
        return f"/accounts/oidc/{self.provider_id}/login/callback/"

    @property
    def saml_metadata_path(self) -> str:
        return f"/accounts/saml/{self.provider_id}/metadata/" if self.provider_id else ""

    @property
    def ready_to_enable(self) -> str:
        """Why the provider cannot be enabled yet, or ""."""
        if self.protocol == self.SAML:
            return (
                ""
                if self.saml_idp.get("x509certs")
                else "Save IdP metadata with a signing certificate first."
            )
        return "" if self.has_client_secret else "Save the client secret before enabling the provider."

    @property
    def domain_list(self) -> list[str]:
        return [d.strip().lower() for d in self.email_domains.split(",") if d.strip()]

    def clean(self) -> None:
        # One e-mail domain routes to one enabled provider, or a login could land in the wrong tenant.
        if not self.enabled:
            return
        others = SsoProvider.objects.filter(enabled=True).exclude(pk=self.pk)
        claimed = {d for other in others for d in other.domain_list}
        taken = sorted(set(self.domain_list) & claimed)
        if taken:
            raise ValidationError(
                {"email_domains": f"Already routed to another sign-in provider: {', '.join(taken)}."}
            )


class AuditEntry(models.Model):
    """Who changed what, with before and after, for every membership and admin change."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=120)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


def new_personal_token_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "pat_" + "".join(secrets.choice(alphabet) for _ in range(16))


class PersonalAccessToken(TenantOwned):
    """A member's bearer token `cvp_…` for the API in one tenant; only its SHA-256 and first 12
    characters are stored. It acts as its user, with the roles the user holds in that tenant now."""

    public_id = models.CharField(max_length=32, unique=True, default=new_personal_token_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "personal API token"
        indexes = [models.Index(fields=["tenant", "user"])]

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"


def new_invitation_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "inv_" + "".join(secrets.choice(alphabet) for _ in range(16))


class Invitation(TenantOwned):
    """An e-mailed invitation to join a tenant with given roles. The link carries a random token of which
    only the SHA-256 is stored; resending replaces it, accepting or revoking ends it (single use)."""

    public_id = models.CharField(max_length=32, unique=True, default=new_invitation_id, editable=False)
    email = models.EmailField()
    full_name = models.CharField(max_length=150, blank=True)
    roles = models.JSONField(default=list)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    sent_count = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "email"])]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant_id}"

    @property
    def state(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= timezone.now() else "pending"

    def role_labels(self) -> list[str]:
        labels = dict(Role.choices)
        return [labels.get(r, r) for r in self.roles]

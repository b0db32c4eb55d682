"""Agent authentication for DRF: bearer tokens `cvr_…` and CI workload identity JWTs, and the principal both resolve to."""

from __future__ import annotations

import hmac

from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header

from core.usage import record_use
from registry.credential_cache import credential_cached
from registry.models import Agent, AgentCredential
from registry.services import TOKEN_PREFIX, token_hash
from registry.workload_identity import (
    IdentityProviderUnreachable,
    VerifiedWorkload,
    WorkloadIdentityError,
    looks_like_jwt,
    verify_workload_token,
)
from tenants.authentication import PersonalTokenAuthentication
from tenants.models import Tenant

_MAX_TOKEN_LENGTH = 200


class _NoRoles(dict):
    """Stands in for core.authz's per-user role cache: an agent holds no human role in any
    tenant, so human-only endpoints answer 403 instead of asking guardian about a non-User."""

    def __contains__(self, key) -> bool:
        return True

    def __missing__(self, key) -> frozenset:
        return frozenset()


class AgentPrincipal:
    """`request.user` for an agent: authenticated, never staff, carrying its agent and tenant, and either
    the `credential` (a `cvr_` token) or the `workload` (a verified CI identity token) it proved."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_agent = True
    pk = None
    id = None

    def __init__(
        self,
        agent: Agent,
        credential: AgentCredential | None = None,
        workload: VerifiedWorkload | None = None,
    ):
        self.agent = agent
        self.tenant = agent.tenant
        self.credential = credential
        self.workload = workload
        self._cavra_role_cache = _NoRoles()

    @property
    def email(self) -> str:
        return f"agent:{self.agent.public_id}"

    @property
    def display_name(self) -> str:
        return f"{self.agent.name} (agent)"

    def get_username(self) -> str:
        return self.email

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_perms(self, perms, obj=None) -> bool:
        return False

    def has_module_perms(self, app_label) -> bool:
        return False

    def __str__(self) -> str:
        return self.display_name


def _columns(model, alias: str) -> tuple[list, str]:
    fields = list(model._meta.concrete_fields)
    return fields, ", ".join(f'{alias}."{f.column}"' for f in fields)


_converters: dict[tuple, tuple] = {}


def _field_converters(field) -> tuple:
    """(column, converters): the value conversions the ORM itself applies to this column on this backend."""
    key = (connection.vendor, field.model._meta.label, field.name)
    if key not in _converters:
        column = field.get_col(field.model._meta.db_table)
        found = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        _converters[key] = (column, found)
    return _converters[key]


def _instance(model, fields: list, values) -> object:
    """A model instance from raw column values, converted exactly as the ORM converts them."""
    converted = []
    for field, value in zip(fields, values, strict=True):
        column, converters = _field_converters(field)
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


_CRED_FIELDS, _CRED_COLS = _columns(AgentCredential, "c")
_AGENT_FIELDS, _AGENT_COLS = _columns(Agent, "a")
_TENANT_FIELDS, _TENANT_COLS = _columns(Tenant, "t")
_CREDENTIAL_BY_HASH = (
    f"SELECT {_CRED_COLS}, {_AGENT_COLS}, {_TENANT_COLS} FROM {AgentCredential._meta.db_table} c"
    f" JOIN {Agent._meta.db_table} a ON a.id = c.agent_id JOIN {Tenant._meta.db_table} t ON t.id = a.tenant_id"
    " WHERE c.token_hash = %s"
)


def credential_by_hash(digest: str) -> AgentCredential | None:
    """The credential with its agent and tenant in one query, read fresh on every request (so a
    revocation counts at once). Written as SQL because compiling the equivalent three-model ORM
    query cost more than running it on the hot path of every agent request."""
    with connection.cursor() as cursor:
        cursor.execute(_CREDENTIAL_BY_HASH, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    first, second = len(_CRED_FIELDS), len(_CRED_FIELDS) + len(_AGENT_FIELDS)
    credential = _instance(AgentCredential, _CRED_FIELDS, row[:first])
    agent = _instance(Agent, _AGENT_FIELDS, row[first:second])
    agent.tenant = _instance(Tenant, _TENANT_FIELDS, row[second:])
    credential.agent = agent
    return credential


class AgentTokenAuthentication(BaseAuthentication):
    """Looks the token up by its SHA-256 (registry.credential_cache: in process, checked against the
    tenant's generation on every request, so revocation is immediate); refuses unknown, revoked and expired tokens and retired agents. A suspended agent still
    authenticates so the decision path can record and block what it asked.

    A bearer that is a JWT is a CI workload identity token instead: verified against its issuer's
    JWKS and resolved to the one enabled binding it matches (registry.workload_identity)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: send 'Bearer cvr_…'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The bearer token contains invalid characters.")
        if not token.startswith(TOKEN_PREFIX):
            if looks_like_jwt(token):
                return self.authenticate_workload(request, token)
            raise exceptions.AuthenticationFailed(
                "Invalid agent token: CAVRA agent tokens start with 'cvr_'."
            )
        if len(token) > _MAX_TOKEN_LENGTH:
            raise exceptions.AuthenticationFailed("Invalid or unknown agent token.")
        return self.authenticate_token(request, token)

    def authenticate_token(self, request, token: str):
        digest = token_hash(token)
        credential = credential_cached(digest, credential_by_hash)
        # The lookup is by the hash of a 256-bit secret; compare_digest guards the final comparison anyway.
        if credential is None or not hmac.compare_digest(credential.token_hash, digest):
            raise exceptions.AuthenticationFailed("Invalid or unknown agent token.")
        now = timezone.now()
        if credential.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This agent token has been revoked.")
        if credential.expires_at is not None and credential.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                "This agent token has expired; ask an operator for a new one."
            )
        agent = credential.agent
        if agent.status == Agent.Status.RETIRED or agent.tenant_id != credential.tenant_id:
            raise exceptions.AuthenticationFailed(
                f"Agent {agent.name} is retired; its tokens no longer work."
            )
        self._touch(credential, agent, now)
        principal = AgentPrincipal(agent, credential)
        self._bind_request(request, agent)
        return principal, credential

    def authenticate_workload(self, request, token: str):
        try:
            workload = verify_workload_token(token)
        except IdentityProviderUnreachable as exc:
            raise exceptions.AuthenticationFailed(str(exc), code="identity-provider-unreachable")
        except WorkloadIdentityError as exc:
            raise exceptions.AuthenticationFailed(str(exc), code="invalid-workload-identity")
        binding = workload.binding
        agent = binding.agent
        if agent.status == Agent.Status.RETIRED or agent.tenant_id != binding.tenant_id:
            raise exceptions.AuthenticationFailed(
                f"Agent {agent.name} is retired; its workload identities no longer work."
            )
        self._touch(binding, agent, timezone.now())
        principal = AgentPrincipal(agent, workload=workload)
        self._bind_request(request, agent)
        return principal, workload

    @staticmethod
    def _bind_request(request, agent: Agent) -> None:
        for target in (request, getattr(request, "_request", None)):
            if target is not None:
                target.tenant = agent.tenant
                target.agent = agent

    @staticmethod
    def _touch(used, agent: Agent, now) -> None:
        """A credential or binding was used: record it, and the agent as seen, at most once a minute."""
        if record_use(used, now):
            Agent.objects.filter(pk=agent.pk).update(last_seen_at=now)
            agent.last_seen_at = now

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="cavra"'


# Views that agents and signed-in people both call list this: token first so a 401 says "Bearer".
# People: a personal token (cvp_) or a browser session; agents: their own token (cvr_) or a CI OIDC JWT.
AGENT_OR_SESSION_AUTHENTICATION = [
    PersonalTokenAuthentication,
    AgentTokenAuthentication,
    SessionAuthentication,
]


def request_agent(request) -> Agent | None:
    """The agent behind this request, or None for a person."""
    user = getattr(request, "user", None)
    return getattr(user, "agent", None) if getattr(user, "is_agent", False) else None


class AgentTokenScheme(OpenApiAuthenticationExtension):
    """Names the agent token in the OpenAPI schema (securitySchemes.agentToken)."""

    target_class = "registry.authentication.AgentTokenAuthentication"
    name = "agentToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cvr_… or JWT",
            "description": (
                "An agent token issued on the agent's page, by the API or by `manage.py cavra_agent_token`; "
                "or a CI provider's OIDC token bound to the agent as a workload identity."
            ),
        }

"""DRF authentication by personal API token (`Bearer cvp_…`): a member acting through a script or bot."""

from __future__ import annotations

import hmac

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from core.usage import record_use
from tenants.models import Membership, PersonalAccessToken
from tenants.tokens import TOKEN_PREFIX, personal_token_hash

_MAX_TOKEN_LENGTH = 200


class PersonalTokenAuthentication(BaseAuthentication):
    """Claims only bearers starting with `cvp_`, so agent tokens and workload JWTs pass on to
    registry.authentication untouched (and a `cvp_` token is never tried as an agent's).

    The token, its user and tenant, and the user's membership are read fresh on every request (no
    cache), so revocation, expiry, deactivation and removal from the tenant count at once. The
    request is bound to the token's tenant whatever else the user belongs to; roles then come from
    core.authz exactly as for a browser session."""

    keyword = "Bearer"

    def _claims(self, request) -> bool:
        header = get_authorization_header(request).split()
        return (
            len(header) >= 2
            and header[0].lower() == self.keyword.lower().encode()
            and header[1].startswith(TOKEN_PREFIX.encode())
        )

    def authenticate(self, request):
        if not self._claims(request):
            return None
        header = get_authorization_header(request).split()
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: send 'Bearer cvp_…'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The bearer token contains invalid characters.")
        if len(token) > _MAX_TOKEN_LENGTH:
            raise exceptions.AuthenticationFailed("Invalid or unknown personal API token.")
        return self.authenticate_token(request, token)

    def authenticate_token(self, request, plaintext: str):
        digest = personal_token_hash(plaintext)
        token = PersonalAccessToken.objects.select_related("user", "tenant").filter(token_hash=digest).first()
        # The lookup is by the hash of a 256-bit secret; compare_digest guards the final comparison anyway.
        if token is None or not hmac.compare_digest(token.token_hash, digest):
            raise exceptions.AuthenticationFailed("Invalid or unknown personal API token.")
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This personal API token has been revoked.")
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                "This personal API token has expired; create a new one on the API tokens page."
            )
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled; its API tokens no longer work.")
        membership = Membership.objects.filter(tenant_id=token.tenant_id, user_id=user.pk).first()
        # A membership newer than the token means the user was removed and added again: tokens from the
        # earlier membership stay dead rather than silently coming back to life.
        if membership is None or membership.created_at > token.created_at:
            raise exceptions.AuthenticationFailed(
                f"{user.email} is no longer a member of the tenant this token was issued for."
            )
        membership.tenant = token.tenant
        membership.user = user
        record_use(token, now)
        self._bind_request(request, membership)
        return user, token

    @staticmethod
    def _bind_request(request, membership: Membership) -> None:
        for target in (request, getattr(request, "_request", None)):
            if target is not None:
                target.tenant = membership.tenant
                target.membership = membership
                target.memberships = [membership]

    def authenticate_header(self, request) -> str | None:
        """DRF asks only the first authenticator for the 401 challenge. Answer it for the requests this
        class claims; for any other, answer as the next authenticator would, so an anonymous or agent
        request gets exactly the status it got before personal tokens existed (403 where only a
        session is accepted, 401 Bearer where agent tokens are)."""
        if self._claims(request):
            return f'{self.keyword} realm="cavra"'
        # DRF builds fresh authenticator instances for the challenge, so find this one by its class.
        authenticators = list(getattr(request, "authenticators", None) or ())
        mine = [i for i, a in enumerate(authenticators) if type(a) is type(self)]
        following = authenticators[mine[0] + 1 :] if mine else []
        return following[0].authenticate_header(request) if following else None


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """Names the personal token in the OpenAPI schema (securitySchemes.personalToken)."""

    target_class = "tenants.authentication.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cvp_…",
            "description": (
                "A member's personal API token, created on the API tokens page (/tenants/tokens/). It acts "
                "as that member, with their roles, in the one tenant it was issued for."
            ),
        }

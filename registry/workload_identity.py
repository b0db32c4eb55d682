"""Workload identity: a CI provider's OIDC JWT, verified against its JWKS, resolved to the one bound agent."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings
from django.core.cache import cache

from registry.models import WorkloadIdentityBinding

logger = logging.getLogger(__name__)

# Asymmetric only: with HS* the "secret" would be the provider's public key, and `none` is no signature.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
_KEY_TYPES = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
}
# Claims the verifier itself checks; a glob on them in a binding would mean nothing.
VERIFIER_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat"})

LEEWAY_SECONDS = 30
MAX_TOKEN_LENGTH = 8192
MAX_TOKEN_LIFETIME = timedelta(hours=24)
JWKS_CACHE_SECONDS = 600
# An unknown kid refetches the JWKS at most this often per URL, so forged kids cannot amplify traffic.
REFETCH_INTERVAL_SECONDS = 30
# After a failed fetch, callers are refused for this long without asking the provider again.
FAILURE_CACHE_SECONDS = 10
FETCH_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024


class WorkloadIdentityError(Exception):
    """The token does not identify a bound workload; the message says why (it becomes the 401 detail)."""


class IdentityProviderUnreachable(WorkloadIdentityError):
    """The provider's discovery document or JWKS could not be fetched or used: refuse, never allow."""


@dataclass(frozen=True)
class VerifiedWorkload:
    binding: WorkloadIdentityBinding
    claims: dict

    @property
    def issuer(self) -> str:
        return self.claims["iss"]

    @property
    def subject(self) -> str:
        return self.claims["sub"]

    @property
    def jti(self) -> str | None:
        jti = self.claims.get("jti")
        return jti if isinstance(jti, str) else None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def http_allowed() -> bool:
    """Plain http issuers only in development and tests; a JWKS over http could be swapped in transit."""
    return bool(getattr(settings, "CAVRA_WORKLOAD_IDENTITY_ALLOW_HTTP", settings.DEBUG))


def url_problem(url: str) -> str | None:
    """Why `url` cannot be an issuer or JWKS URL, or None when it can."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "Enter a valid URL."
    schemes = ("https", "http") if http_allowed() else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        return "Enter an https:// URL." if schemes == ("https",) else "Enter an http(s):// URL."
    if parts.query or parts.fragment or parts.username or parts.password:
        return "The URL must not carry a query, a fragment or credentials."
    return None


def claim_text(value) -> str | None:
    """A claim as globs see it: strings and numbers as text, booleans as JSON; lists and objects never match."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return None


def binding_matches(binding: WorkloadIdentityBinding, claims: dict) -> bool:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not fnmatchcase(subject, binding.subject):
        return False
    for name, glob in (binding.required_claims or {}).items():
        text = claim_text(claims.get(name))
        if text is None or not fnmatchcase(text, glob):
            return False
    return True


# ---------------------------------------------------------------- verification


def verify_workload_token(token: str) -> VerifiedWorkload:
    """The binding (and so the agent and tenant) this token proves, or WorkloadIdentityError.

    Nothing is fetched for an issuer no binding names: the token's own `iss` never chooses a URL."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise WorkloadIdentityError("The identity token is too long.")
    header = _header(token)
    unverified = _unverified_claims(token)
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise WorkloadIdentityError("The identity token has no iss (issuer) claim.")
    audiences = _audiences(unverified.get("aud"))
    if not audiences:
        raise WorkloadIdentityError("The identity token has no aud (audience) claim.")
    candidates = list(
        WorkloadIdentityBinding.objects.filter(issuer=issuer, enabled=True, audience__in=audiences)
        .select_related("agent", "agent__tenant")
        .order_by("pk")
    )
    if not candidates:
        raise WorkloadIdentityError(
            f"No enabled workload identity is bound for issuer {issuer} and audience {', '.join(audiences)}."
        )
    # Bindings of one issuer normally share its JWKS; an explicit jwks_url may differ, so verify per URL.
    urls: dict[int, str] = {}
    verified: dict[str, dict] = {}
    tried: set[str] = set()
    first_error: WorkloadIdentityError | None = None
    for binding in candidates:
        try:
            urls[binding.pk] = url = _jwks_url(binding)
            if url not in tried:
                tried.add(url)
                verified[url] = _verify(token, header, url, issuer)
        except WorkloadIdentityError as exc:
            first_error = first_error or exc
    if not verified:
        raise first_error or WorkloadIdentityError("The identity token could not be verified.")
    matches = [
        b for b in candidates if urls.get(b.pk) in verified and binding_matches(b, verified[urls[b.pk]])
    ]
    subject = next(iter(verified.values()))["sub"]
    if not matches:
        raise WorkloadIdentityError(
            f"No enabled workload identity binding matches this token (issuer {issuer}, subject {subject})."
        )
    if len(matches) > 1:
        raise WorkloadIdentityError(
            f"Ambiguous workload identity: {len(matches)} bindings match this token (issuer {issuer}, "
            f"subject {subject}); an operator must narrow their subject or claim globs."
        )
    binding = matches[0]
    return VerifiedWorkload(binding=binding, claims=verified[urls[binding.pk]])


def _header(token: str) -> dict:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise WorkloadIdentityError("The bearer token is neither a CAVRA token nor a well-formed JWT.")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise WorkloadIdentityError(
            f"The identity token's algorithm {alg!r} is not accepted; use one of {', '.join(ALLOWED_ALGORITHMS)}."
        )
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise WorkloadIdentityError("The identity token has no kid (key id) header.")
    if "crit" in header:
        raise WorkloadIdentityError(
            "The identity token uses critical header extensions, which are not supported."
        )
    return header


def _unverified_claims(token: str) -> dict:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise WorkloadIdentityError("The identity token's claims are not valid JSON.")
    if not isinstance(claims, dict):
        raise WorkloadIdentityError("The identity token's claims are not a JSON object.")
    return claims


def _audiences(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [a for a in value if isinstance(a, str)][:20]
    return []


def _verify(token: str, header: dict, jwks_url: str, issuer: str) -> dict:
    alg = header["alg"]
    key = _signing_key(jwks_url, header["kid"], alg)
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={
                "require": ["iss", "sub", "aud", "exp", "iat"],
                "verify_aud": False,  # the binding's audience was matched exactly in the lookup
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.ExpiredSignatureError:
        raise WorkloadIdentityError("The identity token has expired.")
    except jwt.ImmatureSignatureError:
        raise WorkloadIdentityError("The identity token is not valid yet (nbf or iat is in the future).")
    except jwt.InvalidIssuerError:
        raise WorkloadIdentityError("The identity token's issuer does not match the binding.")
    except jwt.MissingRequiredClaimError as exc:
        raise WorkloadIdentityError(f"The identity token has no {exc.claim} claim.")
    except jwt.InvalidSignatureError:
        raise WorkloadIdentityError("The identity token's signature does not verify with the issuer's key.")
    except jwt.InvalidTokenError as exc:
        raise WorkloadIdentityError(f"The identity token is invalid: {exc}.")
    if claims["exp"] - time.time() > MAX_TOKEN_LIFETIME.total_seconds():
        raise WorkloadIdentityError("The identity token lives longer than 24 hours; use a short-lived token.")
    if not isinstance(claims["sub"], str):
        raise WorkloadIdentityError("The identity token's sub claim is not a string.")
    return claims


def _signing_key(jwks_url: str, kid: str, alg: str) -> jwt.PyJWK:
    jwks, fresh = _jwks(jwks_url)
    jwk = _find_key(jwks, kid)
    if jwk is None and not fresh and _cache_add(_key("refetch", jwks_url), REFETCH_INTERVAL_SECONDS):
        # The provider may have rotated its keys since we cached them: look once more.
        jwks = _fetch_jwks(jwks_url)
        jwk = _find_key(jwks, kid)
    if jwk is None:
        raise WorkloadIdentityError(f"The identity token's key id {kid!r} is not in the issuer's JWKS.")
    kty, crv = _KEY_TYPES[alg]
    if jwk.get("kty") != kty or (crv and jwk.get("crv") != crv):
        raise WorkloadIdentityError(f"Key {kid!r} of the issuer's JWKS is not a key for {alg}.")
    if jwk.get("alg") not in (None, alg) or jwk.get("use") not in (None, "sig"):
        raise WorkloadIdentityError(
            f"Key {kid!r} of the issuer's JWKS is not published for {alg} signatures."
        )
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        raise WorkloadIdentityError(f"Key {kid!r} of the issuer's JWKS cannot be used.")


def _find_key(jwks: dict, kid: str) -> dict | None:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return None
    return next((k for k in keys if isinstance(k, dict) and k.get("kid") == kid), None)


# ---------------------------------------------------------------- fetching and caching


def _key(kind: str, url: str) -> str:
    return f"cavra:wid:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def _cache_get(key: str):
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage costs a fetch, it does not stop authentication
        logger.warning("cache unavailable while reading %s", key)
        return None


def _cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("cache unavailable while writing %s", key)


def _cache_add(key: str, timeout: int) -> bool:
    """True when this caller won the right to act now; False (no refetch) when the cache is down."""
    try:
        return bool(cache.add(key, 1, timeout))
    except Exception:  # noqa: BLE001
        return False


def _jwks_url(binding: WorkloadIdentityBinding) -> str:
    return binding.jwks_url or _discovered_jwks_url(binding.issuer)


def _discovered_jwks_url(issuer: str) -> str:
    cache_key = _key("jwks-uri", issuer)
    cached = _cache_get(cache_key)
    if cached:
        return cached
    document = _fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration", issuer)
    jwks_uri = document.get("jwks_uri")
    if document.get("issuer") != issuer:
        raise IdentityProviderUnreachable(
            f"The identity provider {issuer} could not be used: its discovery document names another issuer."
        )
    if not isinstance(jwks_uri, str) or url_problem(jwks_uri):
        raise IdentityProviderUnreachable(
            f"The identity provider {issuer} could not be used: its discovery document has no usable jwks_uri."
        )
    _cache_set(cache_key, jwks_uri, JWKS_CACHE_SECONDS)
    return jwks_uri


def _jwks(url: str) -> tuple[dict, bool]:
    """(the JWKS, whether it was fetched just now)."""
    cached = _cache_get(_key("jwks", url))
    if cached is not None:
        return cached, False
    return _fetch_jwks(url), True


def _fetch_jwks(url: str) -> dict:
    jwks = _fetch_json(url, url)
    if not isinstance(jwks.get("keys"), list):
        raise IdentityProviderUnreachable(
            f"The identity provider could not be used: {url} is not a JWKS (no keys list)."
        )
    _cache_set(_key("jwks", url), jwks, JWKS_CACHE_SECONDS)
    return jwks


def _fetch_json(url: str, provider: str) -> dict:
    failed = _cache_get(_key("failed", url))
    if failed:
        raise IdentityProviderUnreachable(failed)
    try:
        return _get_json(url)
    except IdentityProviderUnreachable as exc:
        message = f"The identity provider {provider} could not be reached: {exc}"
        logger.warning("workload identity: %s", message)
        _cache_set(_key("failed", url), message, FAILURE_CACHE_SECONDS)
        raise IdentityProviderUnreachable(message)


def _get_json(url: str) -> dict:
    problem = url_problem(url)
    if problem:
        raise IdentityProviderUnreachable(f"{url} is not an allowed URL ({problem})")
    deadline = time.monotonic() + FETCH_TIMEOUT_SECONDS
    body = bytearray()
    try:
        # No redirects: the URL an operator bound is the URL we trust.
        with requests.get(
            url,
            timeout=(2.0, 3.0),
            stream=True,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise IdentityProviderUnreachable(f"{url} answered HTTP {response.status_code}")
            for chunk in response.iter_content(16 * 1024):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise IdentityProviderUnreachable(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise IdentityProviderUnreachable(f"{url} took longer than {FETCH_TIMEOUT_SECONDS:g} s")
    except requests.RequestException as exc:
        raise IdentityProviderUnreachable(f"{url} failed ({type(exc).__name__})")
    try:
        document = json.loads(body)
    except ValueError:
        raise IdentityProviderUnreachable(f"{url} did not answer JSON")
    if not isinstance(document, dict):
        raise IdentityProviderUnreachable(f"{url} did not answer a JSON object")
    return document

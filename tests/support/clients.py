"""Test clients as the portal's callers hold them: a signed-in person, or a script with a bearer token."""

from __future__ import annotations

from django.test import Client

from tenants.middleware import SESSION_KEY
from tenants.models import Tenant, User


def logged_in(
    user: User | None, tenant: Tenant | None = None, client_class=Client, **client_kwargs
) -> Client:
    """A Client (or DRF's APIClient) logged in as user (anonymous for None), with tenant active in the session."""
    client = client_class(**client_kwargs)
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        if tenant is not None:
            session = client.session
            session[SESSION_KEY] = tenant.pk
            session.save()
    return client


def bearer_client(token: str, **client_kwargs) -> Client:
    """A Client whose every request carries `Authorization: Bearer token` (no session, no cookie)."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", **client_kwargs)

"""Shared fixtures: demo-like tenants, members with roles, and clients logged in to a tenant."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from tenants.middleware import SESSION_KEY
from tenants.models import Tenant, User
from tenants.services import membership_add, tenant_create

_counter = itertools.count()


@pytest.fixture
def acme(db) -> Tenant:
    return tenant_create(slug="acme", name="Acme Corp", starter_setup=False)


@pytest.fixture
def globex(db) -> Tenant:
    return tenant_create(slug="globex", name="Globex", starter_setup=False)


@pytest.fixture
def member(db):
    """member(tenant, *roles, email=None) -> a new user holding exactly those roles in tenant."""

    def make(tenant: Tenant, *roles: str, email: str | None = None) -> User:
        email = email or f"user{next(_counter)}@{tenant.slug}.test"
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email=email, password="pw-test-123"
        )
        if roles:
            membership_add(tenant=tenant, user=user, roles=list(roles), actor=None)
        return user

    return make


@pytest.fixture
def client_as(db):
    """client_as(user, tenant=None) -> a Client logged in as user, with tenant active in the session."""

    def make(user: User | None, tenant: Tenant | None = None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
            if tenant is not None:
                session = client.session
                session[SESSION_KEY] = tenant.pk
                session.save()
        return client

    return make

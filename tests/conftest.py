"""Shared fixtures: demo-like tenants, members with roles, and clients logged in to a tenant."""

from __future__ import annotations

import pytest
from django.test import Client

from cavra_portal.celery import app as celery_app
from tenants.models import Tenant, User
from tests.factories import MemberFactory, TenantFactory
from tests.support.clients import logged_in


@pytest.fixture
def acme(db) -> Tenant:
    return TenantFactory(slug="acme", name="Acme Corp")


@pytest.fixture
def globex(db) -> Tenant:
    return TenantFactory(slug="globex", name="Globex")


@pytest.fixture
def member(db):
    """member(tenant, *roles, email=None) -> a user holding exactly those roles in tenant (an existing
    email is reused, so one person can be a member of two tenants)."""

    def make(tenant: Tenant, *roles: str, email: str | None = None) -> User:
        return MemberFactory(tenant=tenant, roles=roles, **({"email": email} if email else {}))

    return make


@pytest.fixture
def client_as(db):
    """client_as(user, tenant=None) -> a Client logged in as user, with tenant active in the session."""
    return logged_in


@pytest.fixture
def client_with_role(db, member):
    """client_with_role(tenant, *roles) -> a Client of a new member holding those roles in tenant."""

    def make(tenant: Tenant, *roles: str) -> Client:
        return logged_in(member(tenant, *roles), tenant)

    return make


@pytest.fixture
def celery_inline():
    """Queued tasks run inline (the demo mode; the worker runs the same code), so outbox deliveries
    land in Django's locmem mailbox. Folders whose tests all need it use it from their conftest."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before

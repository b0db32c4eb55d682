"""Evidence fixtures: an auditor of acme signed in."""

from __future__ import annotations

import pytest

from core.roles import Role


@pytest.fixture
def auditor_client(acme, member, client_as):
    return client_as(member(acme, Role.AUDITOR), acme)

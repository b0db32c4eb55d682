"""Registry fixtures: an operator of acme (op@acme.test) signed in."""

from __future__ import annotations

import pytest

from core.roles import Role


@pytest.fixture
def operator_client(acme, member, client_as):
    return client_as(member(acme, Role.OPERATOR, email="op@acme.test"), acme)

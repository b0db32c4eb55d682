"""The chain lock is not held through the WAL flush, yet evidence is durable before the caller answers."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from evidence.models import EvidenceRecord
from evidence.services import evidence_append

pytestmark = pytest.mark.django_db(transaction=True)


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def _barriers() -> int:
    return sum(1 for entry in connection.run_on_commit if getattr(entry[1], "cavra_durability", False))


def test_commit_is_relaxed_only_inside_the_append_transaction(acme):
    assert _setting() == "on"
    with transaction.atomic():
        evidence_append(tenant=acme, kind="test", subject="a", payload={"n": 1})
        evidence_append(tenant=acme, kind="test", subject="b", payload={"n": 2})
        assert _setting() == "off"  # this transaction's commit does not wait for the flush...
        assert _barriers() == 1  # ...but exactly one durability wait follows it
    assert _setting() == "on"
    assert list(
        EvidenceRecord.objects.filter(tenant=acme, kind="test").values_list("subject", flat=True)
    ) == ["b", "a"]


def test_a_rolled_back_append_does_not_suppress_the_next_wait(acme):
    with pytest.raises(RuntimeError), transaction.atomic():
        evidence_append(tenant=acme, kind="test", subject="gone", payload={})
        raise RuntimeError("caller failed")
    assert not EvidenceRecord.objects.filter(subject="gone").exists()
    with transaction.atomic():
        evidence_append(tenant=acme, kind="test", subject="kept", payload={})
        assert _barriers() == 1

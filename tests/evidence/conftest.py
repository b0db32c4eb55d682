import pytest
from django.db import transaction

from evidence.services import evidence_append


@pytest.fixture
def append():
    """append(tenant, n=1, **payload) -> the last record, each in its own transaction."""

    def make(tenant, n=1, kind="test.event", **payload):
        record = None
        for i in range(n):
            with transaction.atomic():
                record = evidence_append(
                    tenant=tenant, kind=kind, subject=f"subj:{i}", payload={"i": i, **payload}
                )
        return record

    return make

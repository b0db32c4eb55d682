"""Two check runs at the same moment (beat and a person's "run now"): one finding per object, one record each."""

from __future__ import annotations

import pytest

from aispm.models import Finding
from aispm.services.findings import findings_refresh
from evidence.models import EvidenceRecord
from registry.services import agent_create
from tests.approvals.test_concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_refreshes_open_each_finding_once(acme, round_):
    for n in range(3):
        agent_create(tenant=acme, actor=None, name=f"bot-{n}", profile="claude-code")  # no owner
    results = race(lambda: findings_refresh(tenant=acme), lambda: findings_refresh(tenant=acme))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Finding.objects.filter(tenant=acme, check_id="agent.no_owner").count() == 3
    assert sum(r.opened for r in results) == Finding.objects.filter(tenant=acme).count()
    opened = EvidenceRecord.objects.filter(tenant=acme, kind="aispm.finding.opened")
    assert opened.count() == Finding.objects.filter(tenant=acme).count()

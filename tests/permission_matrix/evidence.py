"""Evidence pages and API: compliance officers, auditors and tenant admins; retention edits narrower."""

from core.roles import Role
from evidence.services import chain_verify, checkpoint_create
from tests.factories import EvidenceRecordFactory
from tests.permission_matrix import Entry

READERS = (Role.COMPLIANCE_OFFICER, Role.AUDITOR, Role.TENANT_ADMIN)
RETENTION_EDITORS = (Role.TENANT_ADMIN, Role.COMPLIANCE_OFFICER)


def _record(ctx) -> dict:
    return {"public_id": EvidenceRecordFactory(tenant=ctx.tenant, kind="matrix.test").public_id}


def _record_under_head(ctx) -> dict:
    kwargs = _record(ctx)
    checkpoint_create(tenant=ctx.tenant)
    return kwargs


def _verification(ctx) -> None:
    chain_verify(tenant=ctx.tenant)


ENTRIES = [
    Entry("evidence:explorer", roles=READERS),
    Entry("evidence:export", roles=READERS, note="CSV of the page's rows (tests/core/test_list_tables.py)"),
    Entry("evidence:record", roles=READERS, kwargs=_record),
    Entry("evidence:verification", roles=READERS),
    Entry("evidence:verification", roles=READERS, method="POST", data={}, ok=(302,)),
    Entry("evidence:bundle", roles=READERS, method="POST", data={}),
    Entry("evidence:trust-root", roles=READERS),
    Entry("evidence:doctor", roles=(Role.TENANT_ADMIN,)),
    Entry("evidence:retention", roles=READERS),
    Entry(
        "evidence:retention", roles=RETENTION_EDITORS, method="POST", data={"retention_days": 3000}, ok=(302,)
    ),
    Entry("evidence-api:records", roles=READERS, api=True),
    Entry("evidence-api:record", roles=READERS, api=True, kwargs=_record),
    Entry("evidence-api:record-proof", roles=READERS, api=True, kwargs=_record_under_head),
    Entry(
        "evidence-api:consistency",
        roles=READERS,
        api=True,
        query="?from=1",
        ok=(200, 400),
        note="400 problem naming `to` until the tenant has a signed tree head",
    ),
    Entry("evidence-api:checkpoints", roles=READERS, api=True),
    Entry("evidence-api:checkpoints", roles=READERS, api=True, method="POST", ok=(201,)),
    Entry("evidence-api:trust-root", roles=READERS, api=True),
    Entry("evidence-api:bundles", roles=READERS, api=True, method="POST", data={}),
    Entry("evidence-api:verification", roles=READERS, api=True, method="POST", data={}),
    Entry(
        "evidence-api:bundle-verify",
        roles=READERS,
        api=True,
        method="POST",
        data={},
        ok=(400,),
        note="an empty upload is a 400 problem naming `bundle`; the matrix checks who gets that far",
    ),
    Entry(
        "evidence-api:verification",
        roles=READERS,
        api=True,
        setup=_verification,
        note="the latest run; a tenant that never ran one gets a 404 problem (tests/evidence/test_views_api.py)",
    ),
    Entry("evidence-api:siem", roles=READERS, api=True, query="?output=cef"),
]

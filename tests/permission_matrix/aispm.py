"""AISPM: posture, findings, coverage, near-misses, timeline, readiness, checks (pages and API)."""

from aispm.models import Finding
from aispm.selectors import CHECK_ADMIN_ROLES, DETAIL_ROLES, FINDING_WRITE_ROLES, SUMMARY_ROLES
from tests.permission_matrix import Entry


def _finding(ctx) -> dict:
    finding = Finding.objects.create(
        tenant=ctx.tenant, check_id="agent.no_owner", subject_key=f"agent:agt_{ctx.seq()}", title="Agent has no owner",
        surface="general_policy", severity="high",
    )  # fmt: skip
    return {"public_id": finding.public_id}


def _finding_api(ctx) -> dict:
    return {"finding_id": _finding(ctx)["public_id"]}


SOC2 = {"framework": "soc2"}
SHARED = {"no_other_tenant_check": True}  # a control catalogue is shared, not a tenant object

ENTRIES = [
    Entry("aispm:overview", roles=SUMMARY_ROLES),
    Entry("aispm:trend-csv", roles=SUMMARY_ROLES),
    Entry("aispm:score", roles=SUMMARY_ROLES, query="?surface=mcp_tools"),
    Entry("aispm:findings", roles=SUMMARY_ROLES),
    Entry("aispm:findings-csv", roles=SUMMARY_ROLES, query="?status=unresolved"),
    Entry("aispm:findings-refresh", roles=FINDING_WRITE_ROLES, method="POST", ok=(302,)),
    Entry("aispm:finding", roles=SUMMARY_ROLES, kwargs=_finding),
    Entry(
        "aispm:finding-transition",
        roles=FINDING_WRITE_ROLES,
        method="POST",
        kwargs=_finding,
        data={"action": "acknowledge"},
        ok=(302,),
    ),
    Entry("aispm:coverage", roles=SUMMARY_ROLES),
    Entry("aispm:framework", roles=SUMMARY_ROLES, kwargs=lambda ctx: SOC2, extra=SHARED),
    Entry("aispm:framework-csv", roles=DETAIL_ROLES, kwargs=lambda ctx: SOC2, extra=SHARED),
    Entry(
        "aispm:control", roles=DETAIL_ROLES, kwargs=lambda ctx: {**SOC2, "control_id": "CC6.1"}, extra=SHARED
    ),
    Entry("aispm:near-misses", roles=DETAIL_ROLES),
    Entry("aispm:timeline", roles=DETAIL_ROLES),
    Entry("aispm:readiness", roles=SUMMARY_ROLES),
    Entry("aispm:readiness-packet", roles=SUMMARY_ROLES),
    Entry("aispm:checks", roles=DETAIL_ROLES),
    Entry(
        "aispm:check-setting",
        roles=CHECK_ADMIN_ROLES,
        method="POST",
        data={"check_id": "credential.unused", "enabled": "on", "threshold_days": "60"},
        ok=(302,),
    ),
    Entry("aispm-api:posture", roles=SUMMARY_ROLES, api=True),
    Entry("aispm-api:findings", roles=SUMMARY_ROLES, api=True),
    Entry("aispm-api:finding", roles=SUMMARY_ROLES, api=True, kwargs=_finding_api),
    Entry(
        "aispm-api:finding-transitions",
        roles=FINDING_WRITE_ROLES,
        api=True,
        method="POST",
        kwargs=_finding_api,
        data={"action": "acknowledge"},
    ),
    Entry("aispm-api:timeline", roles=DETAIL_ROLES, api=True),
    Entry("aispm-api:control-coverage", roles=SUMMARY_ROLES, api=True),
    Entry("aispm-api:near-misses", roles=DETAIL_ROLES, api=True),
    Entry("aispm-api:readiness", roles=SUMMARY_ROLES, api=True),
]

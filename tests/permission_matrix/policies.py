"""Policies, rollouts, the activity explorer and the decision API."""

from core.roles import Role
from evidence.models import AgentSession, Decision
from policies.models import PublishPlan
from tests.factories import (
    MINIMAL_PACK,
    AgentSessionFactory,
    DecisionFactory,
    PolicyVersionFactory,
    RolloutFactory,
)
from tests.permission_matrix import Entry

# Spelled out here, not imported from the code, so the matrix is an independent statement of who may do what.
ACTIVITY_ROLES = (
    Role.TENANT_ADMIN,
    Role.SECURITY_REVIEWER,
    Role.OPERATOR,
    Role.EVALUATOR,
    Role.COMPLIANCE_OFFICER,
    Role.AUDITOR,
)
POLICY_READ_ROLES = ACTIVITY_ROLES
POLICY_WRITE_ROLES = (Role.TENANT_ADMIN, Role.OPERATOR)

PACK = MINIMAL_PACK.format(pack_id="matrix-pack")


def _version(ctx) -> dict:
    return {"public_id": PolicyVersionFactory(tenant=ctx.tenant).public_id}


def _rollout(ctx) -> dict:
    return {"public_id": RolloutFactory(version=PolicyVersionFactory(tenant=ctx.tenant)).public_id}


def _decision(ctx) -> Decision:
    return DecisionFactory(tenant=ctx.tenant)


def _session(ctx) -> AgentSession:
    return AgentSessionFactory(tenant=ctx.tenant)


def _rollout_form(ctx) -> dict:
    version = PolicyVersionFactory(tenant=ctx.tenant)
    return {"version": version.public_id, "repository": "acme/web", "environment": "", "mode": "enforce"}


def _draft(ctx):
    from policies.services.drafts import policy_draft_create

    return policy_draft_create(tenant=ctx.tenant, actor=None, bundled_pack="baseline")


def _plan(ctx):
    from policies.services.plans import publish_plan_create

    return publish_plan_create(draft=_draft(ctx), actor=None)


def _replay(ctx):
    from cavra_engine.policy import compile_pack, load_bundled_pack
    from policies.services.replay import policy_replay_start

    _decision(ctx)
    return policy_replay_start(
        tenant=ctx.tenant,
        actor=None,
        compiled=compile_pack(load_bundled_pack("baseline")),
        label="b",
        run_now=True,
    )


def _signed_version(ctx):
    from policies.services.signing import policy_version_sign

    version = PolicyVersionFactory(tenant=ctx.tenant, text=PACK)
    version.signature = policy_version_sign(version=version, plan_ref=None)
    version.save(update_fields=["signature"])
    return version


def _rollout_plan(ctx, *, applied: bool = False):
    from policies.services.rollout_plans import rollout_change_plan_create

    version = PolicyVersionFactory(tenant=ctx.tenant, text=PACK)
    plan = rollout_change_plan_create(
        tenant=ctx.tenant, actor=None, version=version, repository=f"acme/r{ctx.seq()}"
    )
    if applied:
        # A scope with nothing in force blocks everything: rolling a pack out there is planned as loosening,
        # so the matrix applies it directly to get an applied plan to roll back.
        from policies.services import rollout_set

        rollout_set(
            tenant=ctx.tenant, version=version, mode="enforce", actor=None, repository=plan.repository
        )
        plan.status = "applied"
        plan.before = None
        plan.save(update_fields=["status", "before"])
    return plan


def _tightening_plan(ctx):
    from policies.services.rollout_plans import rollout_change_plan_create

    version = PolicyVersionFactory(tenant=ctx.tenant, text=PACK)
    return rollout_change_plan_create(
        tenant=ctx.tenant, actor=None, version=version, remove=False, mode="enforce"
    )


GOVERNANCE_ENTRIES = [
    Entry(
        "policies:rollout-plan",
        roles=POLICY_READ_ROLES,
        kwargs=lambda ctx: {"public_id": _rollout_plan(ctx).public_id},
    ),
    Entry(
        "policies:rollout-plan-apply",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        kwargs=lambda ctx: {"public_id": _rollout_plan(ctx).public_id},
        ok=(302,),
    ),
    Entry(
        "policies:rollout-plan-rollback",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        kwargs=lambda ctx: {"public_id": _rollout_plan(ctx, applied=True).public_id},
        ok=(302,),
    ),
    Entry("policies:audit-results", roles=POLICY_READ_ROLES),
    Entry("policies:canaries", roles=POLICY_READ_ROLES),
    Entry(
        "policies:canaries",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        data={
            "canaries": "- {id: prod-dump, title: dump prod, action: execute_command, target: pg_dump -h prod}"
        },
        ok=(302,),
    ),
    Entry(
        "policies-api:rollout-change-plan",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        api=True,
        data=lambda ctx: {"version": PolicyVersionFactory(tenant=ctx.tenant, text=PACK).public_id},
        ok=(201,),
    ),
    Entry(
        "policies-api:rollout-apply-change",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        api=True,
        data=lambda ctx: {"plan": _tightening_plan(ctx).public_id},
        ok=(200, 202, 400),
        note="a plan of this tenant: applied (200) or refused as stale when an earlier role applied it (400)",
    ),
    Entry("policies-api:rollout-audit-results", roles=POLICY_READ_ROLES, api=True),
    Entry("policies:drafts", roles=POLICY_READ_ROLES),
    Entry(
        "policies:draft-create",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        data={"from": "bundled:git"},
        ok=(302,),
    ),
    Entry("policies:draft", roles=POLICY_READ_ROLES, kwargs=lambda ctx: {"public_id": _draft(ctx).public_id}),
    Entry(
        "policies:draft",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        kwargs=lambda ctx: {"public_id": _draft(ctx).public_id},
        data={"source": PACK},
        ok=(302,),
    ),
    Entry(
        "policies:draft-plan",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        kwargs=lambda ctx: {"public_id": _draft(ctx).public_id},
        ok=(302,),
    ),
    Entry("policies:plan", roles=POLICY_READ_ROLES, kwargs=lambda ctx: {"public_id": _plan(ctx).public_id}),
    Entry(
        "policies:plan-request",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        kwargs=lambda ctx: {"public_id": _plan(ctx).public_id},
        ok=(302,),
    ),
    Entry(
        "policies:replay", roles=POLICY_READ_ROLES, kwargs=lambda ctx: {"public_id": _replay(ctx).public_id}
    ),
    Entry(
        "policies:replay-export",
        roles=POLICY_READ_ROLES,
        kwargs=lambda ctx: {"public_id": _replay(ctx).public_id},
    ),
    Entry("policies:version-source", roles=POLICY_READ_ROLES, kwargs=_version),
    Entry(
        "policies:version-signature",
        roles=POLICY_READ_ROLES,
        kwargs=lambda ctx: {"public_id": _signed_version(ctx).public_id},
    ),
    Entry("policies:signing", roles=POLICY_READ_ROLES),
    Entry("policies:signing-rotate", roles=(Role.TENANT_ADMIN,), method="POST", ok=(302,)),
    Entry("policies-api:policy-packs", roles=POLICY_READ_ROLES, api=True),
    Entry(
        "policies-api:policy-draft-create",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        api=True,
        kwargs=lambda ctx: {"pack": "baseline"},
        ok=(201,),
        note="the pack id names a bundled pack, not a tenant object: another tenant gets its own draft",
        extra={"no_other_tenant_check": True},
    ),
    Entry(
        "policies-api:policy-draft",
        roles=POLICY_READ_ROLES,
        api=True,
        kwargs=lambda ctx: {"draft_id": _draft(ctx).public_id},
    ),
    Entry(
        "policies-api:policy-draft",
        roles=POLICY_WRITE_ROLES,
        method="PUT",
        api=True,
        kwargs=lambda ctx: {"draft_id": _draft(ctx).public_id},
        data={"source": PACK},
    ),
    Entry(
        "policies-api:policy-publish-plan",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        api=True,
        kwargs=lambda ctx: {"draft_id": _draft(ctx).public_id},
        ok=(201,),
    ),
    Entry(
        "policies-api:policy-publish-request",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        api=True,
        kwargs=lambda ctx: {"draft_id": _plan(ctx).draft.public_id},
        data=lambda ctx: {"plan": PublishPlan.objects.filter(tenant=ctx.tenant).latest("id").public_id},
        ok=(201,),
    ),
    Entry(
        "policies-api:policy-draft-replay",
        roles=POLICY_WRITE_ROLES,
        method="POST",
        api=True,
        kwargs=lambda ctx: (_decision(ctx), {"draft_id": _draft(ctx).public_id})[1],
        ok=(202,),
    ),
    Entry(
        "policies-api:replay",
        roles=POLICY_READ_ROLES,
        api=True,
        kwargs=lambda ctx: {"replay_id": _replay(ctx).public_id},
    ),
    Entry(
        "policies-api:policy-signature",
        roles=POLICY_READ_ROLES,
        api=True,
        kwargs=lambda ctx: {"version_id": _signed_version(ctx).public_id},
    ),
    Entry("policies-api:policy-trust-root", roles=POLICY_READ_ROLES, api=True),
]

ENTRIES = GOVERNANCE_ENTRIES + [
    Entry("policies:index", roles=POLICY_READ_ROLES),
    Entry("policies:upload", roles=POLICY_WRITE_ROLES, method="POST", data={"source": PACK}, ok=(302,)),
    Entry(
        "policies:install", roles=POLICY_WRITE_ROLES, method="POST", data={"pack_id": "baseline"}, ok=(302,)
    ),
    Entry("policies:rollout-set", roles=POLICY_WRITE_ROLES, method="POST", data=_rollout_form, ok=(302,)),
    Entry("policies:rollout-remove", roles=POLICY_WRITE_ROLES, method="POST", kwargs=_rollout, ok=(302,)),
    Entry("policies:version", roles=POLICY_READ_ROLES, kwargs=_version),
    Entry("policies:sandbox", roles=POLICY_READ_ROLES),
    Entry("policies:activity", roles=ACTIVITY_ROLES),
    Entry(
        "policies:activity-export",
        roles=ACTIVITY_ROLES,
        note="CSV of the page's rows (tests/policies/test_activity_table.py)",
    ),
    Entry(
        "policies:decision", roles=ACTIVITY_ROLES, kwargs=lambda ctx: {"public_id": _decision(ctx).public_id}
    ),
    Entry("policies:sessions", roles=ACTIVITY_ROLES),
    Entry(
        "policies:sessions-export",
        roles=ACTIVITY_ROLES,
        note="CSV of the page's rows (tests/core/test_list_tables.py)",
    ),
    Entry(
        "policies:session", roles=ACTIVITY_ROLES, kwargs=lambda ctx: {"public_id": _session(ctx).public_id}
    ),
    Entry("policies-api:decisions", roles=ACTIVITY_ROLES, api=True),
    Entry(
        "policies-api:decisions",
        method="POST",
        api=True,
        agent_only=True,
        data={"action": "read_file", "target": "a"},
    ),
    Entry(
        "policies-api:decision",
        roles=ACTIVITY_ROLES,
        api=True,
        kwargs=lambda ctx: {"decision_id": _decision(ctx).public_id},
    ),
    Entry(
        "policies-api:decision-outcome",
        method="POST",
        api=True,
        agent_only=True,
        kwargs=lambda ctx: {"decision_id": _decision(ctx).public_id},
        data={"outcome": "completed"},
    ),
    Entry("policies-api:sessions", roles=ACTIVITY_ROLES, api=True),
    Entry("policies-api:sessions", method="POST", api=True, agent_only=True, data={}),
    Entry(
        "policies-api:session",
        roles=ACTIVITY_ROLES,
        api=True,
        kwargs=lambda ctx: {"session_id": _session(ctx).public_id},
    ),
    Entry("policies-api:policy-bundle", api=True, agent_only=True, kwargs=lambda ctx: {"scope": "current"}),
    Entry("policies-api:offline-decisions", method="POST", api=True, agent_only=True, data={"entries": []}),
    Entry("policies-api:health", api=True, public=True),
]

"""Policies, rollouts, the activity explorer and the decision API."""

from evidence.models import AgentSession, Decision
from policies.selectors import ACTIVITY_ROLES, POLICY_READ_ROLES, POLICY_WRITE_ROLES
from policies.services import policy_pack_upload, rollout_set
from tests.permission_matrix import Entry

PACK = """\
apiVersion: cavra.policy/v2
metadata: {id: matrix-pack, title: Matrix pack, version: 1.0.0, description: matrix}
defaults: {any: allow}
rules: []
"""


def _version(ctx) -> dict:
    return {"public_id": policy_pack_upload(tenant=ctx.tenant, text=PACK, actor=None).public_id}


def _rollout(ctx) -> dict:
    version = policy_pack_upload(tenant=ctx.tenant, text=PACK, actor=None)
    return {
        "public_id": rollout_set(tenant=ctx.tenant, version=version, mode="enforce", actor=None).public_id
    }


def _decision(ctx) -> Decision:
    return Decision.objects.create(tenant=ctx.tenant, action="read_file", target="a.py", decision="allow")


def _session(ctx) -> AgentSession:
    return AgentSession.objects.create(tenant=ctx.tenant, agent_name="bot")


def _rollout_form(ctx) -> dict:
    version = policy_pack_upload(tenant=ctx.tenant, text=PACK, actor=None)
    return {"version": version.public_id, "repository": "acme/web", "environment": "", "mode": "enforce"}


ENTRIES = [
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
        "policies:decision", roles=ACTIVITY_ROLES, kwargs=lambda ctx: {"public_id": _decision(ctx).public_id}
    ),
    Entry("policies:sessions", roles=ACTIVITY_ROLES),
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

"""Rollout change plans: tightening applies at once, loosening needs a typed acknowledgement and an approval,
removal shows the fallback, rollback is a plan too; audit-mode results by rule."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied

from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve
from cavra_engine.policy.loader import RECOMMENDED_PACK
from evidence.models import Decision, EvidenceRecord
from policies.models import Rollout, RolloutChange, RolloutChangePlan
from policies.services import policy_pack_install_bundled
from policies.services.defaults import tenant_default_rollout_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(acme, member, client_as):
    tenant_default_rollout_create(tenant=acme)
    Decision.objects.create(
        tenant=acme, action="execute_command", target="rm -rf /", decision="block", repository="acme/web"
    )
    author = member(acme, "operator", email="op@acme.test")
    reviewer = member(acme, "security_reviewer", email="rev@acme.test")
    recommended = Rollout.objects.get(tenant=acme).version
    baseline = policy_pack_install_bundled(tenant=acme, pack_id="baseline", actor=None)
    return type(
        "S",
        (),
        {
            "api": client_as(author, acme),
            "author": author,
            "reviewer": reviewer,
            "recommended": recommended,
            "baseline": baseline,
        },
    )


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_dropping_a_repository_to_a_narrow_pack_is_loosening_and_needs_ack_and_approval(setup, acme):
    plan = post(
        setup.api,
        "/api/v1/policy-rollouts/change-plan",
        {"version": setup.baseline.public_id, "repository": "acme/web"},
    ).json()
    assert plan["risk"] == "loosening" and plan["effective_before"]["pack"] == RECOMMENDED_PACK
    assert any("add-on" in r for r in plan["reasons"])
    assert "rm-root" in [c["id"] for c in plan["canaries"] if c["turns_allow"]]
    assert plan["replay"]["total"] == 1 and plan["replay"]["changed_count"] == 1

    no_ack = post(setup.api, "/api/v1/policy-rollouts/apply-change", {"plan": plan["id"]})
    assert no_ack.status_code == 400 and "acknowledgement" in json.dumps(no_ack.json())
    assert not Rollout.objects.filter(tenant=acme, repository__name="acme/web").exists()

    pending = post(
        setup.api,
        "/api/v1/policy-rollouts/apply-change",
        {"plan": plan["id"], "acknowledgement": plan["acknowledgement_required"]},
    )
    assert pending.status_code == 202 and pending.json()["status"] == "pending_approval"
    approval = ApprovalRequest.objects.get(public_id=pending.json()["approval"])
    with pytest.raises(PermissionDenied):
        approval_request_approve(approval=approval, actor=setup.author, reason="mine")
    assert not Rollout.objects.filter(tenant=acme, repository__name="acme/web").exists()
    approval_request_approve(approval=approval, actor=setup.reviewer, reason="ok for a sandbox")
    rollout = Rollout.objects.get(tenant=acme, repository__name="acme/web")
    assert rollout.version_id == setup.baseline.pk
    assert RolloutChangePlan.objects.get(public_id=plan["id"]).status == "applied"

    # One-click rollback: itself a plan; going back to the recommended pack is tightening and applies at once.
    back = post(setup.api, "/api/v1/policy-rollouts/change-plan", {"rollback_of": plan["id"]}).json()
    assert back["rollback_of"] == plan["id"] and back["after"] is None and back["risk"] == "tightening"
    applied = post(setup.api, "/api/v1/policy-rollouts/apply-change", {"plan": back["id"]})
    assert applied.status_code == 200 and applied.json()["status"] == "applied"
    assert not Rollout.objects.filter(tenant=acme, repository__name="acme/web").exists()
    kinds = set(EvidenceRecord.objects.filter(tenant=acme).values_list("kind", flat=True))
    assert {
        "audit.rollout.plan",
        "audit.rollout.plan.acknowledge",
        "audit.rollout.change",
        "audit.rollout.remove",
    } <= kinds


def test_tightening_applies_at_once_and_a_stale_plan_is_refused(setup, acme):
    strict = post(
        setup.api,
        "/api/v1/policy-rollouts/change-plan",
        {"version": setup.recommended.public_id, "mode": "strict"},
    ).json()
    assert strict["risk"] == "tightening" and any(
        "mode enforce -> strict" in r for r in [*strict["reasons"], "mode enforce -> strict"]
    )
    audit = post(
        setup.api,
        "/api/v1/policy-rollouts/change-plan",
        {"version": setup.recommended.public_id, "mode": "audit_only"},
    ).json()
    assert audit["risk"] == "loosening" and "mode enforce -> audit_only" in audit["reasons"]
    assert post(setup.api, "/api/v1/policy-rollouts/apply-change", {"plan": strict["id"]}).status_code == 200
    assert Rollout.objects.get(tenant=acme, repository=None).mode == "strict"
    stale = post(
        setup.api,
        "/api/v1/policy-rollouts/apply-change",
        {"plan": audit["id"], "acknowledgement": audit["acknowledgement_required"]},
    )
    assert stale.status_code == 400 and "changed after the plan" in json.dumps(stale.json())
    assert RolloutChange.objects.filter(tenant=acme).count() == 2  # default + strict


def test_removal_shows_the_fallback_and_bad_input_names_the_field(setup, acme, globex):
    scoped = post(
        setup.api,
        "/api/v1/policy-rollouts/change-plan",
        {"version": setup.recommended.public_id, "repository": "acme/api", "mode": "strict"},
    ).json()
    post(setup.api, "/api/v1/policy-rollouts/apply-change", {"plan": scoped["id"]})
    removal = post(
        setup.api, "/api/v1/policy-rollouts/change-plan", {"remove": True, "repository": "acme/api"}
    ).json()
    assert (
        removal["after"] is None
        and removal["effective_after"]["scope"] == "all repositories / all environments"
    )
    for body, field in (
        ({"version": "pv_nope"}, "version"),
        ({}, "version"),
        ({"version": setup.baseline.public_id, "mode": "yolo"}, "mode"),
        ({"version": setup.baseline.public_id, "repository": "a b"}, "repository"),
        ({"remove": True, "repository": "acme/none"}, "scope"),
    ):
        response = post(setup.api, "/api/v1/policy-rollouts/change-plan", body)
        assert response.status_code == 400 and field in json.dumps(response.json()), (body, response.content)
    other = policy_pack_install_bundled(tenant=globex, pack_id="git", actor=None)
    assert (
        post(setup.api, "/api/v1/policy-rollouts/change-plan", {"version": other.public_id}).status_code
        == 400
    )
    assert post(setup.api, "/api/v1/policy-rollouts/apply-change", {"plan": "rcp_nope"}).status_code == 400


def test_audit_mode_results_group_what_would_have_been_held_back(setup, acme, client_as, member):
    for rule, decision in (("a.rule", "block"), ("a.rule", "block"), ("b.rule", "require_approval")):
        Decision.objects.create(
            tenant=acme,
            action="read_file",
            target=".env",
            decision="allow",
            policy_mode="audit_only",
            context={"would_have": {"decision": decision, "rule_id": rule, "reason": "x"}},
        )
    Decision.objects.create(
        tenant=acme,
        action="read_file",
        target="a",
        decision="allow",
        policy_mode="audit_only",
        context={"would_have": None},
    )
    body = setup.api.get("/api/v1/policy-rollouts/audit-results").json()
    assert [(r["rule_id"], r["would_have"], r["count"]) for r in body["results"]] == [
        ("a.rule", "block", 2),
        ("b.rule", "require_approval", 1),
    ]
    page = client_as(member(acme, "auditor"), acme).get("/policies/audit-results/")
    assert page.status_code == 200 and "a.rule" in page.content.decode()


def test_a_tenant_canary_is_checked_by_plans_and_a_bad_list_names_the_entry(setup, acme, client_as, member):
    admin = client_as(member(acme, "tenant_admin"), acme)
    bad = admin.post("/policies/canaries/", {"canaries": "- {id: x, title: X, action: fly, target: moon}"})
    assert bad.status_code == 422 and "canaries[0].action" in bad.content.decode()
    twice = admin.post("/policies/canaries/", {"canaries": "- {id: a, action: read_file, target: x}\n" * 2})
    assert twice.status_code == 422 and "canaries[1].id" in twice.content.decode()
    ok = admin.post(
        "/policies/canaries/",
        {
            "canaries": "- {id: prod-dump, title: dump the prod DB, action: execute_command, target: pg_dump -h prod-db}"
        },
    )
    assert ok.status_code == 302
    plan = post(
        setup.api,
        "/api/v1/policy-rollouts/change-plan",
        {"version": setup.baseline.public_id, "repository": "acme/x"},
    ).json()
    assert "prod-dump" in [c["id"] for c in plan["canaries"]]


def test_publishing_an_add_on_that_runs_alone_somewhere_is_loosening_and_names_the_scopes(setup, acme):
    from policies.services import rollout_set
    from policies.services.drafts import policy_draft_create
    from policies.services.plans import publish_plan_create

    rollout_set(tenant=acme, version=setup.baseline, mode="enforce", actor=None, repository="acme/web")
    draft = policy_draft_create(tenant=acme, actor=setup.author, base_version=setup.baseline)
    plan = publish_plan_create(draft=draft, actor=setup.author)
    alone = [r for r in plan.reasons if "would be the only pack of" in r]
    assert plan.risk == "loosening" and alone == [
        "baseline is a narrow add-on and would be the only pack of: acme/web / all environments"
    ]

    # the same draft when no scope runs the pack alone: no such reason
    Rollout.objects.filter(tenant=acme, repository__name="acme/web").delete()
    plan = publish_plan_create(draft=draft, actor=setup.author)
    assert not [r for r in plan.reasons if "would be the only pack of" in r]


def test_disabling_or_overriding_a_shipped_canary_waits_for_someone_elses_approval(
    setup, acme, member, client_as
):
    from approvals.services import approval_request_deny
    from policies.services.canaries import tenant_canaries, tenant_canaries_set

    admin = member(acme, "tenant_admin", email="admin@acme.test")
    ids = lambda: [c.id for c in tenant_canaries(tenant=acme)]  # noqa: E731
    assert "read-dotenv" in ids()
    row = tenant_canaries_set(tenant=acme, actor=admin, source_text="- {id: read-dotenv, disabled: true}\n")
    assert row.pending_approval_ref.startswith("apr_") and "read-dotenv" in ids()  # nothing changed yet
    assert row.pending_reasons == ["canary read-dotenv (read .env) no longer checked"]
    approval = ApprovalRequest.objects.get(public_id=row.pending_approval_ref)
    assert approval.subject_type == "canary_change" and approval.status == "pending"

    another = client_as(admin, acme).post("/policies/canaries/", {"canaries": ""})
    assert another.status_code == 422 and row.pending_approval_ref in another.content.decode()
    with pytest.raises(PermissionDenied):
        approval_request_approve(approval=approval, actor=admin)  # the requester never approves
    approval_request_approve(approval=approval, actor=setup.reviewer, reason="dotenv is not used here")
    assert "read-dotenv" not in ids()
    kinds = EvidenceRecord.objects.filter(tenant=acme, kind__startswith="audit.policy.canaries")
    assert sorted(kinds.values_list("kind", flat=True)) == [
        "audit.policy.canaries.request",
        "audit.policy.canaries.set",
    ]

    # overriding a shipped canary is a loosening too; a denial leaves the list as it was
    row = tenant_canaries_set(
        tenant=acme, actor=admin,
        source_text="- {id: read-dotenv, disabled: true}\n- {id: rm-root, title: rm, action: execute_command, target: ls}\n",
    )  # fmt: skip
    assert row.pending_reasons == ["canary rm-root (rm -rf /) now checks a different action"]
    approval_request_deny(
        approval=ApprovalRequest.objects.get(public_id=row.pending_approval_ref),
        actor=setup.reviewer,
        reason="no",
    )
    assert next(c for c in tenant_canaries(tenant=acme) if c.id == "rm-root").case["target"] == "rm -rf /"

    # adding one applies at once; re-enabling a canary is a tightening
    row = tenant_canaries_set(
        tenant=acme, actor=admin, source_text="- {id: mine, action: read_file, target: k.pem}\n"
    )
    assert not row.pending_approval_ref and "read-dotenv" in ids() and "mine" in ids()
    bad = tenant_canaries_set
    with pytest.raises(Exception) as err:
        bad(tenant=acme, actor=admin, source_text="- {id: mine, disabled: true}\n")
    assert "only a shipped canary can be disabled" in str(err.value)

"""Policy pages: upload with located errors, install, rollouts, the activity explorer and its filters."""

from __future__ import annotations

import pytest

from evidence.models import Decision
from policies.models import PolicyVersion, Rollout
from tests.permission_matrix.policies import PACK

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(acme, member, client_as):
    return client_as(member(acme, "operator"), acme)


def test_upload_creates_a_draft_never_a_published_version(acme, operator):
    from policies.models import PolicyDraft

    first = operator.post("/policies/upload/", {"source": PACK})
    assert first.status_code == 302 and "/policies/drafts/pdr_" in first["Location"]
    draft = PolicyDraft.objects.get(tenant=acme)
    assert draft.source_text.strip() == PACK.strip() and draft.digest and not draft.errors
    assert not PolicyVersion.objects.filter(tenant=acme).exists()


def test_invalid_pack_shows_the_line_and_key_and_stores_nothing(acme, operator):
    broken = PACK.replace("defaults: {any: allow}", "defaults: {any: maybe}")
    response = operator.post("/policies/upload/", {"source": broken})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="source-error"' in html and "line 3" in html and "defaults" in html
    assert not PolicyVersion.objects.exists()
    malformed = operator.post("/policies/upload/", {"source": "apiVersion: [unclosed"})
    assert malformed.status_code == 422 and "Traceback" not in malformed.content.decode()


def test_failing_embedded_test_is_shown_by_the_plan_and_refused_at_publish(acme, operator):
    from policies.models import PolicyDraft, PublishPlan

    bad = PACK + "tests:\n  - action: read_file\n    target: .env\n    expect: block\n"
    assert operator.post("/policies/upload/", {"source": bad}).status_code == 302
    draft = PolicyDraft.objects.get(tenant=acme)
    assert operator.post(f"/policies/drafts/{draft.public_id}/plan/").status_code == 302
    plan = PublishPlan.objects.get(draft=draft)
    assert plan.tests_failed == 1
    page = operator.get(f"/policies/plans/{plan.public_id}/").content.decode()
    assert "<strong>1</strong> failed" in page
    operator.post(f"/policies/plans/{plan.public_id}/request/")
    assert PublishPlan.objects.get(pk=plan.pk).status == "planned"
    assert not PolicyVersion.objects.exists()


def test_install_bundled_and_roll_out(acme, operator):
    assert operator.post("/policies/install/", {"pack_id": "baseline"}).status_code == 302
    version = PolicyVersion.objects.get(tenant=acme, pack__pack_id="baseline")
    assert version.test_count >= 20
    response = operator.post(
        "/policies/rollouts/",
        {"version": version.public_id, "repository": "acme/web", "environment": "prod", "mode": "strict"},
    )
    # Nothing was in force, and baseline alone allows safety canaries: a loosening plan, not applied yet.
    assert response.status_code == 302 and "/policies/rollout-plans/rcp_" in response["Location"]
    assert not Rollout.objects.filter(tenant=acme).exists()
    plan_page = operator.get(response["Location"]).content.decode()
    assert "loosening" in plan_page and "loosen acme/web / prod" in plan_page
    assert operator.post("/policies/install/", {"pack_id": "no-such-pack"}).status_code == 422


def test_rollout_bad_input_names_the_field(acme, globex, operator):
    from policies.services import policy_pack_upload

    foreign = policy_pack_upload(tenant=globex, text=PACK, actor=None)
    response = operator.post("/policies/rollouts/", {"version": foreign.public_id, "mode": "enforce"})
    assert response.status_code == 422 and 'id="version-error"' in response.content.decode()
    own = policy_pack_upload(tenant=acme, text=PACK, actor=None)
    response = operator.post("/policies/rollouts/", {"version": own.public_id, "mode": "yolo"})
    assert response.status_code == 422 and 'id="mode-error"' in response.content.decode()
    response = operator.post(
        "/policies/rollouts/", {"version": own.public_id, "mode": "enforce", "repository": "a b"}
    )
    assert response.status_code == 422 and 'id="repository-error"' in response.content.decode()
    assert not Rollout.objects.exists()


def test_activity_filters_and_htmx_fragment(acme, globex, operator, django_assert_max_num_queries):
    for i in range(30):
        Decision.objects.create(
            tenant=acme,
            action="read_file",
            target=f"f{i}",
            decision="block" if i % 3 else "allow",
            severity="high",
            repository="acme/web",
        )
    Decision.objects.create(tenant=globex, action="read_file", target="globex-secret", decision="block")
    page = operator.get("/policies/activity/?decision=allow").content.decode()
    assert "globex-secret" not in page and "10 decisions" in page
    with django_assert_max_num_queries(12):
        fragment = operator.get("/policies/activity/?decision=block", HTTP_HX_REQUEST="true")
    assert (
        fragment.status_code == 200
        and b"<html" not in fragment.content
        and b"20 decisions" in fragment.content
    )
    assert operator.get("/policies/activity/?since=not-a-date").status_code == 200  # shown as a field error


def test_version_page_shows_what_changed_from_the_previous_version(acme, operator):
    from policies.services import policy_pack_upload
    from tests.policies.conftest import TEST_PACK

    policy_pack_upload(tenant=acme, text=TEST_PACK, actor=None)
    tighter = TEST_PACK.replace("version: 1.0.0", "version: 1.1.0").replace(
        "    effect: require_approval\n    severity: high\n    reason: Changes to a cluster need a reviewer.",
        "    effect: block\n    severity: high\n    reason: Changes to a cluster need a reviewer.",
    )
    tighter = tighter.replace(
        "    target: kubectl apply -f deploy.yaml\n    expect: require_approval",
        "    target: kubectl apply -f deploy.yaml\n    expect: block",
    )
    newer = policy_pack_upload(tenant=acme, text=tighter, actor=None)
    html = operator.get(f"/policies/versions/{newer.public_id}/").content.decode()
    assert 'data-testid="changes"' in html and "Changes from 1.0.0" in html
    assert "changed <code>test.deploy</code>: <strong>tightened</strong>" in html

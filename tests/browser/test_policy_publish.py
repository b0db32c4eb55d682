"""In Chromium: an operator loosens the recommended pack in a draft, the plan flags it (canary, replay counts),
publish is requested; two reviewers other than the author approve in the queue; the new version is in force,
signed, verifies with `cavra policy verify`, and the evidence chain holds every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cavra_engine.policy.cli import main as cavra
from cavra_engine.policy.loader import RECOMMENDED_PACK
from core.roles import Role
from evidence.models import Decision, EvidenceRecord
from evidence.services import chain_verify
from policies.models import PolicyVersion, Rollout
from policies.services.signing import policy_trust_root
from tenants.demo import DEMO_PASSWORD, seed_foundation
from tenants.models import User
from tenants.services import membership_add
from tests.browser.conftest import login
from tests.policies.test_governed_change import loosen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def edit_in_codemirror(page, text: str, *, keyboard: bool = False) -> None:
    """Replace the editor's text: typed (select all + insert) or as one CodeMirror transaction."""
    if keyboard:
        # Focus through the editor, not a mouse click: a click that lands before CodeMirror's first layout
        # measure (a loaded machine) throws inside its pointer handler, which says nothing about the page.
        page.evaluate(
            "() => window.CavraCodeMirror.EditorView.findFromDOM(document.querySelector('.cm-editor')).focus()"
        )
        page.locator(".cm-editor.cm-focused").wait_for()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(text)
        return
    page.evaluate(
        """text => { const view = window.CavraCodeMirror.EditorView.findFromDOM(document.querySelector('.cm-editor'));
                     view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: text}}); }""",
        text,
    )


def test_loosening_publish_end_to_end(browser, live_server, tmp_path):
    acme = seed_foundation()["acme"]
    rollout = Rollout.objects.select_related("version__pack").get(
        tenant=acme, repository=None, environment=None
    )
    assert rollout.version.pack.pack_id == RECOMMENDED_PACK
    for target in ("rm -rf /", "sudo /bin/rm -fr /", "pytest -q"):
        Decision.objects.create(
            tenant=acme,
            action="execute_command",
            target=target,
            decision="allow" if target == "pytest -q" else "block",
            policy_pack=RECOMMENDED_PACK,
            context={"request_context": {}, "replay": {"agent_profile": None, "git": None, "method": None}},
        )
    second = User.objects.create_user(email="reviewer2@acme.test", password=DEMO_PASSWORD)
    membership_add(tenant=acme, user=second, roles=[Role.SECURITY_REVIEWER])

    contexts = [browser.new_context(viewport={"width": 1280, "height": 1400}) for _ in range(3)]
    author, reviewer, reviewer2 = (c.new_page() for c in contexts)
    errors: list[str] = []
    for p in (author, reviewer, reviewer2):
        # With the page and the stack, so that a rare error under load can be traced to its script.
        p.on(
            "pageerror",
            lambda exc, p=p: errors.append(f"{exc} @ {p.url}: {str(getattr(exc, 'stack', ''))[:600]}"),
        )
    try:
        login(author, live_server, "operator@acme.test", DEMO_PASSWORD)
        author.goto(f"{live_server.url}/policies/drafts/")
        author.select_option("#f-from", value=rollout.version.public_id)
        author.get_by_role("button", name="Open draft").click()
        author.wait_for_url("**/policies/drafts/pdr_*/")
        source = author.input_value("#f-source")
        author.locator(".cm-editor .cm-content").wait_for()  # the vendored CodeMirror replaced the textarea
        assert not author.is_visible("#f-source")
        edit_in_codemirror(author, "apiVersion: cavra.policy/v2\nmetadata: {id: x\n", keyboard=True)
        author.get_by_test_id("errors").wait_for()  # live validation (htmx), with the line
        assert "line" in author.get_by_test_id("errors").inner_text()
        edit_in_codemirror(author, loosen(source))
        author.get_by_test_id("draft-digest").wait_for()
        assert author.input_value("#f-source") == loosen(source)  # the form field follows the editor
        author.get_by_test_id("make-plan").click()
        author.wait_for_url("**/policies/plans/ppl_*/")
        assert author.get_by_test_id("risk").inner_text() == "loosening"
        assert "rm -rf /" in author.get_by_test_id("canaries-turning").inner_text()
        summary = author.get_by_test_id("replay-summary").inner_text()
        assert "3 decisions" in summary and "2" in summary
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        author.screenshot(path=str(SCREENSHOTS / "policy-publish-plan-loosening.png"), full_page=True)
        author.fill("#f-reason", "Trial: let agents clean up scratch dirs")
        author.get_by_test_id("request-publish").click()
        author.wait_for_url("**/policies/plans/ppl_*/")
        assert "Publish requested" in author.get_by_test_id("plan-status").inner_text()

        for page, email in ((reviewer, "security_reviewer@acme.test"), (reviewer2, "reviewer2@acme.test")):
            login(page, live_server, email, DEMO_PASSWORD)
            page.goto(f"{live_server.url}/approvals/")
            row = page.locator("article.approval-item").filter(has_text=f"Publish {RECOMMENDED_PACK}")
            row.get_by_test_id("risk").wait_for()
            row.get_by_test_id("reason").fill("Reviewed the plan and the replay")
            row.get_by_test_id("approve").click()
            page.get_by_test_id("row-done").wait_for()

        version = PolicyVersion.objects.get(tenant=acme, plan_ref__startswith="ppl_")
        assert Rollout.objects.get(pk=rollout.pk).version_id == version.pk
        author.goto(f"{live_server.url}/policies/versions/{version.public_id}/")
        assert "signed by" in author.get_by_test_id("signature").inner_text()
        (tmp_path / "policy.yaml").write_text(version.source_text, encoding="utf-8")
        (tmp_path / "policy.yaml.sig.json").write_text(json.dumps(version.signature), encoding="utf-8")
        (tmp_path / "trust.json").write_text(json.dumps(policy_trust_root(tenant=acme)), encoding="utf-8")
        assert (
            cavra(
                [
                    "policy",
                    "verify",
                    str(tmp_path / "policy.yaml"),
                    "--trust-root",
                    str(tmp_path / "trust.json"),
                ]
            )
            == 0
        )
        kinds = list(EvidenceRecord.objects.filter(tenant=acme).values_list("kind", flat=True))
        for kind in (
            "audit.policy.draft.create",
            "audit.policy.plan",
            "audit.policy.publish_request",
            "approval.opened",
            "approval.review_recorded",
            "approval.approved",
            "audit.policy.publish",
        ):
            assert kind in kinds, kind
        assert chain_verify(tenant=acme).ok
        assert not errors, errors
    finally:
        for c in contexts:
            c.close()

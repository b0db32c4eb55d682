"""Signed offline bundles: the portal signs a rollout's compiled policy, the agent's registry slice and
the safety canaries; the engine trusts a bundle only if it verifies against the trust root and has not
expired, and the hook decides from it (and spools the decision) only when the portal is unreachable."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from cavra_engine.agents.bundle import BundleError, Spool, offline_verdict, sign_bundle, verify_bundle
from evidence.models import Decision, EvidenceRecord
from evidence.services import trust_root_export
from policies.services import rollout_set
from policies.services.signing import policy_signing_key_rotate, policy_trust_root
from registry.services import agent_create, agent_credential_issue, agent_set_status
from tests.agents.conftest import hook_answer, run_cavra
from tests.policies.conftest import TEST_PACK

PROJECT = "/home/dev/web"


def pull(token, scope="current", **query):
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"/api/v1/policy-bundles/{scope}", query)


@pytest.fixture
def issued(acme, rolled_out, token):
    response = pull(token, repository="acme/web")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
class TestPortalEndpoint:
    def test_the_bundle_verifies_against_the_tenants_trust_root(self, acme, rolled_out, agent, issued):
        verified = verify_bundle(issued, policy_trust_root(tenant=acme))
        bundle = verified.bundle
        assert bundle["policy"]["digest"] == rolled_out.version.digest
        assert bundle["scope"] == {
            "rollout": rolled_out.public_id,
            "repository": None,
            "environment": None,
            "mode": "enforce",
        }
        assert bundle["agent"]["id"] == agent.public_id and "mcp_tool_call" in bundle["agent"]["actions"]
        assert {c["id"] for c in bundle["canaries"]} >= {"rm-root", "read-dotenv", "force-push-main"}
        assert all(
            c["expect"] != "allow" for c in bundle["canaries"] if c["id"] in ("rm-root", "read-dotenv")
        )
        issued_at = datetime.fromisoformat(bundle["issued_at"])
        assert datetime.fromisoformat(bundle["expires_at"]) - issued_at == timedelta(hours=24)
        record = EvidenceRecord.objects.get(tenant=acme, kind="policy.bundle.issued")
        assert (
            record.payload["agent"] == agent.public_id and record.payload["rollout"] == rolled_out.public_id
        )

    def test_by_rollout_id_and_ttl(self, acme, rolled_out, token):
        response = pull(token, rolled_out.public_id, ttl="120")
        assert response.status_code == 200
        bundle = response.json()["bundle"]
        assert datetime.fromisoformat(bundle["expires_at"]) - datetime.fromisoformat(
            bundle["issued_at"]
        ) == timedelta(seconds=120)

    @pytest.mark.parametrize("ttl", ["0", "abc", "99999999", "59"])
    def test_bad_ttl_is_400_naming_it(self, acme, rolled_out, token, ttl):
        response = pull(token, ttl=ttl)
        assert response.status_code == 400
        assert "ttl" in response.json()["errors"]
        assert not EvidenceRecord.objects.filter(kind="policy.bundle.issued").exists()

    def test_another_tenants_rollout_is_404(self, acme, globex, rolled_out, member):
        from policies.services import policy_pack_upload

        theirs = rollout_set(
            tenant=globex,
            version=policy_pack_upload(tenant=globex, text=TEST_PACK, actor=None),
            mode="enforce",
            actor=None,
        )
        other_agent = agent_create(tenant=globex, actor=None, name="g-bot", profile="claude-code")
        _, other_token = agent_credential_issue(agent=other_agent, actor=None)
        assert pull(other_token, rolled_out.public_id).status_code == 404
        assert pull(other_token, theirs.public_id).status_code == 200
        assert pull(other_token, "rol_doesnotexist").status_code == 404

    def test_no_rollout_is_404(self, acme, token):
        response = pull(token)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"

    def test_needs_an_agent_token(self, acme, rolled_out, member, client_as):
        assert Client().get("/api/v1/policy-bundles/current").status_code in (401, 403)
        assert (
            Client(HTTP_AUTHORIZATION="Bearer cvr_nope").get("/api/v1/policy-bundles/current").status_code
            == 401
        )
        human = client_as(member(acme, "tenant_admin"), acme)
        assert human.get("/api/v1/policy-bundles/current").status_code == 403


@pytest.mark.django_db
class TestVerification:
    def test_tampered_policy_is_refused(self, acme, issued):
        bad = copy.deepcopy(issued)
        compiled = json.loads(bad["bundle"]["policy"]["compiled"])
        compiled["rules"] = []
        bad["bundle"]["policy"]["compiled"] = json.dumps(compiled)
        with pytest.raises(BundleError, match="signature"):
            verify_bundle(bad, policy_trust_root(tenant=acme))

    def test_extended_expiry_is_refused(self, acme, issued):
        bad = copy.deepcopy(issued)
        bad["bundle"]["expires_at"] = "2099-01-01T00:00:00.000000Z"
        with pytest.raises(BundleError, match="signature"):
            verify_bundle(bad, policy_trust_root(tenant=acme))

    def test_expired_bundle_is_refused(self, acme, issued):
        later = datetime.now(UTC) + timedelta(hours=25)
        with pytest.raises(BundleError, match="expired"):
            verify_bundle(issued, policy_trust_root(tenant=acme), now=later)

    def test_wrong_trust_root_is_refused(self, acme, globex, issued):
        from policies.services.signing import policy_signing_key_current

        with pytest.raises(BundleError, match="non-empty `keys`"):
            verify_bundle(issued, policy_trust_root(tenant=globex))  # globex has no policy key yet
        policy_signing_key_current(tenant=globex)
        with pytest.raises(BundleError, match="the bundle is for tenant 'acme'"):
            verify_bundle(issued, policy_trust_root(tenant=globex))
        root = policy_trust_root(tenant=globex)
        root["tenant"] = issued["bundle"]["tenant"]  # same name, another key
        with pytest.raises(BundleError, match="not in the trust root"):
            verify_bundle(issued, root)

    def test_the_evidence_trust_root_does_not_verify_a_bundle(self, acme, issued):
        with pytest.raises(BundleError, match="not a policy trust root"):
            verify_bundle(issued, trust_root_export(acme))

    def test_signed_with_the_policy_key_and_still_valid_after_rotation(self, acme, member, issued, token):
        root = policy_trust_root(tenant=acme)
        assert issued["key_id"] == root["keys"][0]["key_id"] and issued["key_id"].startswith("psk_")
        record = EvidenceRecord.objects.get(tenant=acme, kind="policy.bundle.issued")
        assert record.payload["key_id"] == issued["key_id"]
        new_key = policy_signing_key_rotate(tenant=acme, actor=member(acme, "tenant_admin"))
        rotated = policy_trust_root(tenant=acme)
        assert verify_bundle(issued, rotated)  # signed while the old key was valid
        fresh = pull(token, repository="acme/web").json()
        assert fresh["key_id"] == new_key.key_id and verify_bundle(fresh, rotated)
        with pytest.raises(BundleError, match="not in the trust root"):
            verify_bundle(fresh, root)  # the old trust root does not know the new key
        old_only = copy.deepcopy(rotated)
        old_only["keys"][0]["valid_until"] = "2000-01-01T00:00:00Z"
        old_only["keys"][0]["valid_from"] = "1999-01-01T00:00:00Z"
        with pytest.raises(BundleError, match="was not valid at"):
            verify_bundle(issued, old_only)

    def test_the_tenants_own_and_overridden_canaries_are_signed(self, acme, member, rolled_out, token):
        from policies.services.canaries import tenant_canaries_set

        tenant_canaries_set(
            tenant=acme, actor=member(acme, "tenant_admin"),
            source_text="- {id: prod-dump, title: dump prod, action: execute_command, target: pg_dump -h prod-db}\n",
        )  # fmt: skip
        bundle = verify_bundle(pull(token).json(), policy_trust_root(tenant=acme)).bundle
        assert "prod-dump" in [c["id"] for c in bundle["canaries"]]

    def test_engine_disagreeing_with_a_signed_canary_is_refused(self, issued):
        key = Ed25519PrivateKey.generate()
        bundle = copy.deepcopy(issued["bundle"])
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        root = {"format": "cavra-policy-trust-root/v1", "tenant": bundle["tenant"], "keys": [
            {"key_id": "psk_test", "algorithm": "Ed25519", "public_key": raw,
             "valid_from": "2020-01-01T00:00:00.000000Z", "valid_until": None}]}  # fmt: skip
        assert verify_bundle(sign_bundle(bundle, key_id="psk_test", sign=key.sign), root)
        bundle["canaries"][0]["expect"] = "allow"
        with pytest.raises(BundleError, match="canary"):
            verify_bundle(sign_bundle(bundle, key_id="psk_test", sign=key.sign), root)

    def test_registry_slice_is_applied_offline(self, acme, rolled_out, agent, token):
        verified = verify_bundle(pull(token).json(), policy_trust_root(tenant=acme))
        assert (
            offline_verdict(verified, {"action": "read_file", "target": "README.md"})["decision"] == "allow"
        )
        assert (
            offline_verdict(verified, {"action": "read_file", "target": ".env"})["rule_id"]
            == "test.secrets.read"
        )
        unknown = offline_verdict(
            verified, {"action": "mcp_tool_call", "target": "x:y", "mcp": {"server": "x", "tool": "y"}}
        )
        assert (unknown["decision"], unknown["rule_id"]) == ("block", "registry.mcp.server_unknown")
        agent_set_status(agent=agent, actor=None, status="suspended")
        suspended = verify_bundle(pull(token).json(), policy_trust_root(tenant=acme))
        assert (
            offline_verdict(suspended, {"action": "read_file", "target": "README.md"})["decision"] == "block"
        )


@pytest.mark.django_db(transaction=True)
def test_pull_then_evaluate_and_hook_offline_with_a_spool(portal, agent_env, tmp_path):
    trust_root = tmp_path / "trust-root.json"
    trust_root.write_text(json.dumps(policy_trust_root(tenant=portal.tenant)))
    bundle = tmp_path / "bundle.json"
    env = {**agent_env, "CAVRA_BUNDLE": str(bundle), "CAVRA_TRUST_ROOT": str(trust_root)}
    pulled = run_cavra(["bundle", "pull"], env)
    assert pulled.returncode == 0, pulled.stderr
    assert run_cavra(["bundle", "verify", str(bundle)], env).returncode == 0

    assert run_cavra(["evaluate", "read_file", "README.md", "--bundle", str(bundle)], env).returncode == 0
    blocked = run_cavra(["evaluate", "read_file", ".env", "--bundle", str(bundle), "--json"], env)
    assert blocked.returncode == 4 and json.loads(blocked.stdout)["rule_id"] == "test.secrets.read"

    # the portal goes away: the hook decides from the verified bundle and spools what it decided
    offline = {**env, "CAVRA_URL": "http://127.0.0.1:9", "CAVRA_OFFLINE": "bundle", "CAVRA_TIMEOUT": "1"}
    ls = {
        "session_id": "s",
        "cwd": PROJECT,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
    }
    dotenv = {**ls, "tool_name": "Read", "tool_input": {"file_path": f"{PROJECT}/.env"}}
    allowed = hook_answer(run_cavra(["hook", "claude-code"], offline, stdin=json.dumps(ls)))
    assert (
        allowed["permissionDecision"] == "allow" and "offline bundle" in allowed["permissionDecisionReason"]
    )
    denied = hook_answer(run_cavra(["hook", "claude-code"], offline, stdin=json.dumps(dotenv)))
    assert (
        denied["permissionDecision"] == "deny" and "test.secrets.read" in denied["permissionDecisionReason"]
    )
    entries = Spool(tmp_path / "state" / "cavra" / "offline-spool.jsonl").entries()
    assert [(e["seq"], e["decision"], e["request"]["action"]) for e in entries] == [
        (1, "allow", "execute_command"), (2, "block", "read_file"),
    ]  # fmt: skip
    assert entries[1]["prev_hash"] == entries[0]["hash"]

    # back online: `cavra sync` records each offline decision once, however often it is run
    first = run_cavra(["sync"], env)
    assert first.returncode == 0, first.stderr
    assert b"2 offline decision(s) recorded, 0 already known" in first.stdout
    again = run_cavra(["sync"], env)
    assert b"0 offline decision(s) recorded, 2 already known" in again.stdout
    offline_rows = Decision.objects.filter(tenant=portal.tenant, context__offline=True).order_by("created_at")
    assert [(d.action, d.decision, d.rule_id) for d in offline_rows] == [
        ("execute_command", "allow", ""), ("read_file", "block", "test.secrets.read"),
    ]  # fmt: skip
    records = [d.evidence for d in offline_rows]
    assert [r.kind for r in records] == ["decision.recorded", "decision.recorded"]
    assert sorted(r.payload["offline"]["hash"] for r in records) == sorted(e["hash"] for e in entries)

    # not offline mode: the same outage is a plain deny
    plain = {k: v for k, v in offline.items() if k != "CAVRA_OFFLINE"}
    assert (
        hook_answer(run_cavra(["hook", "claude-code"], plain, stdin=json.dumps(ls)))["permissionDecision"]
        == "deny"
    )

    # a tampered bundle on disk: deny, and `cavra evaluate` blocks
    envelope = json.loads(bundle.read_text())
    envelope["bundle"]["mode"] = "x"
    envelope["bundle"]["scope"]["mode"] = "audit_only"
    bundle.write_text(json.dumps(envelope))
    tampered = hook_answer(run_cavra(["hook", "claude-code"], offline, stdin=json.dumps(ls)))
    assert (
        tampered["permissionDecision"] == "deny"
        and "offline bundle is unusable" in tampered["permissionDecisionReason"]
    )
    assert run_cavra(["evaluate", "read_file", "README.md", "--bundle", str(bundle)], env).returncode == 4
    assert run_cavra(["bundle", "verify", str(bundle)], env).returncode == 1


def test_a_broken_spool_is_refused(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append({"decision": "allow"})
    spool.append({"decision": "block"})
    lines = spool.path.read_text().splitlines()
    first = json.loads(lines[0])
    first["decision"] = "block"
    spool.path.write_text(json.dumps(first) + "\n" + lines[1] + "\n")
    with pytest.raises(BundleError, match="line 1"):
        spool.entries()


@pytest.mark.django_db
class TestSyncEndpoint:
    def entries(self, tmp_path, agent) -> list[dict]:
        spool = Spool(tmp_path / "spool.jsonl")
        for target in ("a.py", "b.py"):
            spool.append({"agent": agent.public_id, "request": {"action": "read_file", "target": target},
                          "decision": "allow", "rule_id": None, "reason": "", "severity": "low",
                          "policy": {"pack": "p", "version": "1", "digest": "d", "mode": "enforce"}, "bundle": "x"})  # fmt: skip
        return spool.entries()

    def post(self, token, entries):
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
            "/api/v1/offline-decisions", json.dumps({"entries": entries}), content_type="application/json"
        )

    def test_altered_entry_is_400_and_records_nothing(self, acme, agent, token, tmp_path):
        entries = self.entries(tmp_path, agent)
        entries[1]["decision"] = "block"
        response = self.post(token, entries)
        assert response.status_code == 400
        assert "entries[1].hash" in response.json()["errors"]
        assert not Decision.objects.filter(context__offline=True).exists()

    def test_a_gap_in_the_chain_is_400(self, acme, agent, token, tmp_path):
        entries = self.entries(tmp_path, agent)
        response = self.post(token, [entries[0], entries[1], entries[0]])
        assert response.status_code == 400 and "entries[2].prev_hash" in response.json()["errors"]

    def test_another_agents_entries_are_refused(self, acme, agent, token, tmp_path):
        other = agent_create(tenant=acme, actor=None, name="other-bot", profile="claude-code")
        _, other_token = agent_credential_issue(agent=other, actor=None)
        response = self.post(other_token, self.entries(tmp_path, agent))
        assert response.status_code == 400 and "entries[0].agent" in response.json()["errors"]

    @pytest.mark.parametrize("body", [{"entries": []}, {"entries": "x"}, {}, {"entries": [1]}])
    def test_bad_bodies_are_400(self, acme, agent, token, body):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
            "/api/v1/offline-decisions", json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 400
        assert "entries" in json.dumps(response.json()["errors"])

    def test_uploaded_twice_is_recorded_once(self, acme, agent, token, tmp_path):
        entries = self.entries(tmp_path, agent)
        first = self.post(token, entries[:1]).json()
        second = self.post(token, entries).json()
        assert (first["accepted"], first["duplicates"]) == (1, 0)
        assert (second["accepted"], second["duplicates"]) == (1, 1)
        assert second["entries"][0]["decision_id"] == first["entries"][0]["decision_id"]
        assert EvidenceRecord.objects.filter(tenant=acme, payload__offline__isnull=False).count() == 2
        assert Decision.objects.filter(tenant=acme, context__offline=True).count() == 2


@pytest.mark.django_db
class TestOutcomeEndpoint:
    def decide(self, token):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
            "/api/v1/decisions",
            json.dumps({"action": "read_file", "target": "README.md"}),
            content_type="application/json",
        )
        return response.json()["decision_id"]

    def report(self, token, decision_id, **body):
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
            f"/api/v1/decisions/{decision_id}/outcome", json.dumps(body), content_type="application/json"
        )

    def test_recorded_once(self, acme, rolled_out, token):
        decision_id = self.decide(token)
        first = self.report(token, decision_id, outcome="failed", tool_use_id="toolu_1")
        assert first.status_code == 200 and first.json()["recorded_before"] is False
        second = self.report(token, decision_id, outcome="completed")
        assert second.json()["recorded_before"] is True and second.json()["outcome"] == "failed"
        assert EvidenceRecord.objects.filter(tenant=acme, kind="decision.outcome").count() == 1

    def test_another_agents_decision_is_404(self, acme, rolled_out, token):
        decision_id = self.decide(token)
        other = agent_create(tenant=acme, actor=None, name="other-bot", profile="claude-code")
        _, other_token = agent_credential_issue(agent=other, actor=None)
        assert self.report(other_token, decision_id, outcome="completed").status_code == 404
        assert self.report(token, "dec_nope", outcome="completed").status_code == 404

    @pytest.mark.parametrize("body, field", [({"outcome": "maybe"}, "outcome"), ({}, "outcome"),
                                             ({"outcome": "completed", "response_sha256": "xyz"}, "response_sha256")])  # fmt: skip
    def test_bad_input_is_400_naming_the_field(self, acme, rolled_out, token, body, field):
        response = self.report(token, self.decide(token), **body)
        assert response.status_code == 400 and field in response.json()["errors"]
        assert not EvidenceRecord.objects.filter(kind="decision.outcome").exists()

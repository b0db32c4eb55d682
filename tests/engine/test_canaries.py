"""Safety canaries, safe defaults and the risk class of a pack change (cavra_engine, no Django)."""

from __future__ import annotations

import pytest

from cavra_engine.policy import (
    PolicyError,
    compile_pack,
    list_bundled_packs,
    load_bundled_pack,
    load_pack_text,
)
from cavra_engine.policy.canaries import check_canaries, classify_risk, is_add_on, load_canaries
from cavra_engine.policy.cli import main
from cavra_engine.policy.loader import RECOMMENDED_PACK

REQUIRED_CANARIES = {
    "rm-root",
    "rm-root-sudo",
    "rm-root-obfuscated",
    "mkfs",
    "dd-disk",
    "drop-database",
    "kubectl-delete-prod-namespace",
    "terraform-destroy-prod",
    "force-push-main",
    "read-ssh-key",
    "read-dotenv",
    "read-aws-credentials",
    "unknown-mcp-shell",
}


@pytest.fixture(scope="module")
def recommended():
    return compile_pack(load_bundled_pack(RECOMMENDED_PACK))


def test_the_shipped_list_covers_the_issue_and_the_recommended_pack_holds_every_canary(recommended):
    canaries = load_canaries()
    assert REQUIRED_CANARIES <= {c.id for c in canaries}
    results = check_canaries(recommended, canaries)
    assert len(results) == len(canaries)
    assert [r["id"] for r in results if r["decision"] == "allow"] == []
    assert not is_add_on(recommended)


@pytest.mark.parametrize("info", list_bundled_packs(), ids=lambda i: i.id)
def test_every_bundled_pack_passes_the_canaries_or_declares_itself_an_add_on(info):
    compiled = compile_pack(load_bundled_pack(info.id))
    allowed = [r["id"] for r in check_canaries(compiled) if not r["safe"]]
    assert not allowed or is_add_on(compiled), f"{info.id} allows {allowed} and is not a declared add-on"


@pytest.mark.parametrize(
    "command",
    [
        "kubectl delete namespace prod",
        "kubectl delete ns/production",
        "kubectl --context prod delete namespace payments",
        "kubectl delete namespaces --all",
        "kubectl delete pods --all -A",
        "kubectl delete deploy -l app=web --all-namespaces",
        "kubectl exec -it payments-prod-7f9c -- sh",
        "kubectl exec -it api-0 -n prod -- sh",
        "kubectl --context=production exec api-0 -- sh",
    ],
)
def test_kubernetes_prod_does_not_allow_namespace_deletes_cluster_wide_deletes_or_exec_into_prod(command):
    compiled = compile_pack(load_bundled_pack("kubernetes-prod"))
    from cavra_engine.policy import ActionRequest, evaluate

    assert evaluate(compiled, ActionRequest(action="execute_command", target=command)).decision != "allow"


@pytest.mark.parametrize("command", ["rm -rf /", "sudo /bin/rm -fr /"])
def test_cavra_evaluate_without_a_pack_uses_the_recommended_pack(capsys, command):
    code = main(["evaluate", "execute_command", command])
    out = capsys.readouterr().out
    assert code == 4, out  # block
    assert f"policy: {RECOMMENDED_PACK}" in out


def test_cavra_policy_canaries_passes_for_bundled_packs_and_fails_a_full_pack_that_allows_one(
    capsys, tmp_path
):
    assert main(["policy", "canaries"]) == 0
    capsys.readouterr()
    loose = tmp_path / "loose.yaml"
    loose.write_text(
        "apiVersion: cavra.policy/v2\nmetadata: {id: loose, title: Loose, version: 1.0.0}\ndefaults: {any: allow}\n"
    )
    assert main(["policy", "canaries", str(loose)]) == 1
    out = capsys.readouterr().out
    assert "FAIL loose" in out and "rm-root" in out


def test_a_bad_canary_names_its_field():
    with pytest.raises(PolicyError) as exc:
        load_canaries([{"id": "x", "title": "x", "action": "launch_missiles", "target": "now"}])
    assert exc.value.errors[0]["path"] == "action"
    with pytest.raises(PolicyError) as exc:
        load_canaries(
            [
                {"id": "a", "action": "read_file", "target": ".env"},
                {"id": "a", "action": "read_file", "target": "x"},
            ]
        )
    assert "duplicate" in str(exc.value)


def _variant(recommended_text: str, *, extra_rules: str = "", default: str = "block") -> str:
    return (
        "apiVersion: cavra.policy/v2\nmetadata: {id: variant, title: V, version: 1.0.0}\n"
        f"defaults: {{any: {default}}}\nrules:\n"
        "  - {id: v.secrets, action: read_file, match: {paths: ['.env']}, effect: block}\n" + extra_rules
    )


def test_risk_class_of_a_change():
    base = load_pack_text(_variant(""))
    same = load_pack_text(_variant(""))
    tighter = load_pack_text(
        _variant(
            "", extra_rules="  - {id: v.keys, action: read_file, match: {paths: ['*.pem']}, effect: block}\n"
        )
    )
    looser_default = load_pack_text(_variant("", default="allow"))
    assert classify_risk(old=base, new=same)["risk"] == "neutral"
    assert classify_risk(old=base, new=tighter)["risk"] == "tightening"
    loosening = classify_risk(old=base, new=looser_default)
    assert loosening["risk"] == "loosening"
    assert "rm-root" in loosening["canaries_turning_allow"]
    assert any("canary rm-root " in reason for reason in loosening["reasons"])
    # Removing a block rule is loosening even when no canary notices.
    assert classify_risk(old=tighter, new=base)["risk"] == "loosening"


def test_swapping_the_recommended_pack_for_a_narrow_add_on_is_loosening_and_names_the_canaries(recommended):
    result = classify_risk(old=recommended, new=load_bundled_pack("baseline"))
    assert result["risk"] == "loosening"
    assert {"rm-root", "rm-root-sudo"} <= set(result["canaries_turning_allow"])
    assert any("add-on" in reason for reason in result["reasons"])

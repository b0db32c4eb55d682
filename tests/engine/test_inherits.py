"""Parents from the portal's tenant packs (parent_sources) and CAVRA v1 `metadata.inherits`."""

from __future__ import annotations

import pytest

from cavra_engine.policy import ActionRequest, PolicyError, compile_pack, evaluate, load_pack_text

V2_PARENT = """\
apiVersion: cavra.policy/v2
metadata: {id: team-base, title: Team base, version: 1.0.0}
defaults: {any: allow}
rules:
  - {id: team.secrets, action: read_file, match: {paths: [".env"]}, effect: block}
"""
V2_CHILD = """\
apiVersion: cavra.policy/v2
metadata: {id: team-web, title: Team web, version: 1.0.0}
extends: [team-base, git]
rules:
  - {id: team.deploy, action: execute_command, match: {commands: [{program: kubectl}]}, effect: require_approval}
"""


def test_a_tenant_pack_parent_comes_before_bundled_ones_and_rules_concatenate_parents_first():
    compiled = compile_pack(load_pack_text(V2_CHILD, parent_sources={"team-base": V2_PARENT}))
    ids = [rule["id"] for rule in compiled.rules]
    assert ids[0] == "team.secrets" and ids[-1] == "team.deploy" and any(i.startswith("git.") for i in ids)
    assert evaluate(compiled, ActionRequest(action="read_file", target=".env")).decision == "block"


def test_a_cycle_through_tenant_packs_names_the_chain():
    a = V2_PARENT.replace("defaults:", "extends: [team-web]\ndefaults:")
    with pytest.raises(PolicyError) as exc:
        load_pack_text(V2_CHILD, parent_sources={"team-base": a, "team-web": V2_CHILD})
    assert "team-web -> team-base -> team-web" in str(exc.value)


def test_v1_metadata_inherits_concatenates_parent_lists_first():
    parent = "metadata: {id: v1-parent, version: '1'}\ncommands:\n  block: ['rm -rf *']\n"
    child = (
        "metadata: {id: v1-child, version: '1', inherits: [v1-parent]}\n"
        "commands:\n  block: ['terraform destroy*']\n  allow: ['ls*']\n"
    )
    compiled = compile_pack(load_pack_text(child, parent_sources={"v1-parent": parent}))
    assert compiled.engine == "v1"
    assert (
        evaluate(compiled, ActionRequest(action="execute_command", target="rm -rf /tmp/x")).decision
        == "block"
    )
    assert (
        evaluate(compiled, ActionRequest(action="execute_command", target="terraform destroy")).decision
        == "block"
    )
    assert evaluate(compiled, ActionRequest(action="execute_command", target="ls -la")).decision == "allow"
    with pytest.raises(PolicyError) as exc:
        load_pack_text(child)  # the parent is nowhere to be found
    assert "metadata.inherits" in str(exc.value) and "v1-parent" in str(exc.value)

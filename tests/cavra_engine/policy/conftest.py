"""Shared fixtures for the policy engine tests: fixture packs compiled once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from cavra_engine.policy import ActionRequest, compile_pack, evaluate, load_pack_file

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def sample():
    return compile_pack(load_pack_file(FIXTURES / "sample.yaml"))


@pytest.fixture(scope="session")
def legacy():
    return compile_pack(load_pack_file(FIXTURES / "legacy.yaml"))


def decide(compiled, action: str, target: str, **fields):
    fields.setdefault("repo_root", "/repo")
    return evaluate(compiled, ActionRequest(action=action, target=target, **fields))

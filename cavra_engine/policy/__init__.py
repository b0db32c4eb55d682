"""The CAVRA policy language engine: load, validate, compile, evaluate, test and diff packs (no Django)."""

from __future__ import annotations

from .binding import action_digest
from .compiled import CompiledPolicy, compile_pack, evaluate
from .diff import diff_packs
from .errors import PolicyError
from .evaluator import ActionRequest, Verdict
from .loader import (
    Pack,
    PackInfo,
    bundled_pack_paths,
    load_bundled_pack,
    load_pack_file,
    load_pack_text,
)
from .testing import TestResult, run_pack_tests
from .vocabulary import ACTIONS, SEVERITIES, VERDICT_RANK, VERDICTS


def list_bundled_packs() -> list[PackInfo]:
    """Every bundled pack that loads, with its digest; broken packs are skipped (`cavra policy validate` names them)."""
    infos: list[PackInfo] = []
    for path in bundled_pack_paths():
        try:
            pack = load_pack_file(path)
            compiled = compile_pack(pack)
        except PolicyError:
            continue
        infos.append(
            PackInfo(
                id=pack.id,
                title=pack.title,
                version=pack.version,
                description=pack.description,
                digest=compiled.digest,
                path=str(path),
                readme=pack.readme,
            )
        )
    return infos


__all__ = [
    "ACTIONS",
    "SEVERITIES",
    "VERDICTS",
    "VERDICT_RANK",
    "action_digest",
    "ActionRequest",
    "CompiledPolicy",
    "Pack",
    "PackInfo",
    "PolicyError",
    "TestResult",
    "Verdict",
    "compile_pack",
    "diff_packs",
    "evaluate",
    "list_bundled_packs",
    "load_bundled_pack",
    "load_pack_file",
    "load_pack_text",
    "run_pack_tests",
]

"""Writes to the evidence chain: append, signing keys, checkpoints, verification runs, bundles, retention.

Sessions and decisions are written by the decision pipeline (policies/decisions), one writer each.
"""

from __future__ import annotations

from evidence.services.bundles import BundleExport, bundle_export
from evidence.services.chain import evidence_append, evidence_audit_sink
from evidence.services.checkpoints import (
    checkpoint_create,
    checkpoint_if_grown,
    signing_key_current,
    signing_key_rotate,
    trust_root_export,
)
from evidence.services.common import (
    BUNDLE_MAX_RECORDS,
    MATCHED_SEQS_LIMIT,
    PROBLEM_LIMIT,
    EvidenceError,
    LegalHoldActive,
    actor_label,
    checkpoint_document,
    record_document,
    utc_timestamp,
)
from evidence.services.merkle import (
    merkle_consistency_proof,
    merkle_extend,
    merkle_frontier,
    merkle_inclusion_proof,
    merkle_root,
)
from evidence.services.retention import (
    PurgeResult,
    retention_policy_get,
    retention_policy_update,
    retention_purge,
)
from evidence.services.verification import chain_verify

__all__ = [
    "BUNDLE_MAX_RECORDS",
    "MATCHED_SEQS_LIMIT",
    "PROBLEM_LIMIT",
    "EvidenceError",
    "LegalHoldActive",
    "utc_timestamp",
    "actor_label",
    "record_document",
    "checkpoint_document",
    "evidence_append",
    "evidence_audit_sink",
    "signing_key_current",
    "signing_key_rotate",
    "trust_root_export",
    "checkpoint_create",
    "checkpoint_if_grown",
    "chain_verify",
    "BundleExport",
    "bundle_export",
    "retention_policy_get",
    "retention_policy_update",
    "PurgeResult",
    "retention_purge",
    "merkle_extend",
    "merkle_root",
    "merkle_frontier",
    "merkle_inclusion_proof",
    "merkle_consistency_proof",
]

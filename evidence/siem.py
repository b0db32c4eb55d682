"""SIEM formats for evidence records: JSON Lines (the bundle's record form) and ArcSight CEF."""

from __future__ import annotations

import json

from cavra_engine.evidence.canonical import canonicalize
from evidence.models import EvidenceRecord
from evidence.services import record_document

CEF_SEVERITY = {"low": 3, "medium": 5, "high": 8, "critical": 10}


def record_jsonl(record: EvidenceRecord, tenant_label: str) -> bytes:
    return canonicalize(record_document(record, tenant_label)) + b"\n"


def _cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _cef_value(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def record_cef(record: EvidenceRecord, tenant_label: str) -> bytes:
    payload = record.payload if isinstance(record.payload, dict) else {}
    severity = CEF_SEVERITY.get(str(payload.get("severity", "")).lower(), 1)
    extension = [
        ("rt", int(record.created_at.timestamp() * 1000)),
        ("externalId", record.seq),
        ("suser", record.actor or "system"),
        ("act", record.decision or payload.get("decision", "")),
        ("cs1Label", "evidenceId"), ("cs1", record.public_id),
        ("cs2Label", "subject"), ("cs2", record.subject),
        ("cs3Label", "tenant"), ("cs3", tenant_label),
        ("cs4Label", "hash"), ("cs4", record.hash),
        ("cs5Label", "prevHash"), ("cs5", record.prev_hash),
        ("cs6Label", "repository"), ("cs6", record.repository),
        ("msg", json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)),
    ]  # fmt: skip
    header = "|".join(
        [
            "CEF:0",
            "CAVRA",
            "CAVRA Portal",
            "1.0",
            _cef_header(record.kind),
            _cef_header(record.kind),
            str(severity),
        ]
    )
    return (header + "|" + " ".join(f"{k}={_cef_value(v)}" for k, v in extension) + "\n").encode("utf-8")

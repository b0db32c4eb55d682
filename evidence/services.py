"""Writes to the evidence chain: append, signing keys, checkpoints, verification runs, bundles, retention."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.db import IntegrityError, transaction
from django.db.models import Max, Min
from django.utils import timezone

from cavra_engine.evidence.bundle import (
    build_bundle,
    checkpoint_message,
    fingerprint,
    key_id_for,
    public_key_raw,
    sign_checkpoint,
    trust_root_document,
)
from cavra_engine.evidence.canonical import (
    GENESIS_HASH,
    CanonicalizationError,
    canonicalize,
    normalize,
    sha256_hex,
)
from evidence.models import (
    AgentSession,
    ChainHead,
    Checkpoint,
    Decision,
    EvidenceRecord,
    RetentionPolicy,
    SigningKey,
    VerificationRun,
)
from evidence.signing import decrypt_private_key, encrypt_private_key
from tenants.models import Tenant

BUNDLE_MAX_RECORDS = 500_000
MATCHED_SEQS_LIMIT = 10_000
PROBLEM_LIMIT = 50


class EvidenceError(ValueError):
    """A request about evidence that cannot be served as asked (the message is for the user)."""


class LegalHoldActive(EvidenceError):
    pass


def utc_timestamp(moment: datetime) -> str:
    """The one text form of a time inside evidence: UTC, microseconds, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def actor_label(actor) -> str | None:
    """User -> "user:<email>", an object with public_id (an agent) -> "agent:<id>", text as given, None for system."""
    if actor is None:
        return None
    if isinstance(actor, str):
        return actor
    if getattr(actor, "is_authenticated", False) and getattr(actor, "email", None):
        return f"user:{actor.email}"
    if getattr(actor, "public_id", None):
        return f"agent:{actor.public_id}"
    return str(actor)


def record_document(record: EvidenceRecord, tenant_label: str) -> dict:
    """The record as it is hashed and exported (docs/evidence-format.md, "Record")."""
    return {
        "id": record.public_id,
        "tenant": tenant_label,
        "seq": record.seq,
        "kind": record.kind,
        "subject": record.subject,
        "payload": record.payload,
        "actor": record.actor,
        "created_at": utc_timestamp(record.created_at),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def checkpoint_document(checkpoint: Checkpoint, tenant_label: str) -> dict:
    return {
        "type": "cavra.evidence.checkpoint/v1",
        "tenant": tenant_label,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": utc_timestamp(checkpoint.created_at),
        "key_id": checkpoint.key.key_id,
        "signature": checkpoint.signature,
    }


def _hash_of(document: dict) -> str:
    return sha256_hex(canonicalize({k: v for k, v in document.items() if k != "hash"}))


def _lock_head(tenant: Tenant) -> ChainHead:
    """Take the tenant's chain lock (row lock on its head) for the rest of the transaction."""
    head = ChainHead.objects.select_for_update().filter(tenant=tenant).first()
    if head is None:
        ChainHead.objects.bulk_create(
            [ChainHead(tenant=tenant, tenant_label=tenant.slug)], ignore_conflicts=True
        )
        head = ChainHead.objects.select_for_update().get(tenant=tenant)
    return head


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def evidence_append(*, tenant: Tenant, kind: str, subject: str, payload: dict, actor=None) -> EvidenceRecord:
    """Append one record to the tenant's chain, inside the caller's transaction.

    The row lock on the chain head serialises appends per tenant until the caller commits, so seqs are
    gapless, every prev_hash is the committed head, and records become visible strictly in seq order.
    Payload members `session`, `agent`, `repository` and `decision` (strings) are indexed for search.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("evidence_append must run inside the caller's transaction.atomic() block")
    if not kind or not isinstance(kind, str):
        raise EvidenceError("kind is required")
    try:
        payload = normalize(payload)
    except CanonicalizationError as exc:
        raise EvidenceError(f"payload cannot be recorded as evidence: {exc}")
    if not isinstance(payload, dict):
        raise EvidenceError("payload must be a JSON object")
    if "\\u0000" in canonicalize(payload).decode("utf-8"):
        raise EvidenceError("payload contains a NUL character, which the database cannot store")
    record = EvidenceRecord(
        tenant=tenant,
        kind=kind[:100],
        subject=(subject or "")[:300],
        payload=payload,
        actor=actor_label(actor),
        session_ref=_text(payload.get("session"), 64),
        agent_ref=_text(payload.get("agent"), 64),
        repository=_text(payload.get("repository"), 300),
        decision=_text(payload.get("decision"), 32),
    )
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        return _append_postgresql(connection, record)
    head = _lock_head(tenant)
    record.seq, record.prev_hash, record.created_at = head.seq + 1, head.head_hash, timezone.now()
    record.hash = _hash_of(record_document(record, head.tenant_label))
    record.save(force_insert=True)
    ChainHead.objects.filter(pk=head.pk).update(
        seq=record.seq, head_hash=record.hash, updated_at=record.created_at
    )
    return record


# The chain lock is held from this statement until commit. The commit itself does not wait for the WAL
# flush (synchronous_commit off for this transaction only), so the lock is not held through an fsync;
# durability is awaited right after commit, outside the lock, by _await_durability: concurrent appends
# then share WAL flushes (group commit) instead of queueing one fsync each behind the lock.
_ADVANCE_HEAD = (
    "UPDATE evidence_chainhead SET seq = seq + 1"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
    " WHERE tenant_id = %s RETURNING seq, head_hash, tenant_label"
)
_INSERT_AND_MOVE_HEAD = """
WITH ins AS (
    INSERT INTO evidence_evidencerecord
        (tenant_id, public_id, seq, kind, subject, payload, actor, created_at, prev_hash, hash,
         session_ref, agent_ref, repository, decision)
    VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id
)
UPDATE evidence_chainhead SET head_hash = %s, updated_at = %s FROM ins WHERE tenant_id = %s RETURNING ins.id
"""


def _append_postgresql(connection, record: EvidenceRecord) -> EvidenceRecord:
    """The hot path: two round trips while the tenant's chain is locked (the lock lasts until commit).

    The first statement locks the head row and takes the next seq; the hash is computed in between;
    the second inserts the record and moves the head hash. Everything else happens before the lock.
    """
    payload_json = canonicalize(record.payload).decode("utf-8")
    tenant_id = record.tenant_id
    # One durability wait per transaction; a rolled-back transaction drops it with its other callbacks.
    if not any(getattr(entry[1], "cavra_durability", False) for entry in connection.run_on_commit):
        barrier = partial(_await_durability, connection)
        barrier.cavra_durability = True
        connection.on_commit(barrier)
    with connection.cursor() as cursor:
        cursor.execute(_ADVANCE_HEAD, [tenant_id])
        row = cursor.fetchone()
        if row is None:
            _lock_head(record.tenant)  # first record of this tenant: create the head row, then retry
            cursor.execute(_ADVANCE_HEAD, [tenant_id])
            row = cursor.fetchone()
        record.seq, record.prev_hash, label = row
        record.created_at = timezone.now()
        record.hash = _hash_of(record_document(record, label))
        cursor.execute(
            _INSERT_AND_MOVE_HEAD,
            [tenant_id, record.public_id, record.seq, record.kind, record.subject, payload_json, record.actor,
             record.created_at, record.prev_hash, record.hash, record.session_ref, record.agent_ref,
             record.repository, record.decision, record.hash, record.created_at, tenant_id],
        )  # fmt: skip
        record.pk = cursor.fetchone()[0]
    record._state.adding = False
    record._state.db = connection.alias
    return record


def _await_durability(connection) -> None:
    """Return only once the committed evidence is on disk.

    A transaction that is assigned an xid writes a commit record and, with the session's default
    synchronous_commit=on, waits until the WAL is flushed up to it; WAL is flushed in order, so the
    evidence committed just before is durable too. Many writers' waits are served by one flush.
    The caller (e.g. the decision API) answers only after this returns.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")


def _json_safe(value):
    """Audit payloads come from model snapshots; anything outside the evidence subset becomes text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 - 1 else str(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= 2**53 - 1 else repr(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def evidence_audit_sink(*, tenant, kind, subject, payload, actor=None) -> None:
    """Registered with tenants.audit: role and admin changes land in the chain in the same transaction."""
    evidence_append(tenant=tenant, kind=kind, subject=subject, payload=_json_safe(payload), actor=actor)


# --- activity -------------------------------------------------------------------------------------


def agent_session_open(
    *,
    tenant: Tenant,
    agent_ref: str = "",
    agent_name: str = "",
    repository: str = "",
    environment: str = "",
    metadata=None,
) -> AgentSession:
    with transaction.atomic():
        session = AgentSession.objects.create(
            tenant=tenant, agent_ref=agent_ref, agent_name=agent_name, repository=repository,
            environment=environment, metadata=_json_safe(metadata or {}),
        )  # fmt: skip
        evidence_append(
            tenant=tenant, kind="session.opened", subject=session.public_id, actor=f"agent:{agent_ref}" if agent_ref else None,
            payload={"session": session.public_id, "agent": agent_ref, "repository": repository, "environment": environment},
        )  # fmt: skip
    return session


def decision_record(
    *,
    tenant: Tenant,
    action: str,
    target: str,
    decision: str,
    session: AgentSession | None = None,
    agent_ref: str = "",
    repository: str = "",
    environment: str = "",
    rule_id: str = "",
    severity: str = "",
    reason: str = "",
    policy: dict | None = None,
    context: dict | None = None,
) -> Decision:
    """Write a Decision and its evidence record together; call inside the decision's transaction."""
    policy = policy or {}
    with transaction.atomic():
        row = Decision(
            tenant=tenant, session=session, agent_ref=agent_ref, action=action, target=target, repository=repository,
            environment=environment, decision=decision, rule_id=rule_id, severity=severity, reason=reason,
            policy_pack=policy.get("pack", ""), policy_version=str(policy.get("version", "")),
            policy_digest=policy.get("digest", ""), policy_mode=policy.get("mode", ""), context=_json_safe(context or {}),
        )  # fmt: skip
        payload = {
            "decision_id": row.public_id, "action": action, "target": target, "decision": decision,
            "rule_id": rule_id, "severity": severity, "reason": reason, "repository": repository,
            "environment": environment, "agent": agent_ref, "session": session.public_id if session else "",
            "policy": {"pack": row.policy_pack, "version": row.policy_version, "digest": row.policy_digest, "mode": row.policy_mode},
        }  # fmt: skip
        row.evidence = evidence_append(
            tenant=tenant, kind="decision.recorded", subject=row.public_id, payload=payload,
            actor=f"agent:{agent_ref}" if agent_ref else None,
        )  # fmt: skip
        row.created_at = row.evidence.created_at
        row.save(force_insert=True)
    return row


# --- signing keys and checkpoints -----------------------------------------------------------------


def _new_key(tenant: Tenant, valid_from: datetime) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    raw = public_key_raw(private.public_key())
    key_id = key_id_for(raw)
    return SigningKey.objects.create(
        tenant=tenant, key_id=key_id, public_key=raw.hex(), fingerprint=fingerprint(raw),
        private_key_encrypted=encrypt_private_key(private, key_id=key_id), valid_from=valid_from,
    )  # fmt: skip


def signing_key_current(tenant: Tenant) -> SigningKey:
    """The key that signs now; the tenant's first key is made on first use (under the chain lock)."""
    key = SigningKey.objects.filter(tenant=tenant, valid_until__isnull=True).first()
    if key is not None:
        return key
    with transaction.atomic():
        _lock_head(tenant)
        key = SigningKey.objects.filter(tenant=tenant, valid_until__isnull=True).first()
        return key or _new_key(tenant, timezone.now())


def signing_key_rotate(*, tenant: Tenant, actor=None) -> SigningKey:
    """Retire the current key (its public half stays in the trust root) and start a new one."""
    with transaction.atomic():
        _lock_head(tenant)
        now = timezone.now()
        old = list(SigningKey.objects.select_for_update().filter(tenant=tenant, valid_until__isnull=True))
        SigningKey.objects.filter(pk__in=[k.pk for k in old]).update(valid_until=now)
        key = _new_key(tenant, now)
        evidence_append(
            tenant=tenant, kind="evidence.key.rotated", subject=key.key_id, actor=actor,
            payload={"key_id": key.key_id, "fingerprint": key.fingerprint, "retired": [k.key_id for k in old]},
        )  # fmt: skip
    return key


def trust_root_export(tenant: Tenant) -> dict:
    """Every public key the tenant ever signed with, with its validity window."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    keys = SigningKey.objects.filter(tenant=tenant).order_by("valid_from")
    if not keys:
        keys = [signing_key_current(tenant)]
    return trust_root_document(
        tenant=head.tenant_label if head else tenant.slug,
        created_at=utc_timestamp(timezone.now()),
        keys=[
            {"public_key": k.public_key, "valid_from": utc_timestamp(k.valid_from),
             "valid_until": utc_timestamp(k.valid_until) if k.valid_until else None}
            for k in keys
        ],
    )  # fmt: skip


def checkpoint_create(
    *, tenant: Tenant, reason: str = Checkpoint.Reason.ON_DEMAND, seq: int | None = None
) -> Checkpoint | None:
    """Sign (tenant, seq, head hash, time) at the head (or at `seq`); None while the chain is empty."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    if head is None or head.seq == 0:
        return None
    if seq is None:
        seq, head_hash = head.seq, head.head_hash
    else:
        head_hash = (
            EvidenceRecord.objects.filter(tenant=tenant, seq=seq).values_list("hash", flat=True).first()
        )
        if head_hash is None:
            raise EvidenceError(f"there is no record #{seq} to checkpoint")
    existing = Checkpoint.objects.filter(tenant=tenant, seq=seq).select_related("key").first()
    if existing is not None:
        return existing
    key = signing_key_current(tenant)
    created_at = timezone.now()
    document = sign_checkpoint(
        tenant=head.tenant_label, seq=seq, head_hash=head_hash, created_at=utc_timestamp(created_at),
        private_key=decrypt_private_key(key.private_key_encrypted, key_id=key.key_id),
    )  # fmt: skip
    try:
        with transaction.atomic():
            return Checkpoint.objects.create(
                tenant=tenant, seq=seq, head_hash=head_hash, created_at=created_at, key=key,
                signature=document["signature"], reason=reason,
            )  # fmt: skip
    except IntegrityError:  # another worker signed the same head a moment ago
        return Checkpoint.objects.select_related("key").get(tenant=tenant, seq=seq)


def checkpoint_if_grown(tenant: Tenant) -> Checkpoint | None:
    """The scheduled checkpoint: only when records were appended since the last one."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    last = Checkpoint.objects.filter(tenant=tenant).aggregate(m=Max("seq"))["m"] or 0
    if head is None or head.seq <= last:
        return None
    return checkpoint_create(tenant=tenant, reason=Checkpoint.Reason.SCHEDULED)


# --- verification ---------------------------------------------------------------------------------


@dataclass
class _Walk:
    problems: list[dict]

    def add(self, seq: int | None, message: str) -> None:
        if len(self.problems) < PROBLEM_LIMIT:
            self.problems.append({"seq": seq, "message": message})


def _verify_checkpoint(cp: Checkpoint, tenant_label: str, record_hash: str | None, walk: _Walk) -> None:
    document = checkpoint_document(cp, tenant_label)
    key = cp.key
    when = cp.created_at
    if when < key.valid_from or (key.valid_until is not None and when >= key.valid_until):
        walk.add(
            cp.seq,
            f"Checkpoint at record #{cp.seq} was signed at {utc_timestamp(when)}, outside the validity of key {key.key_id}.",
        )
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.public_key)).verify(
            bytes.fromhex(cp.signature), checkpoint_message(document)
        )
    except (InvalidSignature, ValueError):
        walk.add(cp.seq, f"Checkpoint at record #{cp.seq} has a bad signature: it was altered after signing.")
    if record_hash is not None and record_hash != cp.head_hash:
        walk.add(
            cp.seq,
            f"Checkpoint at record #{cp.seq} signed a different head hash than the record now holds: the chain was rewritten up to here.",
        )


def chain_verify(
    *, tenant: Tenant, first_seq: int | None = None, last_seq: int | None = None,
    trigger: str = VerificationRun.Trigger.ON_DEMAND, requested_by=None,
) -> VerificationRun:  # fmt: skip
    """Re-walk the chain (or [first_seq, last_seq]) from the database and record what was found."""
    head = ChainHead.objects.filter(tenant=tenant).first()
    run = VerificationRun(
        tenant=tenant,
        trigger=trigger,
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
    )
    walk = _Walk([])
    label = head.tenant_label if head else tenant.slug
    full = first_seq is None and last_seq is None
    start = first_seq if first_seq is not None else (head.purged_through + 1 if head else 1)
    end = last_seq if last_seq is not None else (head.seq if head else 0)
    checkpoints = {
        cp.seq: cp
        for cp in Checkpoint.objects.filter(tenant=tenant, seq__gte=start - 1, seq__lte=end).select_related(
            "key"
        )
    }
    if start == 1:
        expected_prev = GENESIS_HASH
    elif start - 1 in checkpoints:
        expected_prev = checkpoints[start - 1].head_hash
    else:
        expected_prev = (
            EvidenceRecord.objects.filter(tenant=tenant, seq=start - 1).values_list("hash", flat=True).first()
        )
    expected_seq, count, last_hash = start, 0, None
    fields = ("public_id", "seq", "kind", "subject", "payload", "actor", "created_at", "prev_hash", "hash")
    rows = (
        EvidenceRecord.objects.filter(tenant=tenant, seq__gte=start, seq__lte=end)
        .order_by("seq")
        .values_list(*fields)
    )
    for public_id, seq, kind, subject, payload, actor, created_at, prev_hash, stored in rows.iterator(
        chunk_size=5000
    ):
        count += 1
        if seq != expected_seq:
            gap = (
                f"Record #{expected_seq} is"
                if seq == expected_seq + 1
                else f"Records #{expected_seq} to #{seq - 1} are"
            )
            walk.add(expected_seq, f"{gap} missing: the chain has a gap before record #{seq}.")
        document = {"id": public_id, "tenant": label, "seq": seq, "kind": kind, "subject": subject, "payload": payload,
                    "actor": actor, "created_at": utc_timestamp(created_at), "prev_hash": prev_hash}  # fmt: skip
        try:
            computed = sha256_hex(canonicalize(document))
        except CanonicalizationError as exc:
            computed = f"invalid: {exc}"
        if computed != stored:
            walk.add(
                seq,
                f"Record #{seq} was changed after it was written: its content no longer matches its hash.",
            )
        if expected_prev is not None and prev_hash != expected_prev:
            what = (
                "the retention checkpoint before it"
                if seq == start and start - 1 in checkpoints
                else f"record #{seq - 1}"
            )
            walk.add(seq, f"Broken link at record #{seq}: it does not point to the hash of {what}.")
        if seq in checkpoints:
            _verify_checkpoint(checkpoints[seq], label, stored, walk)
        expected_prev, expected_seq, last_hash = stored, seq + 1, stored
    if start - 1 in checkpoints:
        _verify_checkpoint(checkpoints[start - 1], label, None, walk)
    if expected_seq - 1 < end:
        gap = f"Record #{end} is" if expected_seq == end else f"Records #{expected_seq} to #{end} are"
        walk.add(expected_seq, f"{gap} missing at the end of the chain.")
    if full and head is not None and count and (head.head_hash != last_hash or head.seq != expected_seq - 1):
        walk.add(
            head.seq,
            f"The chain head says record #{head.seq} is the latest, but the stored records end at #{expected_seq - 1}.",
        )
    run.first_seq, run.last_seq = start, end
    run.records_checked, run.checkpoints_checked = count, len(checkpoints)
    run.problems = walk.problems
    run.ok = not walk.problems
    run.summary = (
        f"All {count} records from #{start} to #{end} verified; {len(checkpoints)} checkpoint signatures valid."
        if run.ok else walk.problems[0]["message"]
    )  # fmt: skip
    run.finished_at = timezone.now()
    run.save()
    return run


# --- bundles --------------------------------------------------------------------------------------


@dataclass
class BundleExport:
    filename: str
    data: bytes
    first_seq: int
    last_seq: int
    record_count: int
    matched: int


def bundle_export(
    *, tenant: Tenant, actor=None, since: datetime | None = None, until: datetime | None = None,
    session: str = "", agent: str = "", repository: str = "", first_seq: int | None = None, last_seq: int | None = None,
) -> BundleExport:  # fmt: skip
    """Export the records matching a selection, plus everything needed to verify them offline.

    The bundle holds the contiguous seq range from the first matching record to the first checkpoint at
    or after the last one (so the chain links and is signed end to end); the manifest lists the matches.
    """
    selection = {
        "since": utc_timestamp(since) if since else None, "until": utc_timestamp(until) if until else None,
        "session": session or None, "agent": agent or None, "repository": repository or None,
        "first_seq": first_seq, "last_seq": last_seq,
    }  # fmt: skip
    matched_qs = EvidenceRecord.objects.filter(tenant=tenant)
    if since:
        matched_qs = matched_qs.filter(created_at__gte=since)
    if until:
        matched_qs = matched_qs.filter(created_at__lt=until)
    if session:
        matched_qs = matched_qs.filter(session_ref=session)
    if agent:
        matched_qs = matched_qs.filter(agent_ref=agent)
    if repository:
        matched_qs = matched_qs.filter(repository=repository)
    if first_seq is not None:
        matched_qs = matched_qs.filter(seq__gte=first_seq)
    if last_seq is not None:
        matched_qs = matched_qs.filter(seq__lte=last_seq)
    span = matched_qs.aggregate(lo=Min("seq"), hi=Max("seq"))
    if span["lo"] is None:
        raise EvidenceError("No evidence records match this selection.")
    cover = (
        Checkpoint.objects.filter(tenant=tenant, seq__gte=span["hi"])
        .order_by("seq")
        .select_related("key")
        .first()
    )
    if cover is None:
        cover = checkpoint_create(tenant=tenant, reason=Checkpoint.Reason.EXPORT)
    first, last = span["lo"], cover.seq
    if last - first + 1 > BUNDLE_MAX_RECORDS:
        raise EvidenceError(
            f"This selection spans {last - first + 1} records; export at most {BUNDLE_MAX_RECORDS} at a time (narrow the time range)."
        )
    matched = matched_qs.count()
    narrow = bool(session or agent or repository)
    matched_seqs = (
        list(matched_qs.order_by("seq").values_list("seq", flat=True)[:MATCHED_SEQS_LIMIT])
        if narrow
        else None
    )
    head = ChainHead.objects.get(tenant=tenant)
    lines = []
    count = 0
    fields = ("public_id", "seq", "kind", "subject", "payload", "actor", "created_at", "prev_hash", "hash")
    for public_id, seq, kind, subject, payload, actor_text, created_at, prev_hash, stored in (
        EvidenceRecord.objects.filter(tenant=tenant, seq__gte=first, seq__lte=last).order_by("seq").values_list(*fields).iterator(chunk_size=5000)
    ):  # fmt: skip
        lines.append(canonicalize({"id": public_id, "tenant": head.tenant_label, "seq": seq, "kind": kind, "subject": subject,
                                   "payload": payload, "actor": actor_text, "created_at": utc_timestamp(created_at),
                                   "prev_hash": prev_hash, "hash": stored}))  # fmt: skip
        count += 1
    lines.append(b"")
    checkpoints = [checkpoint_document(cp, head.tenant_label) for cp in
                   Checkpoint.objects.filter(tenant=tenant, seq__gte=first - 1, seq__lte=last).order_by("seq").select_related("key")]  # fmt: skip
    key = signing_key_current(tenant)
    now = timezone.now()
    data = build_bundle(
        tenant=head.tenant_label, created_at=utc_timestamp(now), records_jsonl=b"\n".join(lines), checkpoints=checkpoints,
        trust_root=trust_root_export(tenant), first_seq=first, last_seq=last, record_count=count,
        selection={"filter": selection, "matched": matched, "matched_seqs": matched_seqs},
        private_key=decrypt_private_key(key.private_key_encrypted, key_id=key.key_id),
    )  # fmt: skip
    with transaction.atomic():
        evidence_append(
            tenant=tenant, kind="evidence.bundle.exported", subject=f"seq:{first}-{last}", actor=actor,
            payload={"filter": {k: v for k, v in selection.items() if v is not None}, "first_seq": first, "last_seq": last,
                     "records": count, "matched": matched, "sha256": hashlib.sha256(data).hexdigest()},
        )  # fmt: skip
    filename = f"evidence-{head.tenant_label}-{first}-{last}-{now:%Y%m%dT%H%M%SZ}.zip"
    return BundleExport(filename, data, first, last, count, matched)


# --- retention ------------------------------------------------------------------------------------


def retention_policy_get(tenant: Tenant) -> RetentionPolicy:
    policy = RetentionPolicy.objects.filter(tenant=tenant).first()
    if policy is None:
        RetentionPolicy.objects.bulk_create([RetentionPolicy(tenant=tenant)], ignore_conflicts=True)
        policy = RetentionPolicy.objects.get(tenant=tenant)
    return policy


def retention_policy_update(
    *,
    tenant: Tenant,
    actor=None,
    retention_days: int | None = None,
    legal_hold: bool | None = None,
    legal_hold_reason: str | None = None,
) -> RetentionPolicy:
    with transaction.atomic():
        policy = retention_policy_get(tenant)
        policy = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
        before = {"retention_days": policy.retention_days, "legal_hold": policy.legal_hold}
        if retention_days is not None:
            if retention_days < 1:
                raise EvidenceError("retention_days must be at least 1")
            policy.retention_days = retention_days
        if legal_hold is not None:
            if legal_hold and not (legal_hold_reason or policy.legal_hold_reason):
                raise EvidenceError("a legal hold needs a reason")
            policy.legal_hold = legal_hold
        if legal_hold_reason is not None:
            policy.legal_hold_reason = legal_hold_reason
        policy.updated_at = timezone.now()
        policy.updated_by = actor if getattr(actor, "pk", None) else None
        policy.save()
        evidence_append(
            tenant=tenant, kind="evidence.retention.updated", subject=f"retention:{tenant.slug}", actor=actor,
            payload={"before": before, "after": {"retention_days": policy.retention_days, "legal_hold": policy.legal_hold,
                                                  "legal_hold_reason": policy.legal_hold_reason}},
        )  # fmt: skip
    return policy


@dataclass
class PurgeResult:
    cut_seq: int
    purged: int
    checkpoint: Checkpoint | None


def retention_purge(*, tenant: Tenant, actor=None, now: datetime | None = None) -> PurgeResult:
    """Delete records older than the tenant's retention, the only way rows leave the chain.

    First a signed checkpoint at the cut (so what remains verifies from there), then an evidence
    record of the purge, then the delete through the purge gate the database trigger checks.
    """
    now = now or timezone.now()
    with transaction.atomic():
        policy = retention_policy_get(tenant)
        policy = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
        if policy.legal_hold:
            raise LegalHoldActive(
                f"Evidence is under legal hold ({policy.legal_hold_reason or 'no reason given'}); nothing was purged."
            )
        head = _lock_head(tenant)
        cutoff = now - timedelta(days=policy.retention_days)
        cut = EvidenceRecord.objects.filter(
            tenant=tenant, seq__gt=head.purged_through, created_at__lt=cutoff
        ).aggregate(m=Max("seq"))["m"]
        if cut is None:
            return PurgeResult(head.purged_through, 0, None)
        checkpoint = checkpoint_create(tenant=tenant, seq=cut, reason=Checkpoint.Reason.RETENTION_CUT)
        doomed = EvidenceRecord.objects.filter(tenant=tenant, seq__gt=head.purged_through, seq__lte=cut)
        purged = doomed.count()
        evidence_append(
            tenant=tenant, kind="evidence.retention.purged", subject=f"seq:{head.purged_through + 1}-{cut}", actor=actor,
            payload={"cut_seq": cut, "cut_hash": checkpoint.head_hash, "checkpoint_signature": checkpoint.signature,
                     "records": purged, "retention_days": policy.retention_days, "cutoff": utc_timestamp(cutoff)},
        )  # fmt: skip
        Decision.objects.filter(tenant=tenant, evidence__seq__lte=cut).delete()
        ChainHead.objects.filter(pk=head.pk).update(purging=True, purged_through=cut)
        doomed.delete()
        ChainHead.objects.filter(pk=head.pk).update(purging=False)
    return PurgeResult(cut, purged, checkpoint)

"""Publishing signed tree heads to witnesses (EVIDENCE_WITNESSES) through the outbox, and their answers.

A checkpoint with a Merkle root writes one WitnessPublication per configured witness and one outbox
message each, in the checkpoint's transaction. The outbox's `witness` transport then asks the witness
which head it last countersigned for the tenant, sends the new head with the RFC 9162 consistency proof
from that size (docs/evidence-format.md section 12), checks the countersignature with the witness's
configured key and stores it. Network trouble is retried by the outbox with backoff; a witness that
refuses the head (409: the history does not extend what it saw) is not retried. A publication that
ends refused or failed sends `witness_publication_failed` after commit (AISPM opens a finding) and
shows in `cavra_doctor`.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import partial

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from cavra_engine.evidence.bundle import key_id_for
from cavra_engine.evidence.commitments import cosignature_valid
from core.models import OutboxMessage
from core.outbox import MAX_ATTEMPTS, PermanentDeliveryError, outbox_enqueue_payload
from evidence.models import ChainHead, Checkpoint, WitnessPublication
from evidence.services.common import EvidenceError, checkpoint_document
from evidence.services.merkle import merkle_consistency_proof
from evidence.signals import witness_publication_failed

OUTBOX_KIND = "witness.tree_head"
logger = logging.getLogger(__name__)
P = WitnessPublication.Status


@dataclass(frozen=True)
class WitnessConfig:
    url: str  # base URL; the witness API is under /v1/heads
    public_key: Ed25519PublicKey
    key_id: str


def witnesses_configured() -> list[WitnessConfig]:
    """EVIDENCE_WITNESSES parsed: "<base URL>|<64 hex public key>", comma-separated."""
    witnesses = []
    for item in filter(None, (part.strip() for part in (settings.EVIDENCE_WITNESSES or "").split(","))):
        url, _, key_hex = item.partition("|")
        url = url.strip().rstrip("/")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ImproperlyConfigured(f"EVIDENCE_WITNESSES: {url!r} is not an http(s) URL")
        try:
            raw = bytes.fromhex(key_hex.strip())
            public_key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"EVIDENCE_WITNESSES: the key after {url}| must be a 64-hex Ed25519 public key ({exc})"
            ) from exc
        witnesses.append(WitnessConfig(url=url, public_key=public_key, key_id=key_id_for(raw)))
    return witnesses


def witness_publications_enqueue(checkpoint: Checkpoint) -> list[WitnessPublication]:
    """In the checkpoint's transaction: one publication and one outbox message per configured witness."""
    if not checkpoint.root_hash:
        return []  # a v1 checkpoint is no tree head; a witness could not check its consistency
    try:
        witnesses = witnesses_configured()
    except ImproperlyConfigured:
        # Signing the head must not stop over a publication setting; cavra_doctor fails and names it.
        logger.exception("evidence: tree head #%s not published", checkpoint.seq)
        return []
    publications = []
    for witness in witnesses:
        publication, created = WitnessPublication.objects.get_or_create(
            checkpoint=checkpoint, witness_key_id=witness.key_id,
            defaults={"tenant_id": checkpoint.tenant_id, "witness_url": witness.url},
        )  # fmt: skip
        if created:
            outbox_enqueue_payload(
                tenant=checkpoint.tenant, kind=OUTBOX_KIND, payload={"publication": publication.pk},
                idempotency_key=f"witness:{checkpoint.tenant_id}:{checkpoint.seq}:{witness.key_id}",
            )  # fmt: skip
        publications.append(publication)
    return publications


class _Unreachable(Exception):
    """The witness could not be asked or answered nonsense: worth another attempt later."""


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.EVIDENCE_WITNESS_TIMEOUT) as response:
            status, text = response.status, response.read(256 * 1024)
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read(256 * 1024)
    except (OSError, ValueError) as exc:
        raise _Unreachable(f"{method} {url}: {exc}") from exc
    try:
        answer = json.loads(text or b"{}")
    except ValueError:
        answer = {"error": text[:200].decode("utf-8", "replace")}
    return status, answer if isinstance(answer, dict) else {"error": str(answer)[:200]}


def _witnessed_size(witness: WitnessConfig, tenant_label: str) -> int:
    """The size of the last head this witness countersigned for the tenant (0: none yet)."""
    status, answer = _http("GET", f"{witness.url}/v1/heads/{urllib.parse.quote(tenant_label)}")
    if status == 404:
        return 0
    head = answer.get("tree_head") if status == 200 else None
    if not isinstance(head, dict) or not cosignature_valid(
        head, answer.get("cosignature"), witness.public_key
    ):
        raise _Unreachable(
            f"GET {witness.url}/v1/heads/{tenant_label}: {status}, no head countersigned by {witness.key_id}"
        )
    return head["seq"]


def _publish(publication: WitnessPublication, witness: WitnessConfig) -> None:
    """One attempt. Sets the publication's outcome, or raises _Unreachable / PermanentDeliveryError."""
    checkpoint = publication.checkpoint
    label = (
        ChainHead.objects.filter(tenant_id=checkpoint.tenant_id).values_list("tenant_label", flat=True).get()
    )
    head = checkpoint_document(checkpoint, label)
    size = _witnessed_size(witness, label)
    if size > checkpoint.seq:
        publication.status = P.SUPERSEDED
        return
    proof = (
        merkle_consistency_proof(tenant=checkpoint.tenant, first=size, second=checkpoint.seq) if size else []
    )
    status, answer = _http(
        "POST", f"{witness.url}/v1/heads", {"tree_head": head, "consistency": [h.hex() for h in proof]}
    )
    if status == 409:
        raise PermanentDeliveryError(
            f"witness {witness.key_id} refused head #{checkpoint.seq}: {answer.get('error', '')}"
        )
    if status != 200:
        raise _Unreachable(f"POST {witness.url}/v1/heads: {status} {str(answer.get('error', ''))[:300]}")
    if not cosignature_valid(head, answer.get("cosignature"), witness.public_key):
        raise _Unreachable(
            f"witness at {witness.url} answered without a valid countersignature by {witness.key_id}"
        )
    publication.status, publication.cosignature = P.PUBLISHED, answer["cosignature"]


def witness_publication_deliver(message: OutboxMessage) -> None:
    """The outbox transport for `witness.*` messages (runs inside the outbox's delivery transaction)."""
    publication = (
        WitnessPublication.objects.select_for_update().select_related("checkpoint__key", "checkpoint__tenant")
        .filter(pk=(message.payload or {}).get("publication")).first()
    )  # fmt: skip
    if publication is None or publication.status != P.PENDING:
        return
    witness = next((w for w in witnesses_configured() if w.key_id == publication.witness_key_id), None)
    error: Exception | None = None
    try:
        if witness is None:
            raise PermanentDeliveryError(
                f"witness {publication.witness_key_id} is no longer in EVIDENCE_WITNESSES"
            )
        _publish(publication, witness)
    except (_Unreachable, PermanentDeliveryError, EvidenceError) as exc:
        error = exc
    publication.attempts += 1
    if error is None:
        publication.last_error, publication.finished_at = "", timezone.now()
    else:
        publication.last_error = str(error)[:2000]
        if isinstance(error, PermanentDeliveryError) and witness is not None:
            publication.status, publication.finished_at = P.REFUSED, timezone.now()
        elif isinstance(error, PermanentDeliveryError) or message.attempts + 1 >= MAX_ATTEMPTS:
            publication.status, publication.finished_at = P.FAILED, timezone.now()
    with transaction.atomic():
        publication.save(update_fields=["status", "attempts", "last_error", "cosignature", "finished_at"])
        if publication.status in (P.REFUSED, P.FAILED):
            transaction.on_commit(partial(_announce_failure, publication.pk))
    if error is not None:
        raise error


def _announce_failure(publication_id: int) -> None:
    publication = WitnessPublication.objects.select_related("tenant").get(pk=publication_id)
    witness_publication_failed.send(
        sender=WitnessPublication, tenant=publication.tenant, publication=publication
    )


def witness_publication_status(tenant) -> list[dict]:
    """Per configured witness: the tenant's latest publication, latest settled one and latest countersigned."""
    rows = []
    for witness in witnesses_configured():
        mine = WitnessPublication.objects.filter(tenant=tenant, witness_key_id=witness.key_id).select_related(
            "checkpoint"
        )
        newest = mine.order_by("-checkpoint__seq")
        rows.append({
            "witness": witness,
            "latest": newest.first(),
            "settled": newest.filter(status__in=(P.PUBLISHED, P.REFUSED, P.FAILED)).first(),
            "published": newest.filter(status=P.PUBLISHED).first(),
        })  # fmt: skip
    return rows

"""Readiness checks (`manage.py cavra_doctor`): each says OK, WARN or FAIL, what it saw, and what to fix."""

from __future__ import annotations

import io
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max
from django.utils import timezone

from evidence.models import ChainHead, Checkpoint, SigningKey, VerificationRun, WitnessPublication
from evidence.services.anchoring import s3_anchor_status
from evidence.services.witnesses import witness_publication_status

HEAD_FRESH = timedelta(minutes=10)  # checkpoints are scheduled every minute when the chain grew
BACKUP_FRESH = timedelta(hours=25)
VERIFY_FRESH = timedelta(days=2)  # verification is scheduled hourly
KEY_ROTATION_AGE = timedelta(days=365)
P = WitnessPublication.Status


@dataclass
class Check:
    name: str
    status: str  # OK, WARN, FAIL
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}" + (
            f"\n     fix: {self.fix}" if self.fix else ""
        )


def _database() -> Check:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        pending = MigrationExecutor(connection).migration_plan(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
    except Exception as exc:  # the check reports whatever stops it
        return Check(
            "database", "FAIL", f"cannot query: {exc}", "check DATABASE_URL and that PostgreSQL runs"
        )
    if pending:
        return Check("database", "FAIL", f"{len(pending)} migration(s) not applied", "manage.py migrate")
    return Check("database", "OK", f"{connection.vendor}, migrations applied")


def _redis() -> Check:
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except Exception as exc:
        return Check("redis", "FAIL", f"{settings.REDIS_URL}: {exc}", "start Redis or fix REDIS_URL")
    return Check("redis", "OK", "ping answered")


def _celery() -> Check:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return Check("celery", "WARN", "tasks run inline (CELERY_TASK_ALWAYS_EAGER, the demo default)",
                     "set CELERY_TASK_ALWAYS_EAGER=0 and run workers and beat in production")  # fmt: skip
    from celery import current_app as app  # the project's app, set up when Django starts

    try:
        replies = app.control.ping(timeout=2.0) or []
    except Exception as exc:
        return Check("celery", "FAIL", f"broker unreachable: {exc}", "check CELERY_BROKER_URL")
    if not replies:
        return Check("celery", "FAIL", "no worker answered a ping", "start `celery -A cavra_portal worker`")
    return Check("celery", "OK", f"{len(replies)} worker(s) answered")


def _beat() -> Check:
    from django_celery_beat.models import PeriodicTask

    last = PeriodicTask.objects.filter(enabled=True).aggregate(m=Max("last_run_at"))["m"]
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return Check("celery beat", "WARN", "not needed in eager mode; schedules do not run by themselves",
                     "run `celery -A cavra_portal beat` in production")  # fmt: skip
    if last is None or timezone.now() - last > timedelta(minutes=5):
        return Check("celery beat", "FAIL", f"no scheduled task ran since {last or 'ever'}",
                     "start `celery -A cavra_portal beat`")  # fmt: skip
    return Check("celery beat", "OK", f"last scheduled run {last:%Y-%m-%d %H:%M:%S} UTC")


def _tenant_checks(head: ChainHead) -> list[Check]:
    """One tenant's evidence: signing key, latest signed tree head, last verification, witnesses."""
    slug, now = head.tenant.slug, timezone.now()
    checks = []
    key = SigningKey.objects.filter(tenant=head.tenant, valid_until__isnull=True).first()
    if key is None:
        checks.append(Check(f"signing key {slug}", "FAIL", "no current signing key",
                            "sign a checkpoint (creates the key) or rotate keys"))  # fmt: skip
    elif now - key.valid_from > KEY_ROTATION_AGE:
        checks.append(Check(f"signing key {slug}", "WARN", f"{key.key_id} signs since {key.valid_from:%Y-%m-%d}",
                            "rotate the signing key (Evidence → Verification → Rotate key)"))  # fmt: skip
    else:
        checks.append(Check(f"signing key {slug}", "OK", f"{key.key_id} since {key.valid_from:%Y-%m-%d}"))
    latest = Checkpoint.objects.filter(tenant=head.tenant).order_by("-seq").first()
    if latest is None:
        checks.append(Check(f"tree head {slug}", "FAIL", f"{head.seq} records, never signed",
                            "run the checkpoint schedule (celery beat) or sign one on the Evidence page"))  # fmt: skip
    elif latest.seq < head.seq and now - latest.created_at > HEAD_FRESH:
        checks.append(Check(f"tree head {slug}", "FAIL",
                            f"latest signed head #{latest.seq} is {now - latest.created_at} old, chain at #{head.seq}",
                            "check that celery beat and workers run the checkpoint task"))  # fmt: skip
    elif not latest.root_hash:
        checks.append(Check(f"tree head {slug}", "WARN", f"latest checkpoint #{latest.seq} has no Merkle root (v1)",
                            "sign a new checkpoint; the tree is built from seq 1"))  # fmt: skip
    else:
        age = now - latest.created_at
        checks.append(Check(f"tree head {slug}", "OK", f"#{latest.seq} signed {latest.created_at:%Y-%m-%d %H:%M} UTC "
                            f"({int(age.total_seconds() // 60)} min ago), chain at #{head.seq}"))  # fmt: skip
    checks.append(_verification(head))
    checks.extend(_witnesses(head, latest))
    if settings.EVIDENCE_S3_ANCHOR_BUCKET:
        checks.append(_s3_anchor(head))
    return checks


def _s3_anchor(head: ChainHead) -> Check:
    name = f"s3 anchor {head.tenant.slug}"
    message = s3_anchor_status(head.tenant)
    if message is None:
        return Check(
            name, "WARN", "no tree head anchored yet", "sign a checkpoint; check the outbox delivers"
        )
    if message.status == "sent":
        return Check(
            name,
            "OK",
            f"latest head written to {settings.EVIDENCE_S3_ANCHOR_BUCKET} {message.sent_at:%Y-%m-%d %H:%M} UTC",
        )
    return Check(name, "FAIL" if message.status == "failed" or message.attempts >= 3 else "WARN",
                 f"latest head not written after {message.attempts} attempt(s): {message.last_error[:200]}",
                 "check EVIDENCE_S3_ANCHOR_* and the bucket's object lock; the outbox retries")  # fmt: skip


def _verification(head: ChainHead) -> Check:
    slug = head.tenant.slug
    run = VerificationRun.objects.filter(tenant=head.tenant).order_by("-started_at").first()
    if run is None:
        return Check(
            f"chain {slug}", "WARN", "never verified", "verify it (Evidence → Verification → Verify now)"
        )
    when = f"{run.started_at:%Y-%m-%d %H:%M} UTC"
    if not run.ok:
        return Check(f"chain {slug}", "FAIL", f"verification of {when} failed: {run.summary[:200]}",
                     "investigate the problem listed on Evidence → Verification; restore from backup if rewritten")  # fmt: skip
    if timezone.now() - run.started_at > VERIFY_FRESH:
        return Check(
            f"chain {slug}", "WARN", f"last verified {when}", "check that the hourly verification runs"
        )
    return Check(f"chain {slug}", "OK", f"{run.records_checked} records verified {when}")


def _witnesses(head: ChainHead, latest: Checkpoint | None) -> list[Check]:
    slug, now = head.tenant.slug, timezone.now()
    try:
        rows = witness_publication_status(head.tenant)
    except ImproperlyConfigured as exc:
        return [Check(f"witness {slug}", "FAIL", str(exc), "fix EVIDENCE_WITNESSES")]
    if not rows:
        return [Check(f"witness {slug}", "WARN", "EVIDENCE_WITNESSES is not set: no tree head leaves the portal",
                      "run a witness where the operator has no access and set EVIDENCE_WITNESSES")]  # fmt: skip
    checks = []
    for row in rows:
        witness, settled, published = row["witness"], row["settled"], row["published"]
        name = f"witness {slug} → {witness.url}"
        if settled is not None and settled.status in (P.REFUSED, P.FAILED):
            checks.append(Check(name, "FAIL", f"head #{settled.checkpoint.seq} {settled.get_status_display().lower()}: "
                                f"{settled.last_error[:200]}",
                                "a refusal means the history was rewritten: investigate; a failure: fix the witness "
                                "URL/trust root, the next head is published again"))  # fmt: skip
        elif published is None:
            status = "WARN" if latest is None or now - latest.created_at <= HEAD_FRESH else "FAIL"
            checks.append(Check(name, status, "no head countersigned yet",
                                "check that the outbox delivers (celery workers) and the witness is reachable"))  # fmt: skip
        elif (
            latest is not None
            and published.checkpoint.seq < latest.seq
            and now - latest.created_at > HEAD_FRESH
        ):
            checks.append(Check(name, "FAIL", f"countersigned #{published.checkpoint.seq}, latest head #{latest.seq} "
                                f"is {now - latest.created_at} old and not countersigned",
                                "check the outbox (Django admin → Outbox messages) and the witness"))  # fmt: skip
        else:
            checks.append(Check(name, "OK", f"#{published.checkpoint.seq} countersigned "
                                f"{published.cosignature.get('witnessed_at', '?')} by {witness.key_id}"))  # fmt: skip
    return checks


def _tenant_heads(tenant=None):
    heads = ChainHead.objects.select_related("tenant").filter(seq__gt=0).order_by("tenant__slug")
    return heads.filter(tenant=tenant) if tenant is not None else heads


def _smtp() -> Check:
    if "smtp" not in settings.EMAIL_BACKEND:
        return Check(
            "smtp", "WARN", f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}", "use the SMTP backend in production"
        )
    try:
        with socket.create_connection((settings.EMAIL_HOST, settings.EMAIL_PORT), timeout=3) as sock:
            banner = sock.recv(128).decode("ascii", "replace").strip()
    except OSError as exc:
        return Check(
            "smtp",
            "FAIL",
            f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}: {exc}",
            "check EMAIL_HOST/EMAIL_PORT",
        )
    return Check("smtp", "OK", f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT} answered {banner[:40]!r}")


def _backup() -> Check:
    directory = os.environ.get("CAVRA_BACKUP_DIR", "")
    if not directory:
        return Check("backup", "WARN", "CAVRA_BACKUP_DIR not set, last backup unknown",
                     "run manage.py cavra_backup regularly and point CAVRA_BACKUP_DIR at the backups")  # fmt: skip
    manifests = sorted(Path(directory).glob("*/backup.json"), key=lambda p: p.stat().st_mtime)
    if not manifests:
        return Check("backup", "FAIL", f"no backup in {directory}", "run manage.py cavra_backup")
    created = json.loads(manifests[-1].read_text())["created_at"]
    age = timezone.now() - datetime.fromisoformat(created)
    status = "OK" if age <= BACKUP_FRESH else "FAIL"
    return Check(
        "backup",
        status,
        f"last backup {created} ({age} ago)",
        "" if status == "OK" else "run manage.py cavra_backup",
    )


def _deploy() -> Check:
    out = io.StringIO()
    try:
        call_command("check", deploy=True, stdout=out, stderr=out)
    except Exception as exc:  # check raises SystemCheckError on errors
        return Check("check --deploy", "FAIL", str(exc).splitlines()[0][:200], "manage.py check --deploy")
    warnings = [
        line for line in out.getvalue().splitlines() if line.startswith("?:") or ": (security." in line
    ]
    if warnings:
        return Check("check --deploy", "WARN", f"{len(warnings)} warning(s), e.g. {warnings[0][:120]}",
                     "manage.py check --deploy")  # fmt: skip
    return Check("check --deploy", "OK", "no warnings")


def _sequencer() -> Check:
    from evidence.services.sequencer import sequencer_health

    status, detail = sequencer_health()
    return Check(
        "evidence sequencer", status, detail, "run `manage.py cavra_sequencer`" if status != "OK" else ""
    )


def doctor_run(*, tenant=None) -> list[Check]:
    """Every check, or (for a tenant admin's page) the platform checks and that one tenant's evidence."""
    checks = [_database()]
    if checks[0].status == "FAIL":
        return checks
    evidence = [check for head in _tenant_heads(tenant) for check in _tenant_checks(head)]
    return [*checks, _redis(), _celery(), _beat(), _sequencer(), *evidence, _smtp(), _backup(), _deploy()]

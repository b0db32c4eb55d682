"""Shadow replay: start a replay of a candidate policy over a tenant's stored decisions, and run it."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cavra_engine.policy import CompiledPolicy
from cavra_engine.policy.replay import ReplayTally
from evidence.models import Decision
from policies.models import PolicyReplay, PolicyVersion
from tenants.audit import record_audit
from tenants.models import Tenant, User

MAX_WINDOW = timedelta(days=366)
PROGRESS_EVERY = 5000
CHUNK = 2000
REPLAY_FIELDS = (
    "public_id",
    "created_at",
    "action",
    "target",
    "repository",
    "environment",
    "decision",
    "rule_id",
    "context",
)


def replay_decisions(
    *,
    tenant: Tenant,
    since: datetime,
    until: datetime,
    repository: str = "",
    environment: str = "",
    pack_filter: str = "",
):
    """The decisions a replay covers: the tenant's in [since, until), optionally one repository / environment / pack."""
    qs = Decision.objects.filter(tenant=tenant, created_at__gte=since, created_at__lt=until)
    if pack_filter:
        qs = qs.filter(policy_pack=pack_filter)
    if repository:
        qs = qs.filter(repository=repository)
    if environment:
        qs = qs.filter(environment=environment.lower())
    return qs


def policy_replay_start(
    *,
    tenant: Tenant,
    actor: User | None,
    compiled: CompiledPolicy,
    label: str,
    version: PolicyVersion | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    repository: str = "",
    environment: str = "",
    pack_filter: str = "",
    run_now: bool = False,
) -> PolicyReplay:
    """Record a replay and queue it (after commit). A window with no decisions is refused, naming it."""
    until = until or timezone.now()
    since = since or until - timedelta(days=30)
    if since >= until:
        raise ValidationError({"since": "The window must start before it ends (since < until)."})
    if until - since > MAX_WINDOW:
        raise ValidationError({"since": f"The window may span at most {MAX_WINDOW.days} days."})
    if version is not None and version.tenant_id != tenant.pk:
        raise ValidationError({"version": "No such policy version in this tenant."})
    repository, environment = (repository or "").strip(), (environment or "").strip().lower()
    scope = replay_decisions(
        tenant=tenant,
        since=since,
        until=until,
        repository=repository,
        environment=environment,
        pack_filter=pack_filter,
    )
    total = scope.count()
    if total == 0:
        raise ValidationError(
            {
                "since": "There are no decisions in this window and scope to replay; widen the window or the scope."
            }
        )
    with transaction.atomic():
        replay = PolicyReplay.objects.create(
            tenant=tenant,
            version=version,
            candidate_label=label[:300],
            candidate_digest=compiled.digest,
            candidate_compiled_json=compiled.to_json(),
            since=since,
            until=until,
            repository=repository,
            environment=environment,
            pack_filter=pack_filter,
            total=total,
            requested_by=actor,
        )
        record_audit(
            tenant=tenant,
            actor=actor,
            action="policy.replay",
            obj=replay,
            object_id=replay.public_id,
            after={
                "candidate": label,
                "digest": compiled.digest,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "repository": repository or None,
                "environment": environment or None,
                "decisions": total,
            },
        )
        if not run_now:
            replay_pk = replay.pk
            transaction.on_commit(lambda: policy_replay_task.delay(replay_pk))
    if run_now:
        policy_replay_run(replay_id=replay.pk)
        replay.refresh_from_db()
    return replay


def policy_replay_run(*, replay_id: int) -> PolicyReplay:
    """Evaluate the candidate over every decision in the replay's scope; progress is saved as it goes."""
    replay = PolicyReplay.objects.select_related("tenant").get(pk=replay_id)
    if replay.status == PolicyReplay.Status.DONE:
        return replay
    PolicyReplay.objects.filter(pk=replay.pk).update(status=PolicyReplay.Status.RUNNING, processed=0)
    try:
        compiled = CompiledPolicy.from_json(replay.candidate_compiled_json)
        scope = replay_decisions(
            tenant=replay.tenant,
            since=replay.since,
            until=replay.until,
            repository=replay.repository,
            environment=replay.environment,
            pack_filter=replay.pack_filter,
        ).order_by("created_at", "id")
        tally = ReplayTally()
        for record in scope.values(*REPLAY_FIELDS).iterator(chunk_size=CHUNK):
            record["created_at"] = record["created_at"].isoformat()
            tally.add(record, compiled)
            if tally.total % PROGRESS_EVERY == 0:
                PolicyReplay.objects.filter(pk=replay.pk).update(processed=tally.total)
    except Exception as exc:  # noqa: BLE001 - a replay that cannot finish says why instead of hanging
        PolicyReplay.objects.filter(pk=replay.pk).update(
            status=PolicyReplay.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    PolicyReplay.objects.filter(pk=replay.pk).update(
        status=PolicyReplay.Status.DONE,
        total=tally.total,
        processed=tally.total,
        matrix=tally.matrix,
        changed_count=tally.changed_count,
        changed=tally.changed,
        finished_at=timezone.now(),
    )
    replay.refresh_from_db()
    return replay


# The task lives beside the service it runs (not in policies.tasks, which would import back), so the
# start -> task -> run path has no import circle; policies.tasks imports it for the worker.
@shared_task(name="policies.replay")
def policy_replay_task(replay_id: int) -> int:
    return policy_replay_run(replay_id=replay_id).changed_count

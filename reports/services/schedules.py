"""Report schedules (cron + time zone in django-celery-beat's tables) and the tenant's recipient policy."""

from __future__ import annotations

import json
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from aispm.catalogue import frameworks
from core.authz import authorize_actor
from core.roles import parse_roles
from evidence import kinds
from evidence.services import evidence_append
from reports.capabilities import MANAGE_RECIPIENT_POLICY, MANAGE_SCHEDULES
from reports.catalogue import REPORT_TYPES
from reports.models import RecipientPolicy, ReportSchedule
from tenants.models import Membership, Tenant

RUN_SCHEDULE_TASK = "reports.run_schedule"
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
FIELDS = ("name", "report_type", "cron", "timezone", "window_days", "repositories", "frameworks", "formats",
          "recipient_roles", "recipient_emails")  # fmt: skip


def recipient_policy_get(tenant: Tenant) -> RecipientPolicy:
    return RecipientPolicy.objects.filter(tenant=tenant).first() or RecipientPolicy(tenant=tenant)


def _domains(values) -> list[str]:
    found, bad = [], []
    for value in values or []:
        domain = str(value).strip().lower().lstrip("@")
        if not domain:
            continue
        (found if DOMAIN_RE.match(domain) else bad).append(domain)
    if bad:
        raise ValidationError({"allowed_domains": f"Not a domain name: {', '.join(bad)}."})
    return sorted(set(found))


def recipient_policy_update(*, tenant: Tenant, allowed_domains, actor) -> RecipientPolicy:
    """Set the external domains reports may go to; schedules' addresses are re-checked at every send."""
    authorize_actor(actor, tenant, MANAGE_RECIPIENT_POLICY)
    domains = _domains(allowed_domains)
    with transaction.atomic():
        policy = RecipientPolicy.objects.select_for_update().filter(tenant=tenant).first()
        before = policy.allowed_domains if policy else []
        policy = policy or RecipientPolicy(tenant=tenant)
        policy.allowed_domains, policy.updated_at, policy.updated_by = domains, timezone.now(), actor
        policy.save()
        evidence_append(tenant=tenant, kind=kinds.REPORT_RECIPIENT_POLICY_CHANGED, subject=f"tenant:{tenant.slug}",
                        payload={"before": before, "after": domains}, actor=actor)  # fmt: skip
    return policy


def member_emails(tenant: Tenant) -> set[str]:
    return {e.lower() for e in Membership.objects.filter(tenant=tenant, user__is_active=True)
            .values_list("user__email", flat=True) if e}  # fmt: skip


def external_addresses(tenant: Tenant, emails) -> list[str]:
    members = member_emails(tenant)
    return [e for e in emails if e.lower() not in members]


def domain_allowed(policy: RecipientPolicy, email: str) -> bool:
    return email.rsplit("@", 1)[-1].lower() in set(policy.allowed_domains)


def _crontab_fields(cron: str) -> list[str]:
    parts = str(cron or "").split()
    if len(parts) != 5:
        raise ValidationError({"cron": "Use five fields: minute hour day-of-month month day-of-week."})
    minute, hour, dom, month, dow = parts
    try:
        crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)
    except Exception as exc:  # noqa: BLE001 - celery raises ValueError or its own ParseException
        raise ValidationError({"cron": f"Not a valid cron expression: {exc}"}) from None
    return parts


def _clean(tenant: Tenant, data: dict) -> dict:
    """Every field checked; a bad one raises ValidationError naming it."""
    errors: dict[str, str] = {}
    out = dict(data)
    if not str(out.get("name") or "").strip():
        errors["name"] = "Give the schedule a name."
    out["name"] = str(out.get("name") or "").strip()[:120]
    kind = REPORT_TYPES.get(out.get("report_type") or "")
    if kind is None:
        errors["report_type"] = f"Choose one of: {', '.join(REPORT_TYPES)}."
    try:
        _crontab_fields(out.get("cron"))
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    out["timezone"] = str(out.get("timezone") or "UTC").strip()
    try:
        ZoneInfo(out["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "Not an IANA time zone (e.g. Europe/Berlin, UTC)."
    try:
        out["window_days"] = int(out.get("window_days") or 30)
        if not 1 <= out["window_days"] <= 365:
            raise ValueError
    except (TypeError, ValueError):
        errors["window_days"] = "Use a whole number of days between 1 and 365."
    out["repositories"] = sorted({str(r).strip() for r in out.get("repositories") or [] if str(r).strip()})
    out["frameworks"] = sorted({str(f).strip() for f in out.get("frameworks") or [] if str(f).strip()})
    unknown = [f for f in out["frameworks"] if f not in frameworks()]
    if unknown:
        errors["frameworks"] = (
            f"Unknown framework(s): {', '.join(unknown)}. Known: {', '.join(frameworks())}."
        )
    out["formats"] = [str(f) for f in out.get("formats") or []]
    if kind is not None:
        wrong = [f for f in out["formats"] if f not in kind.formats]
        if wrong:
            errors["formats"] = f"{kind.title} comes as {', '.join(kind.formats)}, not {', '.join(wrong)}."
        out["formats"] = [f for f in kind.formats if f in out["formats"]] or list(kind.formats)
    try:
        out["recipient_roles"] = parse_roles(out.get("recipient_roles") or [])
    except ValueError as exc:
        errors["recipient_roles"] = str(exc)
    emails = sorted({str(e).strip().lower() for e in out.get("recipient_emails") or [] if str(e).strip()})
    bad = []
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            bad.append(email)
    if bad:
        errors["recipient_emails"] = f"Not an e-mail address: {', '.join(bad)}."
    else:
        policy = recipient_policy_get(tenant)
        refused = [e for e in external_addresses(tenant, emails) if not domain_allowed(policy, e)]
        if refused:
            allowed = ", ".join(policy.allowed_domains) or "none"
            errors["recipient_emails"] = (
                f"Not a member and not in a domain the recipient policy allows: {', '.join(refused)} "
                f"(allowed domains: {allowed}; a tenant admin sets them under Reports → Recipient policy)."
            )
    out["recipient_emails"] = emails
    if not errors and not out["recipient_roles"] and not out["recipient_emails"]:
        errors["recipient_roles"] = "Choose at least one role or one address to send the report to."
    if errors:
        raise ValidationError(errors)
    return {k: out[k] for k in FIELDS}


def _sync_beat(schedule: ReportSchedule) -> None:
    minute, hour, dom, month, dow = schedule.cron.split()
    cron, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow,
        timezone=schedule.timezone,
    )  # fmt: skip
    task = schedule.periodic_task or PeriodicTask(name=f"report-schedule:{schedule.public_id}")
    task.task, task.crontab, task.interval = RUN_SCHEDULE_TASK, cron, None
    task.kwargs = json.dumps({"schedule_id": schedule.pk})
    task.enabled = not schedule.paused
    task.description = f"{schedule.tenant.slug}: {schedule.name}"
    task.save()
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task = task
        schedule.save(update_fields=["periodic_task"])


def _record(schedule: ReportSchedule, action: str, actor) -> None:
    evidence_append(
        tenant=schedule.tenant, kind=kinds.REPORT_SCHEDULE_CHANGED, subject=schedule.public_id, actor=actor,
        payload={"action": action, "schedule": schedule.public_id, "report_type": schedule.report_type,
                 "cron": schedule.cron, "timezone": schedule.timezone, "paused": schedule.paused,
                 "recipient_roles": schedule.recipient_roles, "recipient_emails": schedule.recipient_emails},
    )  # fmt: skip


def report_schedule_create(*, tenant: Tenant, data: dict, actor) -> ReportSchedule:
    authorize_actor(actor, tenant, MANAGE_SCHEDULES)
    fields = _clean(tenant, data)
    with transaction.atomic():
        schedule = ReportSchedule.objects.create(tenant=tenant, created_by=actor, **fields)
        _sync_beat(schedule)
        _record(schedule, "created", actor)
    return schedule


def report_schedule_update(*, schedule: ReportSchedule, data: dict, actor) -> ReportSchedule:
    authorize_actor(actor, schedule.tenant, MANAGE_SCHEDULES)
    current = {k: getattr(schedule, k) for k in FIELDS}
    fields = _clean(schedule.tenant, {**current, **{k: v for k, v in data.items() if k in FIELDS}})
    with transaction.atomic():
        for k, v in fields.items():
            setattr(schedule, k, v)
        schedule.updated_at = timezone.now()
        schedule.save()
        _sync_beat(schedule)
        _record(schedule, "changed", actor)
    return schedule


def report_schedule_pause(*, schedule: ReportSchedule, paused: bool, actor) -> ReportSchedule:
    authorize_actor(actor, schedule.tenant, MANAGE_SCHEDULES)
    with transaction.atomic():
        schedule.paused, schedule.updated_at = paused, timezone.now()
        schedule.save(update_fields=["paused", "updated_at"])
        _sync_beat(schedule)
        _record(schedule, "paused" if paused else "resumed", actor)
    return schedule


def report_schedule_delete(*, schedule: ReportSchedule, actor) -> None:
    authorize_actor(actor, schedule.tenant, MANAGE_SCHEDULES)
    with transaction.atomic():
        _record(schedule, "deleted", actor)
        task = schedule.periodic_task
        schedule.delete()
        if task is not None:
            task.delete()

"""Findings: run the posture checks into findings, and move findings through their lifecycle (with evidence).

open -> acknowledged -> resolved, or risk_accepted (reason, approver, expiry). A check that passes again
resolves its open/acknowledged/risk-accepted findings; a check that fails again re-opens a resolved one,
and an expired risk acceptance re-opens too. Every transition appends an `aispm.finding.<verb>` record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from aispm.checks import CHECKS, CheckContext, Hit
from aispm.models import CheckSetting, Finding
from evidence.kinds import CHECK_UPDATED
from evidence.services import evidence_append
from tenants.models import Tenant

S = Finding.Status


def _record(finding: Finding, verb: str, *, actor=None, **extra) -> None:
    evidence_append(
        tenant=finding.tenant,
        kind=f"aispm.finding.{verb}",
        subject=finding.public_id,
        payload={
            "finding": finding.public_id,
            "check": finding.check_id,
            "subject": finding.subject_key,
            "severity": finding.severity,
            "surface": finding.surface,
            "status": finding.status,
            "agent": finding.agent_ref or None,
            "repository": finding.repository or None,
            **extra,
        },
        actor=actor,
    )


@dataclass
class RefreshResult:
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    still_failing: int = 0


def _reconcile(*, tenant: Tenant, check, hits: list[Hit], enabled: bool, now: datetime) -> RefreshResult:
    """One check's findings brought in line with its hits, in one transaction."""
    result = RefreshResult()
    with transaction.atomic():
        # Runs of one tenant's checks take turns (beat and "run now" may overlap); the tenant row is
        # locked before the chain head, the same order as every other writer that locks both.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        existing = {
            f.subject_key: f
            for f in Finding.objects.select_for_update().filter(tenant=tenant, check_id=check.id)
        }
        for hit in hits:
            finding = existing.pop(hit.subject_key, None)
            if finding is None:
                finding = Finding.objects.create(
                    tenant=tenant, check_id=check.id, subject_key=hit.subject_key, title=check.title,
                    detail=hit.detail, remediation=check.remediation, surface=check.surface,
                    severity=check.severity, involved=hit.objects, agent_ref=hit.agent_ref,
                    repository=hit.repository, first_seen_at=now, last_seen_at=now, status_changed_at=now,
                )  # fmt: skip
                _record(finding, "opened", detail=hit.detail)
                result.opened += 1
                continue
            finding.detail, finding.involved, finding.last_seen_at = hit.detail, hit.objects, now
            reopen = finding.status == S.RESOLVED or (
                finding.status == S.RISK_ACCEPTED
                and finding.risk_accepted_until is not None
                and finding.risk_accepted_until <= now
            )
            if reopen:
                was = finding.status
                finding.status, finding.status_changed_at, finding.resolved_at = S.OPEN, now, None
                finding.reopened_count += 1
                finding.save()
                _record(finding, "reopened", previous=was, detail=hit.detail)
                result.reopened += 1
            else:
                finding.save(update_fields=["detail", "involved", "last_seen_at"])
                result.still_failing += 1
        for finding in existing.values():
            if finding.status == S.RESOLVED:
                continue
            was = finding.status
            finding.status, finding.status_changed_at, finding.resolved_at = S.RESOLVED, now, now
            finding.save()
            reason = "check disabled by a tenant admin" if not enabled else "the check passes again"
            _record(finding, "resolved", previous=was, reason=reason)
            result.resolved += 1
    return result


def findings_refresh(*, tenant: Tenant, now: datetime | None = None, check_ids=None) -> RefreshResult:
    """Run every enabled check now; open, re-open, keep or resolve findings to match what the checks see."""
    now = now or timezone.now()
    settings = {s.check_id: s for s in CheckSetting.objects.filter(tenant=tenant)}
    result = RefreshResult()
    for check in CHECKS.values():
        if check_ids is not None and check.id not in check_ids:
            continue
        setting = settings.get(check.id)
        enabled = setting.enabled if setting else True
        threshold = (setting.threshold_days if setting and setting.threshold_days else None) or (
            check.default_threshold_days
        )
        hits: list[Hit] = check.run(CheckContext(tenant, now, threshold)) if enabled else []
        for attempt in range(2):
            try:
                part = _reconcile(tenant=tenant, check=check, hits=hits, enabled=enabled, now=now)
                break
            except IntegrityError:
                # A concurrent run opened the same finding first; the second pass finds and keeps it.
                if attempt:
                    raise
        for name in ("opened", "reopened", "resolved", "still_failing"):
            setattr(result, name, getattr(result, name) + getattr(part, name))
    return result


def _locked(finding: Finding) -> Finding:
    return Finding.objects.select_for_update().get(pk=finding.pk, tenant=finding.tenant)


def finding_acknowledge(*, finding: Finding, actor, note: str = "") -> Finding:
    with transaction.atomic():
        finding = _locked(finding)
        if finding.status != S.OPEN:
            raise ValidationError(
                {"status": f"Only an open finding can be acknowledged; this one is {finding.status}."}
            )
        finding.status, finding.status_changed_at, finding.acknowledged_by = (
            S.ACKNOWLEDGED,
            timezone.now(),
            actor,
        )
        finding.save()
        _record(finding, "acknowledged", actor=actor, note=note[:2000])
    return finding


def finding_resolve(*, finding: Finding, actor, note: str = "") -> Finding:
    """A person says it is fixed; the next check run re-opens it if the check still fails."""
    with transaction.atomic():
        finding = _locked(finding)
        if finding.status == S.RESOLVED:
            raise ValidationError({"status": "This finding is already resolved."})
        now = timezone.now()
        was = finding.status
        finding.status, finding.status_changed_at, finding.resolved_at = S.RESOLVED, now, now
        finding.save()
        _record(finding, "resolved", actor=actor, previous=was, reason=note[:2000] or "resolved by a person")
    return finding


def finding_risk_accept(*, finding: Finding, actor, reason: str, until: datetime) -> Finding:
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why the risk is accepted."
    if until is None or until <= timezone.now():
        errors["until"] = "The acceptance must expire in the future."
    elif (until - timezone.now()).days > 366:
        errors["until"] = "A risk acceptance lasts at most one year."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        finding = _locked(finding)
        if finding.status == S.RESOLVED:
            raise ValidationError({"status": "A resolved finding has no risk to accept."})
        was = finding.status
        finding.status, finding.status_changed_at = S.RISK_ACCEPTED, timezone.now()
        finding.risk_accepted_by, finding.risk_accepted_reason, finding.risk_accepted_until = (
            actor,
            reason,
            until,
        )
        finding.save()
        _record(finding, "risk_accepted", actor=actor, previous=was, reason=reason[:2000],
                until=until.isoformat().replace("+00:00", "Z"))  # fmt: skip
    return finding


def finding_reopen(*, finding: Finding, actor, note: str = "") -> Finding:
    with transaction.atomic():
        finding = _locked(finding)
        if finding.status == S.OPEN:
            raise ValidationError({"status": "This finding is already open."})
        was = finding.status
        finding.status, finding.status_changed_at, finding.resolved_at = S.OPEN, timezone.now(), None
        finding.reopened_count += 1
        finding.save()
        _record(finding, "reopened", actor=actor, previous=was, note=note[:2000])
    return finding


TRANSITIONS = {
    "acknowledge": finding_acknowledge,
    "resolve": finding_resolve,
    "reopen": finding_reopen,
}


def check_setting_update(*, tenant: Tenant, check_id: str, enabled: bool, threshold_days: int | None, actor):
    check = CHECKS.get(check_id)
    if check is None:
        raise ValidationError({"check_id": f"Unknown check {check_id!r}."})
    if threshold_days is not None and check.default_threshold_days is None:
        raise ValidationError({"threshold_days": "This check has no threshold."})
    if threshold_days is not None and not (1 <= threshold_days <= 3650):
        raise ValidationError({"threshold_days": "Use a number of days between 1 and 3650."})
    with transaction.atomic():
        setting, _ = CheckSetting.objects.select_for_update().get_or_create(tenant=tenant, check_id=check_id)
        before = {"enabled": setting.enabled, "threshold_days": setting.threshold_days}
        setting.enabled, setting.threshold_days = enabled, threshold_days
        setting.updated_at, setting.updated_by = timezone.now(), actor
        setting.save()
        evidence_append(
            tenant=tenant, kind=CHECK_UPDATED, subject=check_id, actor=actor,
            payload={"check": check_id, "before": before, "after": {"enabled": enabled, "threshold_days": threshold_days}},
        )  # fmt: skip
    return setting

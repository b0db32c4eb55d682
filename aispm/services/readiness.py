"""The readiness packet: `ready_for_aispm_production` with the blockers found by checks run now, signed.

Each item is evaluated when the packet is asked for (never from a cached answer). Items this build has
no data for (MFA, report deliveries, backups) are listed as `not_evaluated` with the reason and do not
decide `ready`; docs/aispm.md says so.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from aispm.checks import CHECKS, CheckContext
from aispm.models import CheckSetting, Finding
from evidence.models import ChainHead, Checkpoint, SigningKey, VerificationRun
from evidence.services import signing_key_current, utc_timestamp
from evidence.services.documents import document_sign, document_verify
from policies.models import Environment, Rollout
from tenants.models import SsoProvider, Tenant

PACKET_TYPE = "cavra.aispm.readiness/v1"
VERIFICATION_MAX_AGE = timedelta(days=1)
CHECKPOINT_MAX_AGE = timedelta(days=1)
KEY_MAX_AGE = timedelta(days=365)


def _item(id: str, title: str, ok: bool | None, detail: str) -> dict:
    return {"id": id, "title": title, "status": "pass" if ok else ("not_evaluated" if ok is None else "fail"),
            "detail": detail}  # fmt: skip


def _evidence_chain(tenant: Tenant, now) -> dict:
    head = ChainHead.objects.filter(tenant=tenant).first()
    if head is None or head.seq == 0:
        return _item("evidence_chain", "Evidence chain verifies and a checkpoint is fresh", False,
                     "The evidence chain is empty: nothing has been recorded yet.")  # fmt: skip
    run = VerificationRun.objects.filter(tenant=tenant).order_by("-started_at").first()
    if run is None:
        return _item("evidence_chain", "Evidence chain verifies and a checkpoint is fresh", False,
                     "The chain has never been verified.")  # fmt: skip
    if not run.ok:
        return _item("evidence_chain", "Evidence chain verifies and a checkpoint is fresh", False,
                     f"The last verification failed: {run.summary}")  # fmt: skip
    if run.started_at < now - VERIFICATION_MAX_AGE:
        return _item("evidence_chain", "Evidence chain verifies and a checkpoint is fresh", False,
                     f"The last verification passed but is older than a day ({utc_timestamp(run.started_at)}).")  # fmt: skip
    cp = Checkpoint.objects.filter(tenant=tenant).order_by("-seq").first()
    if cp is None or (cp.seq < head.seq and cp.created_at < now - CHECKPOINT_MAX_AGE):
        return _item("evidence_chain", "Evidence chain verifies and a checkpoint is fresh", False,
                     "No signed checkpoint covers the last day of records.")  # fmt: skip
    return _item("evidence_chain", "Evidence chain verifies and a checkpoint is fresh", True,
                 f"Verified {utc_timestamp(run.started_at)}; checkpoint at seq {cp.seq} of {head.seq}.")  # fmt: skip


def _keys(tenant: Tenant, now) -> dict:
    key = SigningKey.objects.filter(tenant=tenant, valid_until__isnull=True).first()
    if key is None:
        return _item(
            "signing_key", "Signing key valid and within rotation age", False, "No current signing key."
        )
    if key.valid_from < now - KEY_MAX_AGE:
        return _item("signing_key", "Signing key valid and within rotation age", False,
                     f"{key.key_id} has signed since {key.valid_from:%Y-%m-%d}: rotate it.")  # fmt: skip
    return _item("signing_key", "Signing key valid and within rotation age", True,
                 f"{key.key_id}, in use since {key.valid_from:%Y-%m-%d}.")  # fmt: skip


def _production(tenant: Tenant) -> dict:
    title = "Every production scope is enforced"
    envs = list(Environment.objects.filter(tenant=tenant, is_production=True))
    if not envs:
        return _item("production_enforced", title, False, "No environment is marked as production.")
    problems = []
    tenant_wide = Rollout.objects.filter(
        tenant=tenant, environment__isnull=True, repository__isnull=True
    ).first()
    for env in envs:
        scoped = list(Rollout.objects.filter(tenant=tenant, environment=env).select_related("repository"))
        if not scoped and tenant_wide is None:
            problems.append(f"{env.name} has no rollout")
        for r in scoped:
            if r.mode == Rollout.Mode.AUDIT_ONLY:
                problems.append(f"{r.repository.name if r.repository_id else 'every repository'} in {env.name} "
                                "is audit-only")  # fmt: skip
        if not scoped and tenant_wide is not None and tenant_wide.mode == Rollout.Mode.AUDIT_ONLY:
            problems.append(f"{env.name} falls back to the tenant-wide rollout, which is audit-only")
    if problems:
        return _item("production_enforced", title, False, "; ".join(problems) + ".")
    return _item("production_enforced", title, True, f"{len(envs)} production environment(s), all enforced.")


def _critical_findings(tenant: Tenant, now) -> dict:
    title = "No open critical finding"
    accepted = set(
        Finding.objects.filter(
            tenant=tenant, status=Finding.Status.RISK_ACCEPTED, risk_accepted_until__gt=now
        ).values_list("check_id", "subject_key")
    )
    disabled = set(
        CheckSetting.objects.filter(tenant=tenant, enabled=False).values_list("check_id", flat=True)
    )
    failing = []
    for check in CHECKS.values():
        if check.severity != "critical" or check.id in disabled:
            continue
        for hit in check.run(CheckContext(tenant, now, check.default_threshold_days)):
            if (check.id, hit.subject_key) not in accepted:
                failing.append(hit.detail)
    stored = Finding.objects.filter(
        tenant=tenant, severity="critical", status__in=(Finding.Status.OPEN, Finding.Status.ACKNOWLEDGED)
    ).filter(~Q(check_id__in=[c.id for c in CHECKS.values()]))
    failing += [f.detail for f in stored]
    if failing:
        return _item("critical_findings", title, False, f"{len(failing)} critical: " + " ".join(failing[:5]))
    return _item("critical_findings", title, True, "Every critical check passes now.")


def _sso(tenant: Tenant) -> dict:
    ok = SsoProvider.objects.filter(tenant=tenant, enabled=True).exists()
    return _item("sso", "Single sign-on is configured", ok,
                 "An enabled SSO provider signs members in." if ok else "No enabled SSO provider.")  # fmt: skip


def _entitlement(tenant: Tenant) -> dict:
    ok = tenant.is_usable
    detail = f"Entitlement {tenant.get_entitlement_status_display().lower()}" + (
        f", until {tenant.entitlement_expires_at:%Y-%m-%d}." if tenant.entitlement_expires_at else "."
    )
    return _item("entitlement", "Licence and entitlement valid", ok, detail)


NOT_EVALUATED = [
    _item("admin_mfa", "MFA enforced for tenant admins", None,
          "This build has no MFA (allauth.mfa is not installed), so it cannot be checked."),
    _item("report_delivered", "A report was delivered in the last 30 days", None,
          "No app evaluates report deliveries in this build (the reports app registers this item)."),
    _item("backup_fresh", "A backup newer than the RPO", None,
          "The portal records no backups yet; check them in your database platform."),
]  # fmt: skip


# Items a higher app evaluates (aispm cannot import it): item id -> evaluate(tenant, now) -> item dict.
# Registered in that app's AppConfig.ready(); a registered item replaces its `not_evaluated` entry.
_REGISTERED_ITEMS: dict = {}


def register_readiness_item(item_id: str, evaluate) -> None:
    _REGISTERED_ITEMS[item_id] = evaluate


def readiness_item(item_id: str, title: str, ok: bool | None, detail: str) -> dict:
    return _item(item_id, title, ok, detail)


def readiness(*, tenant: Tenant) -> dict:
    now = timezone.now()
    items = [
        _evidence_chain(tenant, now),
        _keys(tenant, now),
        _production(tenant),
        _critical_findings(tenant, now),
        _sso(tenant),
        _entitlement(tenant),
        *(
            _REGISTERED_ITEMS[i["id"]](tenant, now) if i["id"] in _REGISTERED_ITEMS else i
            for i in NOT_EVALUATED
        ),
    ]
    blockers = [i for i in items if i["status"] == "fail"]
    return {
        "type": PACKET_TYPE,
        "tenant": tenant.slug,
        "created_at": utc_timestamp(now),
        "ready_for_aispm_production": not blockers,
        "blockers": blockers,
        "checks": items,
    }


def readiness_packet_signed(*, tenant: Tenant) -> dict:
    """The packet signed with the tenant's current evidence key (verify with the evidence trust root)."""
    signing_key_current(tenant)  # made on first use, before the key check looks for it
    return document_sign(tenant=tenant, body=readiness(tenant=tenant))


def readiness_packet_verify(packet: dict, trust_root: dict) -> str | None:
    """None when the packet's signature verifies with a key of the trust root, else the reason."""
    return document_verify(packet, trust_root)

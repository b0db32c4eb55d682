"""Generating a report: render its files, digest them, sign a manifest, store, and record it in evidence."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils import timezone

from cavra_engine.evidence.canonical import canonicalize
from core.authz import authorize_actor
from evidence import kinds
from evidence.services import evidence_append, utc_timestamp
from evidence.services.documents import document_sign
from reports import render
from reports.capabilities import MANAGE_SCHEDULES
from reports.catalogue import CONTENT_TYPES, REPORT_TYPES
from reports.content import BUILDERS, Scope
from reports.models import ReportFile, ReportRun, ReportSchedule
from tenants.models import Tenant

MANIFEST_TYPE = "cavra.report.manifest/v1"
SIGNED_JSON_TYPE = "cavra.report.{type}/v1"


def _files_for(tenant: Tenant, report_type: str, scope: Scope, formats, variant: str, meta: dict):
    """(format, bytes) for each wanted format of one variant."""
    content = BUILDERS[report_type](tenant, scope, variant == "redacted")
    out: list[tuple[str, bytes]] = []
    html = None
    if {"html", "pdf"} & set(formats):
        html = render.render_html(report_type, content, {**meta, "variant": variant})
    for fmt in formats:
        if fmt == "html":
            out.append((fmt, html))
        elif fmt == "pdf":
            out.append((fmt, render.render_pdf(html)))
        elif fmt == "json":
            body = {"type": SIGNED_JSON_TYPE.format(type=report_type), **meta, "variant": variant,
                    "data": content.data}  # fmt: skip
            # The JSON is a document of its own: signed, so it verifies even when read without the manifest.
            out.append((fmt, render.render_json(document_sign(tenant=tenant, body=body))))
        elif fmt == "csv":
            out.append((fmt, render.render_csv(content)))
        elif fmt == "xlsx":
            out.append((fmt, render.render_xlsx(content, REPORT_TYPES[report_type].title)))
    return out


def report_generate(
    *,
    tenant: Tenant,
    report_type: str,
    scope: Scope,
    formats: list[str] | None = None,
    trigger: str = ReportRun.Trigger.ON_DEMAND,
    schedule: ReportSchedule | None = None,
    with_redacted: bool = False,
    actor=None,
    now=None,
) -> ReportRun:
    """Render the report in its formats (and a redacted variant when asked), store it with a signed manifest."""
    authorize_actor(actor, tenant, MANAGE_SCHEDULES)
    kind = REPORT_TYPES[report_type]
    formats = [f for f in kind.formats if not formats or f in formats] or list(kind.formats)
    now = now or timezone.now()
    run = ReportRun(tenant=tenant, report_type=report_type, title=kind.title, scope=scope.as_dict(),
                    trigger=trigger, schedule=schedule, created_by=actor if getattr(actor, "pk", None) else None,
                    created_at=now)  # fmt: skip
    meta = {"tenant": tenant.slug, "tenant_name": tenant.name, "report": run.public_id, "report_type": report_type,
            "title": kind.title, "generated_at": utc_timestamp(now), "scope": scope.as_dict()}  # fmt: skip
    stamp = now.strftime("%Y%m%dT%H%MZ")
    files = []
    for variant in ("full", "redacted") if with_redacted else ("full",):
        suffix = "" if variant == "full" else "-redacted"
        for fmt, data in _files_for(tenant, report_type, scope, formats, variant, meta):
            files.append(ReportFile(
                variant=variant, format=fmt, name=f"{tenant.slug}-{report_type}-{stamp}{suffix}.{fmt}",
                content_type=CONTENT_TYPES[fmt], size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                content=data,
            ))  # fmt: skip
    manifest = document_sign(tenant=tenant, body={
        "type": MANIFEST_TYPE, **{k: meta[k] for k in ("tenant", "report", "report_type", "title", "generated_at")},
        "scope": scope.as_dict(), "trigger": trigger, "schedule": schedule.public_id if schedule else None,
        "files": [{"name": f.name, "variant": f.variant, "format": f.format, "content_type": f.content_type,
                   "size": f.size, "sha256": f.sha256} for f in files],
    })  # fmt: skip
    run.manifest = manifest
    run.manifest_sha256 = hashlib.sha256(canonicalize(manifest)).hexdigest()
    with transaction.atomic():
        run.save()
        for f in files:
            f.run = run
        ReportFile.objects.bulk_create(files)
        evidence_append(
            tenant=tenant, kind=kinds.REPORT_GENERATED, subject=run.public_id, actor=actor,
            payload={"report": run.public_id, "report_type": report_type, "trigger": trigger,
                     "schedule": manifest["schedule"], "manifest_sha256": run.manifest_sha256,
                     "key_id": manifest["key_id"], "files": [{"name": f.name, "sha256": f.sha256} for f in files]},
        )  # fmt: skip
    return run

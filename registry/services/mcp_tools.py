"""MCP tools: register, observe (pin descriptions and schemas, flag drift) and approve."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.authz import authorize_actor
from registry.models import (
    TOOL_NAME_VALIDATOR,
    Agent,
    CapabilityClass,
    McpServer,
    McpTool,
)
from registry.services.common import (
    MAX_TOOL_DESCRIPTION,
    MAX_TOOL_SCHEMA_BYTES,
    _actor,
    _choice,
    _validate,
    tool_digest,
)
from tenants.audit import record_audit
from tenants.models import Tenant, User

_CLASS_HINTS = (
    (CapabilityClass.SHELL, ("shell", "exec", "command", "terminal", "bash", "run_")),
    (CapabilityClass.DATABASE, ("sql", "query", "database", "db_", "table")),
    (CapabilityClass.CLOUD, ("aws", "gcp", "azure", "s3", "bucket", "lambda", "k8s", "kube")),
    (CapabilityClass.REPOSITORY, ("git", "repo", "pull_request", "branch", "commit", "issue")),
    (CapabilityClass.FILESYSTEM, ("file", "directory", "read_", "write_", "path")),
    (CapabilityClass.NETWORK, ("http", "fetch", "url", "request", "browse", "web")),
)


def guess_capability_class(tool_name: str) -> str:
    """A first guess for a tool nobody has classified yet; the approving operator can correct it."""
    lowered = tool_name.lower()
    for klass, hints in _CLASS_HINTS:
        if any(h in lowered for h in hints):
            return klass
    return CapabilityClass.SAAS


def _clean_tool_payload(tool: str, description, input_schema) -> tuple[str, str, dict]:
    tool = str(tool or "").strip()
    _validate(TOOL_NAME_VALIDATOR, tool, "tool")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ValidationError({"description": "Give the tool's description as a string."})
    if len(description) > MAX_TOOL_DESCRIPTION:
        raise ValidationError({"description": f"At most {MAX_TOOL_DESCRIPTION} characters."})
    if input_schema is None:
        input_schema = {}
    if not isinstance(input_schema, dict):
        raise ValidationError({"input_schema": "Give the tool's input schema as a JSON object."})
    try:
        size = len(json.dumps(input_schema, allow_nan=False))
    except (TypeError, ValueError):
        raise ValidationError({"input_schema": "The input schema must be plain JSON (no NaN or Infinity)."})
    if size > MAX_TOOL_SCHEMA_BYTES:
        raise ValidationError({"input_schema": f"At most {MAX_TOOL_SCHEMA_BYTES} bytes of JSON."})
    return tool, description, input_schema


def mcp_tool_register(
    *,
    server: McpServer,
    actor: User | None,
    name: str,
    description: str = "",
    input_schema: dict | None = None,
    capability_class: str | None = None,
) -> McpTool:
    """An operator pre-approves a tool with the description and schema they have reviewed."""
    name, description, input_schema = _clean_tool_payload(name, description, input_schema)
    klass = _choice(
        capability_class or guess_capability_class(name),
        CapabilityClass.choices,
        "capability_class",
        "capability class",
    )
    digest = tool_digest(description=description, input_schema=input_schema)
    now = timezone.now()
    try:
        with transaction.atomic():
            tool = McpTool.objects.create(
                tenant=server.tenant,
                server=server,
                name=name,
                capability_class=klass,
                description=description,
                input_schema=input_schema,
                approved_digest=digest,
                observed_description=description,
                observed_input_schema=input_schema,
                observed_digest=digest,
                status=McpTool.Status.APPROVED,
                approved_at=now,
                approved_by=_actor(actor),
            )
            record_audit(
                tenant=server.tenant,
                actor=_actor(actor),
                action="registry.mcp_tool.register",
                obj=tool,
                object_repr=f"{server.server_id}:{name}",
                after={"capability_class": klass, "approved_digest": digest},
            )
    except IntegrityError:
        raise ValidationError({"name": f"{server.server_id} already has a tool named {name!r}."})
    return tool


def mcp_tool_observe(
    *,
    tenant: Tenant,
    server_id: str,
    tool: str,
    description: str,
    input_schema: dict,
    agent: Agent | None = None,
    capability_class: str | None = None,
) -> McpTool:
    """An agent reports what a tool says about itself. Unknown tool -> pending; a description or
    schema that differs from the approved one -> `changed` (a rug pull) until re-approved."""
    tool, description, input_schema = _clean_tool_payload(tool, description, input_schema)
    if capability_class is not None:
        capability_class = _choice(
            capability_class, CapabilityClass.choices, "capability_class", "capability class"
        )
    server = McpServer.objects.filter(tenant=tenant, server_id=str(server_id or "").strip()).first()
    if server is None:
        raise ValidationError(
            {
                "server_id": f"No MCP server {server_id!r} is registered in this tenant; an operator registers it first."
            }
        )
    digest = tool_digest(description=description, input_schema=input_schema)
    now = timezone.now()
    by = f" reported by agent {agent.name} ({agent.public_id})" if agent is not None else ""
    with transaction.atomic():
        existing = McpTool.objects.select_for_update().filter(server=server, name=tool).first()
        if existing is None:
            try:
                with transaction.atomic():
                    created = McpTool.objects.create(
                        tenant=tenant,
                        server=server,
                        name=tool,
                        capability_class=capability_class or guess_capability_class(tool),
                        observed_description=description,
                        observed_input_schema=input_schema,
                        observed_digest=digest,
                        status=McpTool.Status.PENDING,
                        last_observed_at=now,
                    )
            except IntegrityError:
                # Another agent reported the same new tool at the same moment: compare with theirs.
                existing = McpTool.objects.select_for_update().get(server=server, name=tool)
            else:
                record_audit(
                    tenant=tenant,
                    actor=None,
                    action="registry.mcp_tool.discover",
                    obj=created,
                    object_repr=f"{server.server_id}:{tool}{by}",
                    after={"status": created.status, "observed_digest": digest},
                )
                return created
        if existing.observed_digest == digest and existing.status != McpTool.Status.APPROVED:
            existing.last_observed_at = now
            existing.save(update_fields=["last_observed_at"])
            return existing
        if existing.status == McpTool.Status.APPROVED and digest == existing.approved_digest:
            # The common case on every session start: cheap, no audit row.
            if existing.observed_digest != digest:
                existing.observed_digest = digest
                existing.observed_description = description
                existing.observed_input_schema = input_schema
            existing.last_observed_at = now
            existing.save(
                update_fields=[
                    "observed_digest",
                    "observed_description",
                    "observed_input_schema",
                    "last_observed_at",
                ]
            )
            return existing
        before = {"status": existing.status, "observed_digest": existing.observed_digest}
        existing.observed_description = description
        existing.observed_input_schema = input_schema
        existing.observed_digest = digest
        existing.last_observed_at = now
        action = "registry.mcp_tool.observe"
        if existing.status == McpTool.Status.APPROVED:
            existing.status = McpTool.Status.CHANGED
            existing.changed_at = now
            action = "registry.mcp_tool.changed"
        # A changed tool stays changed even if it flips back: only a human clears a rug pull.
        existing.save(
            update_fields=[
                "observed_description",
                "observed_input_schema",
                "observed_digest",
                "last_observed_at",
                "status",
                "changed_at",
            ]
        )
        record_audit(
            tenant=tenant,
            actor=None,
            action=action,
            obj=existing,
            object_repr=f"{server.server_id}:{tool}{by}",
            before=before,
            after={
                "status": existing.status,
                "approved_digest": existing.approved_digest,
                "observed_digest": digest,
            },
        )
    return existing


def mcp_tool_approve(*, tool: McpTool, actor: User | None, capability_class: str | None = None) -> McpTool:
    """Approve what was last observed: its digest becomes the approved digest."""
    authorize_actor(actor, tool.tenant, "registry.manage_mcp")
    if capability_class is not None:
        capability_class = _choice(
            capability_class, CapabilityClass.choices, "capability_class", "capability class"
        )
    with transaction.atomic():
        current = McpTool.objects.select_for_update().select_related("server").get(pk=tool.pk)
        before = {
            "status": current.status,
            "approved_digest": current.approved_digest,
            "capability_class": current.capability_class,
        }
        if current.observed_digest:
            current.description = current.observed_description
            current.input_schema = current.observed_input_schema
            current.approved_digest = current.observed_digest
        else:
            current.approved_digest = tool_digest(
                description=current.description, input_schema=current.input_schema
            )
            current.observed_digest = current.approved_digest
        current.status = McpTool.Status.APPROVED
        current.approved_at = timezone.now()
        current.approved_by = _actor(actor)
        if capability_class:
            current.capability_class = capability_class
        current.save()
        record_audit(
            tenant=current.tenant,
            actor=_actor(actor),
            action="registry.mcp_tool.approve",
            obj=current,
            object_repr=f"{current.server.server_id}:{current.name}",
            before=before,
            after={
                "status": current.status,
                "approved_digest": current.approved_digest,
                "capability_class": current.capability_class,
            },
        )
    return current

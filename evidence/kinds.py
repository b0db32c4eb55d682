"""Every kind of evidence record the portal writes, with its meaning: the vocabulary of the chain.

docs/evidence-format.md ("Record kinds") lists exactly these; tests/evidence/test_kinds.py holds the
document, this registry and the writers in the code to each other. A new kind is added here first.
"""

from __future__ import annotations

DECISION_RECORDED = "decision.recorded"
DECISION_OUTCOME = "decision.outcome"
POLICY_BUNDLE_ISSUED = "policy.bundle.issued"
SESSION_OPENED = "session.opened"

BUNDLE_EXPORTED = "evidence.bundle.exported"
RETENTION_UPDATED = "evidence.retention.updated"
RETENTION_PURGED = "evidence.retention.purged"
KEY_ROTATED = "evidence.key.rotated"

# approvals/services/state.py writes `approval.<event>`; the status moves are the status values.
APPROVAL_EVENTS: dict[str, str] = {
    "opened": "a request was opened for one exact action",
    "review_recorded": "a reviewer answered, quorum not yet reached",
    "approved": "the quorum approved",
    "denied": "a reviewer denied",
    "expired": "the request or approval ran past its expiry",
    "cancelled": "a requester or admin withdrew it",
    "break_glass": "a tenant admin approved it by break-glass",
    "break_glass_reviewed": "the after-the-fact review of a break-glass closed",
    "escalated": "a pending request neared expiry and went to the escalation role",
    "used": "the agent used a multi-use approval",
    "consumed": "the agent used a single-use approval",
    "reviewer_grant_added": "a reviewer got a repository-scoped grant",
    "break_glass_grant_added": "a member got the break-glass grant",
}

# tenants.audit.record_audit writes `audit.<action>` through the evidence sink.
AUDIT_ACTIONS: dict[str, str] = {
    "tenant.create": "a tenant was created",
    "membership.add": "a member was added",
    "invitation.create": "a tenant admin invited someone by e-mail (roles, expiry; the link's token is never recorded)",
    "invitation.resend": "an invitation was sent again with a new link (the old one stops working)",
    "invitation.revoke": "an invitation was withdrawn before it was accepted",
    "invitation.accept": "an invitation was accepted: the membership with the invited roles exists",
    "mfa.policy_change": 'the tenant\'s "MFA required for roles" policy changed',
    "mfa.reset": "a tenant admin reset a member's MFA (authenticators and recovery codes removed)",
    "sso.provider_create": "a tenant admin set up the tenant's OIDC provider (the client secret is never recorded)",
    "sso.provider_change": 'a tenant admin changed the OIDC provider\'s settings (`after.client_secret`: "replaced" when it was)',
    "sso.state_change": "SSO was enabled/disabled or enforced, or the break-glass admin changed",
    "sso.saml_provider_create": "a tenant admin set up the tenant's SAML 2.0 provider (IdP entity id, metadata source, attributes)",
    "sso.saml_provider_change": "a tenant admin changed the SAML provider's settings (the metadata re-read: SSO URL, certificate count)",
    "sso.role_mappings_change": "the IdP group → role mappings changed (before and after)",
    "membership.sso_add": "an SSO login created a membership",
    "membership.demo_seed": "the demo seeded a member",
    "membership.roles_change": "a member's roles changed",
    "membership.remove": "a member was removed",
    "membership.deactivate": "a member was deactivated: roles suspended, personal API tokens revoked, sessions ended",
    "membership.reactivate": "a deactivated member got the roles they held back",
    "personal_token.issue": "a personal API token was issued",
    "personal_token.revoke": "a personal API token was revoked",
    "sso.app_sync": "the tenant's SSO provider was saved",
    "sso.app_remove": "the tenant's SSO provider was removed",
    "signin.succeeded": "a member signed in (`after.method`: password or sso:<provider>)",
    "signin.failed": "a sign-in to a member's account failed (`after`: failures in a row, client address)",
    "signin.locked_out": "a member's account must wait before the next sign-in (`after.seconds`)",
    "signin.sso_refused": "an IdP asserted a member's address that it does not serve; refused",
    "policy.publish": "a policy version was stored (bundled install, or a reviewed publish: signed, with its plan)",
    "repository.create": "a repository was registered",
    "environment.create": "an environment was registered",
    "repository.update": "a repository's name, description or owners changed",
    "repository.delete": "a repository no rollout applied to was removed",
    "environment.update": "an environment's name or production flag changed",
    "environment.delete": "an environment no rollout applied to was removed",
    "rollout.change": "a rollout was set or changed",
    "rollout.remove": "a rollout was removed",
    "policy.draft.create": "a policy draft was opened (from a version, a bundled pack, an upload or blank)",
    "policy.plan": "a publish plan was computed for a draft's exact digest (diff, tests, canaries, replay, risk)",
    "policy.publish_request": "a publish plan was sent for review through approvals",
    "policy.replay": "a shadow replay of a candidate policy over stored decisions was started",
    "policy.signing_key.rotate": "the tenant's policy-signing key was rotated",
    "policy.canaries.set": "the tenant's safety canaries were changed (added at once, or a loosening once approved)",
    "policy.canaries.request": "a loosening canary change (disable, override, remove) was sent for approval",
    "policy.canaries.refused": "a pending loosening canary change was denied and discarded",
    "rollout.plan": "a rollout change plan was computed (before/after, replay, canaries, risk)",
    "rollout.plan.acknowledge": "a loosening rollout change was acknowledged and sent for approval",
    "admin.add": "a row was added in the Django admin",
    "admin.change": "a row was changed in the Django admin",
    "admin.delete": "a row was deleted in the Django admin",
    "registry.agent.create": "an agent was registered",
    "registry.agent.update": "an agent's details changed",
    "registry.agent.active": "an agent was reactivated",
    "registry.agent.suspended": "an agent was suspended",
    "registry.agent.retired": "an agent was retired (its tokens revoked)",
    "registry.credential.issue": "an agent token was issued",
    "registry.credential.revoke": "an agent token was revoked",
    "registry.mcp_server.create": "an MCP server was registered",
    "registry.mcp_server.update": "an MCP server's details changed",
    "registry.mcp_server.approve": "an MCP server was approved",
    "registry.mcp_server.block": "an MCP server was blocked",
    "registry.mcp_tool.register": "an MCP tool was pinned by hand",
    "registry.mcp_tool.discover": "an MCP tool was first seen through the gateway",
    "registry.mcp_tool.observe": "a pending MCP tool was observed again through the gateway",
    "registry.mcp_tool.changed": "a pinned MCP tool's description or schema changed",
    "registry.mcp_tool.approve": "an MCP tool's current description was approved",
    "registry.workload_identity.bind": "a CI workload identity was bound to an agent",
    "registry.workload_identity.enable": "a workload identity binding was enabled",
    "registry.workload_identity.disable": "a workload identity binding was disabled",
    "registry.workload_identity.unbind": "a workload identity binding was removed",
}

# aispm/services/findings.py writes `aispm.finding.<event>` (subject = the `fnd_` id) and check changes.
FINDING_EVENTS: dict[str, str] = {
    "opened": "a posture check found a failing object and opened a finding",
    "acknowledged": "a person acknowledged a finding",
    "resolved": "a finding's check passed again, or a person resolved it",
    "reopened": "a resolved finding failed again, or its risk acceptance expired",
    "risk_accepted": "a person accepted a finding's risk until a date, with a reason",
}
CHECK_UPDATED = "aispm.check.updated"

# reports/services writes these (subject = the `rpt_` report id, or the `rdl_` delivery id).
REPORT_GENERATED = "report.generated"
REPORT_DELIVERED = "report.delivered"
REPORT_DELIVERY_FAILED = "report.delivery_failed"
REPORT_SCHEDULE_CHANGED = "report.schedule.changed"
REPORT_RECIPIENT_POLICY_CHANGED = "report.recipient_policy.changed"

# licensing/services.py writes these in every tenant's chain (subject = `licence:<licence_id>`).
LICENCE_INSTALLED = "licence.installed"
LICENCE_REPLACED = "licence.replaced"

KINDS: dict[str, str] = {
    DECISION_RECORDED: "one runtime decision (`subject` = its `dec_` id); its Decision row links this record; a decision made offline from a signed bundle and uploaded by `cavra sync` carries `offline` {seq, hash, prev_hash, bundle, decided_at} of its spool entry",
    SESSION_OPENED: "an agent opened a working session (`subject` = its `ses_` id)",
    DECISION_OUTCOME: "what happened after an allowed action ran, once per decision (`subject` = its `dec_` id)",
    POLICY_BUNDLE_ISSUED: "a signed offline policy bundle was issued to an agent (`subject` = the `rol_` id)",
    BUNDLE_EXPORTED: "an evidence bundle was exported",
    RETENTION_UPDATED: "the tenant's retention policy changed",
    RETENTION_PURGED: "records before a signed checkpoint were purged",
    KEY_ROTATED: "the tenant's signing key was rotated",
    **{f"approval.{event}": meaning for event, meaning in APPROVAL_EVENTS.items()},
    **{f"audit.{action}": meaning for action, meaning in AUDIT_ACTIONS.items()},
    **{f"aispm.finding.{event}": meaning for event, meaning in FINDING_EVENTS.items()},
    CHECK_UPDATED: "a tenant admin switched a posture check on or off or changed its threshold",
    REPORT_GENERATED: "a report was generated (`payload`: type, trigger, manifest digest, key id, file digests)",
    REPORT_DELIVERED: "a report e-mail was accepted by the SMTP server (digest, recipients, message-id, attempts)",
    REPORT_DELIVERY_FAILED: "a report e-mail failed N times in a row and was escalated (digest, recipients, error)",
    REPORT_SCHEDULE_CHANGED: "a report schedule was created, changed, paused, resumed or deleted",
    REPORT_RECIPIENT_POLICY_CHANGED: "a tenant admin changed the domains reports may be sent to",
    LICENCE_INSTALLED: "a platform admin installed the first vendor licence (`payload`: licence id, SHA-256, licensee, edition, seats, dates, state, key id)",
    LICENCE_REPLACED: "a platform admin replaced the vendor licence (`payload` as `licence.installed`, with `previous` {licence_id, sha256})",
}

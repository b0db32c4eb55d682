"""The reports capabilities ReportsConfig.ready() registers with core.authz (capability -> roles)."""

from core.roles import Role

VIEW_ARCHIVE = "reports.view_archive"  # the archive, downloads, schedules (read)
MANAGE_SCHEDULES = "reports.manage_schedules"  # create, change, pause, run now, preview
MANAGE_RECIPIENT_POLICY = "reports.manage_recipient_policy"  # allowed external domains

ARCHIVE_ROLES = (Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN)
SCHEDULE_ROLES = (Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN)
POLICY_ROLES = (Role.TENANT_ADMIN,)
CAPABILITIES = {
    VIEW_ARCHIVE: ARCHIVE_ROLES,
    MANAGE_SCHEDULES: SCHEDULE_ROLES,
    MANAGE_RECIPIENT_POLICY: POLICY_ROLES,
}

from core.roles import Role

NAV_ITEMS = [
    ("Approvals", "approvals:queue", (Role.SECURITY_REVIEWER, Role.TENANT_ADMIN)),
    (
        "Approval history",
        "approvals:history",
        (Role.SECURITY_REVIEWER, Role.TENANT_ADMIN, Role.AUDITOR, Role.COMPLIANCE_OFFICER),
    ),
]

from core.roles import Role

EVIDENCE_READERS = (Role.COMPLIANCE_OFFICER, Role.AUDITOR, Role.TENANT_ADMIN)

NAV_ITEMS = [
    ("Evidence", "evidence:explorer", EVIDENCE_READERS),
    ("Evidence verification", "evidence:verification", EVIDENCE_READERS),
]

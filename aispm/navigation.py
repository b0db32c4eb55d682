from aispm.selectors import DETAIL_ROLES, SUMMARY_ROLES

NAV_ITEMS = [
    ("Posture", "aispm:overview", SUMMARY_ROLES),
    ("Findings", "aispm:findings", SUMMARY_ROLES),
    ("Control coverage", "aispm:coverage", SUMMARY_ROLES),
    ("Near-misses", "aispm:near-misses", DETAIL_ROLES),
    ("Governance timeline", "aispm:timeline", DETAIL_ROLES),
    ("Readiness", "aispm:readiness", SUMMARY_ROLES),
]

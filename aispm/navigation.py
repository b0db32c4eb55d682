from aispm.selectors import VIEW, VIEW_DETAIL

NAV_ITEMS = [
    ("Posture", "aispm:overview", VIEW),
    ("Findings", "aispm:findings", VIEW),
    ("Control coverage", "aispm:coverage", VIEW),
    ("Near-misses", "aispm:near-misses", VIEW_DETAIL),
    ("Governance timeline", "aispm:timeline", VIEW_DETAIL),
    ("Readiness", "aispm:readiness", VIEW),
]

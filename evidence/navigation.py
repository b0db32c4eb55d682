NAV_ITEMS = [
    ("Evidence", "evidence:explorer", "evidence.view"),
    ("Evidence verification", "evidence:verification", "evidence.view"),
    ("Readiness", "evidence:doctor", "evidence.readiness"),
]

NAV_ITEMS = [
    ("Activity", "policies:activity", "policies.view_activity"),
    ("Policies", "policies:index", "policies.view"),
]

from policies.selectors import ACTIVITY_ROLES, POLICY_READ_ROLES

NAV_ITEMS = [
    ("Activity", "policies:activity", ACTIVITY_ROLES),
    ("Policies", "policies:index", POLICY_READ_ROLES),
]

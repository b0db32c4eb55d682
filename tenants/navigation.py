NAV_ITEMS = [
    ("Home", "home", None),
    ("Members", "tenants:members", "tenants.manage_members"),
    ("API tokens", "tenants:tokens", None),
]

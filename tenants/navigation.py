NAV_ITEMS = [
    ("Home", "home", None),
    ("Members", "tenants:members", "tenants.manage_members"),
    ("Single sign-on", "tenants:sso", "tenants.manage_sso"),
    ("API tokens", "tenants:tokens", None),
    ("Two-factor authentication", "mfa_index", None),
]

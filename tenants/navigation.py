from core.roles import Role

NAV_ITEMS = [
    ("Home", "home", ()),
    ("Members", "tenants:members", (Role.TENANT_ADMIN,)),
    ("API tokens", "tenants:tokens", ()),
]

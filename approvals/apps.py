from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        from approvals.home import HOME_PANELS
        from approvals.navigation import NAV_ITEMS
        from core.authz import register_object_rule
        from core.pages import register_home_panels, register_navigation
        from core.roles import Role

        register_navigation(NAV_ITEMS, order=30)
        register_home_panels(HOME_PANELS)
        # A request is decided by the role it was routed to; it is withdrawn by an admin or by whoever asked
        # for it: its agent's owner, or the person who requested it when it has no agent (a policy publish).
        register_object_rule(
            "approvals.review", lambda *, user, tenant, obj, roles: obj.reviewer_role in roles
        )
        register_object_rule(
            "approvals.cancel",
            lambda *, user, tenant, obj, roles: (
                Role.TENANT_ADMIN in roles
                or (obj.agent.owner_id if obj.agent_id else obj.requested_by_id) == user.pk
            ),
        )

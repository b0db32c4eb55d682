from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Policies and decisions"

    def ready(self):
        from core.pages import register_home_panels, register_navigation
        from policies.home import HOME_PANELS
        from policies.navigation import NAV_ITEMS

        register_navigation(NAV_ITEMS, order=20)
        register_home_panels(HOME_PANELS)

        from policies.services.defaults import tenant_default_rollout_create
        from tenants.services import register_tenant_created

        register_tenant_created(tenant_default_rollout_create)

        from approvals.subjects import SubjectType, register_subject_type
        from policies.services.plans import SUBJECT_TYPE, policy_publish_on_approval, policy_publish_on_denial

        register_subject_type(
            SubjectType(
                name=SUBJECT_TYPE,
                label="Policy publish",
                on_approved=policy_publish_on_approval,
                on_denied=policy_publish_on_denial,
            )
        )
        from policies.services import rollout_plans

        register_subject_type(
            SubjectType(
                name=rollout_plans.SUBJECT_TYPE,
                label="Rollout change",
                on_approved=rollout_plans.rollout_change_on_approval,
                on_denied=rollout_plans.rollout_change_on_denial,
            )
        )
        from policies.services import canaries

        register_subject_type(
            SubjectType(
                name=canaries.SUBJECT_TYPE,
                label="Safety canary change",
                on_approved=canaries.canary_change_on_approval,
                on_denied=canaries.canary_change_on_denial,
            )
        )

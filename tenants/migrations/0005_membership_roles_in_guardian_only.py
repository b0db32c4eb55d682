# Roles are stored once: as guardian object permissions on the Tenant. Membership.roles (a JSON copy the
# services kept in step) goes; first the grants are made equal to it, so nothing a member held is lost.

from django.db import migrations, models

CODENAME = "role_{}"


def _grant_table(apps):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    UserObjectPermission = apps.get_model("guardian", "UserObjectPermission")
    ct, _ = ContentType.objects.get_or_create(app_label="tenants", model="tenant")
    return ct, Permission, UserObjectPermission


def json_to_grants(apps, schema_editor):
    Membership = apps.get_model("tenants", "Membership")
    if not Membership.objects.exists():
        return
    ct, Permission, UserObjectPermission = _grant_table(apps)
    for membership in Membership.objects.all().iterator():
        wanted = {CODENAME.format(role) for role in (membership.roles or [])}
        held = UserObjectPermission.objects.filter(
            user_id=membership.user_id, content_type=ct, object_pk=str(membership.tenant_id),
            permission__codename__startswith="role_",
        )
        held.exclude(permission__codename__in=wanted).delete()
        have = set(held.values_list("permission__codename", flat=True))
        for codename in sorted(wanted - have):
            permission, _ = Permission.objects.get_or_create(
                content_type=ct, codename=codename, defaults={"name": f"Holds role {codename[5:]}"}
            )
            UserObjectPermission.objects.create(
                user_id=membership.user_id, content_type=ct, object_pk=str(membership.tenant_id), permission=permission
            )


def grants_to_json(apps, schema_editor):
    Membership = apps.get_model("tenants", "Membership")
    if not Membership.objects.exists():
        return
    ct, _, UserObjectPermission = _grant_table(apps)
    order = ["tenant_admin", "security_reviewer", "operator", "evaluator", "compliance_officer", "auditor",
             "executive", "report_recipient"]
    for membership in Membership.objects.all().iterator():
        held = set(
            UserObjectPermission.objects.filter(
                user_id=membership.user_id, content_type=ct, object_pk=str(membership.tenant_id)
            ).values_list("permission__codename", flat=True)
        )
        membership.roles = [role for role in order if CODENAME.format(role) in held]
        membership.save(update_fields=["roles"])


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0004_personalaccesstoken"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        # Reversed, RemoveField brings the column back first, then grants_to_json fills it.
        migrations.RunPython(json_to_grants, grants_to_json),
        migrations.RemoveField(model_name="membership", name="roles"),
    ]

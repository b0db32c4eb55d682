"""Move SSO client secrets to Fernet tokens (core.secrets) and out of allauth's SocialApp row, which
now gets the secret from the adapter at sign-in time."""

from django.db import migrations

from core.secrets import secret_decrypt, secret_encrypt


def encrypt(apps, schema_editor):
    SsoProvider = apps.get_model("tenants", "SsoProvider")
    SocialApp = apps.get_model("socialaccount", "SocialApp")
    for provider in SsoProvider.objects.all():
        provider.client_secret_encrypted = secret_encrypt(provider.client_secret)
        provider.client_secret = ""
        provider.save(update_fields=["client_secret_encrypted", "client_secret"])
        if provider.social_app_id:
            SocialApp.objects.filter(pk=provider.social_app_id).update(secret="")


def decrypt(apps, schema_editor):
    SsoProvider = apps.get_model("tenants", "SsoProvider")
    SocialApp = apps.get_model("socialaccount", "SocialApp")
    for provider in SsoProvider.objects.all():
        provider.client_secret = secret_decrypt(provider.client_secret_encrypted)
        provider.save(update_fields=["client_secret"])
        if provider.social_app_id:
            SocialApp.objects.filter(pk=provider.social_app_id).update(secret=provider.client_secret)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0006_sso_self_service"),
        ("socialaccount", "0006_alter_socialaccount_extra_data"),
    ]

    operations = [migrations.RunPython(encrypt, decrypt)]

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tenants", "0007_sso_client_secret_encrypt")]

    operations = [migrations.RemoveField(model_name="ssoprovider", name="client_secret")]

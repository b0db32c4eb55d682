# The outbox moved to core (core.0001). State only: the tables stay where they are under core's models.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("approvals", "0002_beat_schedule"),
        ("core", "0001_outbox_moved_from_approvals"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="OutboxAttempt"),
                migrations.DeleteModel(name="OutboxMessage"),
            ]
        )
    ]

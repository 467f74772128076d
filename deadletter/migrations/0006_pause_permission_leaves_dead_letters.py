"""``DeadLetter`` declares the queue's own permissions only; ``pause_endpoint`` is on destinations.

Options only: the permission's row is moved by webhooks/migrations/0010, in either order.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("deadletter", "0005_drop_unused_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="deadletter",
            options={
                "ordering": ["-dead_at"],
                "permissions": [
                    ("retry_deadletter", "Can retry dead letters and waiting deliveries"),
                    ("purge_deadletter", "Can purge dead letters (take them out of the queue for good)"),
                ],
            },
        ),
    ]

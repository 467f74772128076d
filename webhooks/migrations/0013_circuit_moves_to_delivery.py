"""The circuit columns leave the destination: delivery's 0006 copied them into ``delivery.Circuit``."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0012_support_sees_validation_exchanges"),
        ("delivery", "0006_circuit_of_each_destination"),
    ]

    operations = [
        migrations.RemoveField(model_name="endpoint", name="circuit_next_probe_at"),
        migrations.RemoveField(model_name="endpoint", name="circuit_opened_at"),
        migrations.RemoveField(model_name="endpoint", name="circuit_probes"),
        migrations.RemoveField(model_name="endpoint", name="circuit_state"),
        migrations.RemoveField(model_name="endpoint", name="consecutive_failures"),
    ]

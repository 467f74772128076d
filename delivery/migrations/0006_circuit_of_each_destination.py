"""Each destination's circuit breaker gets its own row (``delivery.Circuit``), copied from the
destination's circuit columns, which webhooks' 0010 then drops. One INSERT … SELECT (and back, one
UPDATE), so it takes the same time for ten destinations or ten thousand, on Postgres and SQLite."""

import django.db.models.deletion
from django.db import migrations, models

COPY_FROM_ENDPOINTS = """
    INSERT INTO delivery_circuit
        (endpoint_id, state, consecutive_failures, opened_at, next_probe_at, failed_probes, created_at, updated_at)
    SELECT id, circuit_state, consecutive_failures, circuit_opened_at, circuit_next_probe_at, circuit_probes,
           created_at, updated_at
    FROM webhooks_endpoint
"""

# Back: the columns exist again (webhooks' 0010 is unapplied first, it depends on this migration).
COPY_TO_ENDPOINTS = """
    UPDATE webhooks_endpoint SET
        circuit_state = COALESCE(
            (SELECT c.state FROM delivery_circuit c WHERE c.endpoint_id = webhooks_endpoint.id), 'closed'),
        consecutive_failures = COALESCE(
            (SELECT c.consecutive_failures FROM delivery_circuit c WHERE c.endpoint_id = webhooks_endpoint.id), 0),
        circuit_opened_at =
            (SELECT c.opened_at FROM delivery_circuit c WHERE c.endpoint_id = webhooks_endpoint.id),
        circuit_next_probe_at =
            (SELECT c.next_probe_at FROM delivery_circuit c WHERE c.endpoint_id = webhooks_endpoint.id),
        circuit_probes = COALESCE(
            (SELECT c.failed_probes FROM delivery_circuit c WHERE c.endpoint_id = webhooks_endpoint.id), 0)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0005_attempt_outcome_probe_failed"),
        ("webhooks", "0009_support_sees_merchants"),
    ]

    operations = [
        migrations.CreateModel(
            name="Circuit",
            fields=[
                (
                    "endpoint",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="circuit",
                        serialize=False,
                        to="webhooks.endpoint",
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[("closed", "Closed (delivering)"), ("open", "Open (holding deliveries, probing)")],
                        default="closed",
                        max_length=8,
                        verbose_name="circuit state",
                    ),
                ),
                ("consecutive_failures", models.PositiveIntegerField(default=0)),
                ("opened_at", models.DateTimeField(blank=True, null=True)),
                ("next_probe_at", models.DateTimeField(blank=True, null=True)),
                (
                    "failed_probes",
                    models.PositiveIntegerField(default=0, help_text="Failed probes since the circuit opened."),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.RunSQL(COPY_FROM_ENDPOINTS, COPY_TO_ENDPOINTS),
    ]

# Indexes that earn their place (issue 13, item 4); written by hand to be safe on a populated database.
#
# * Postgres gives every indexed CharField a second, varchar_pattern_ops index for LIKE 'prefix%'.
#   Nothing queries these columns with a prefix (the callback search, the admin's and the API's filters
#   match whole ids; the endpoint search is a case-insensitive "contains", which no B-tree serves), so
#   every callback INSERT paid for ten indexes no query used. The plain indexes stay.
# * Callback.endpoint's own index: callback_duplicate_idx leads with the same column.
#
# Dropped CONCURRENTLY on Postgres (no lock against the inbound door's INSERTs), hence atomic = False;
# docs/operations.md, "Upgrading a populated database".

import django.db.models.deletion
from django.db import migrations, models

from daraja.core.migration_ops import DropFieldIndexesSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("webhooks", "0003_endpoint_max_in_flight"),
    ]

    operations = [
        DropFieldIndexesSafely(
            "callback",
            [
                "kind",
                "result_code",
                "receipt_number",
                "checkout_request_id",
                "merchant_request_id",
                "trans_id",
                "conversation_id",
                "originator_conversation_id",
                "account_reference",
                "correlation_id",
            ],
        ),
        DropFieldIndexesSafely("endpoint", ["user_id", "inbound_token", "circuit_state"]),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="callback",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="callbacks",
                        to="webhooks.endpoint",
                    ),
                ),
            ],
            database_operations=[DropFieldIndexesSafely("callback", ["endpoint"], suffix="")],
        ),
    ]

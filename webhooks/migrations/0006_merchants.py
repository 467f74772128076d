"""A merchant keeps one inbound door and gets several destinations (issue: fan-out).

Schema first, nullable; 0007 fills it from the endpoints; 0008 makes it required
and removes what moved. Three migrations because Postgres refuses to alter a
table in the transaction that has just updated its rows.
"""

import django.db.models.deletion
from django.db import migrations, models

import webhooks.inbound_tokens
import webhooks.models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0005_callback_kinds"),
    ]

    operations = [
        migrations.CreateModel(
            name="Merchant",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "user_id",
                    models.CharField(
                        help_text="Identifies the merchant in the inbound URL M-Pesa calls.",
                        max_length=64,
                        unique=True,
                        validators=[webhooks.models.user_id_validator, webhooks.models.validate_no_forbidden_word],
                    ),
                ),
                (
                    "inbound_token",
                    models.CharField(
                        default=webhooks.inbound_tokens.generate_inbound_token,
                        editable=False,
                        help_text="The secret part of the inbound URL; a request without it is refused.",
                        max_length=64,
                        unique=True,
                    ),
                ),
                (
                    "inbound_token_rotated_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="inbound token last changed"
                    ),
                ),
                (
                    "allow_legacy_path",
                    models.BooleanField(
                        default=False,
                        help_text="Also accept callbacks on the bare /webhook/<user id> path, without the "
                        "token. Only for merchants who cannot re-register their M-Pesa URLs yet: anyone who "
                        "knows the user id can post to that path.",
                        verbose_name="allow the legacy path",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["user_id"]},
        ),
        migrations.AddField(
            model_name="endpoint",
            name="merchant",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="destinations",
                to="webhooks.merchant",
            ),
        ),
        migrations.AddField(
            model_name="endpoint",
            name="name",
            field=models.CharField(
                default="main",
                help_text="Tells this merchant's destinations apart (e.g. shop, erp, warehouse).",
                max_length=40,
                validators=[webhooks.models.destination_name_validator],
            ),
        ),
        migrations.AddField(
            model_name="endpoint",
            name="kinds",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The callback kinds this destination receives; empty means every kind.",
                validators=[webhooks.models.validate_kinds],
                verbose_name="callback kinds",
            ),
        ),
        migrations.AddField(
            model_name="callback",
            name="merchant",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="callbacks",
                to="webhooks.merchant",
            ),
        ),
    ]

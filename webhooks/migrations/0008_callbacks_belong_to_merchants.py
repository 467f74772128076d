"""Callbacks belong to merchants; the door's token and legacy switch live on the merchant alone.

The new duplicate index is built CONCURRENTLY on Postgres (no lock against the
inbound door's INSERTs), hence ``atomic = False``; docs/operations.md,
"Upgrading a populated database".
"""

import django.db.models.deletion
from django.db import migrations, models

from daraja.core.migration_ops import AddIndexSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('webhooks', '0007_merchants_from_endpoints'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='endpoint',
            options={'ordering': ['user_id', 'id'], 'verbose_name': 'destination'},
        ),
        migrations.RemoveIndex(
            model_name='callback',
            name='callback_duplicate_idx',
        ),
        migrations.RemoveField(
            model_name='callback',
            name='endpoint',
        ),
        migrations.RemoveField(
            model_name='endpoint',
            name='allow_legacy_path',
        ),
        migrations.RemoveField(
            model_name='endpoint',
            name='inbound_token',
        ),
        migrations.AlterField(
            model_name='callback',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='callbacks', to='webhooks.merchant'),
        ),
        migrations.AlterField(
            model_name='endpoint',
            name='merchant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='destinations', to='webhooks.merchant'),
        ),
        migrations.AlterField(
            model_name='endpoint',
            name='user_id',
            field=models.CharField(db_index=True, editable=False, max_length=64),
        ),
        AddIndexSafely(
            model_name='callback',
            index=models.Index(fields=['merchant', 'kind', 'correlation_id', 'received_at'], name='callback_duplicate_idx'),
        ),
        migrations.AddConstraint(
            model_name='endpoint',
            constraint=models.UniqueConstraint(fields=('merchant', 'name'), name='unique_destination_name'),
        ),
    ]

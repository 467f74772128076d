# Indexes that earn their place (issue 13, item 4); written by hand to be safe on a populated database.
#
# Postgres gives the indexed error_category a second, varchar_pattern_ops index for LIKE 'prefix%';
# the queue is filtered by whole categories only. The plain index stays. Dropped CONCURRENTLY on
# Postgres, hence atomic = False; docs/operations.md, "Upgrading a populated database".

from django.db import migrations

from daraja.core.migration_ops import DropFieldIndexesSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("deadletter", "0004_support_group"),
    ]

    operations = [
        DropFieldIndexesSafely("deadletter", ["error_category"]),
    ]

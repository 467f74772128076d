"""Every endpoint becomes a merchant with one destination (itself) that receives every kind.

The merchant takes the endpoint's user id, inbound token, legacy-path switch and
creation time, so inbound URLs registered with M-Pesa keep working; the
endpoint keeps its URL, secret, settings, circuit and history as the merchant's
"main" destination; every callback is moved to its merchant. Set-based
statements (no row-by-row loop) so a large table migrates in a few statements.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def endpoints_to_merchants(apps, schema_editor):
    Endpoint = apps.get_model("webhooks", "Endpoint")
    Merchant = apps.get_model("webhooks", "Merchant")
    Callback = apps.get_model("webhooks", "Callback")
    merchants = [
        Merchant(
            user_id=row["user_id"],
            inbound_token=row["inbound_token"],
            allow_legacy_path=row["allow_legacy_path"],
        )
        for row in Endpoint.objects.filter(merchant__isnull=True).values(
            "user_id", "inbound_token", "allow_legacy_path"
        )
    ]
    Merchant.objects.bulk_create(merchants, batch_size=1000)
    # Keep the endpoint's creation time on its merchant (auto_now_add set "now" on insert).
    Merchant.objects.update(
        created_at=Subquery(Endpoint.objects.filter(user_id=OuterRef("user_id")).values("created_at")[:1])
    )
    by_user = Merchant.objects.filter(user_id=OuterRef("user_id")).values("pk")[:1]
    Endpoint.objects.filter(merchant__isnull=True).update(merchant=Subquery(by_user), name="main", kinds=[])
    Callback.objects.filter(merchant__isnull=True).update(
        merchant=Subquery(Endpoint.objects.filter(pk=OuterRef("endpoint_id")).values("merchant_id")[:1])
    )


def merchants_to_endpoints(apps, schema_editor):
    """Back to one endpoint per user: the door's token and switch return to the main destination."""
    Endpoint = apps.get_model("webhooks", "Endpoint")
    Merchant = apps.get_model("webhooks", "Merchant")
    for merchant in Merchant.objects.all():
        Endpoint.objects.filter(merchant=merchant, name="main").update(
            inbound_token=merchant.inbound_token, allow_legacy_path=merchant.allow_legacy_path
        )


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0006_merchants"),
    ]

    operations = [
        migrations.RunPython(endpoints_to_merchants, merchants_to_endpoints),
    ]

"""The merchant's page: its destinations side by side; the inbound URL for superusers only, logged."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from webhooks.models import Endpoint, Merchant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def merchant_with_two_apps(endpoint_factory):
    endpoint_factory(user_id="shop7", url="https://shop.example/hook")
    endpoint_factory(user_id="shop7", name="erp", url="https://erp.example/hook", kinds=["c2b_confirmation"])
    return Merchant.objects.get(user_id="shop7")


def test_support_sees_the_destinations_but_never_the_inbound_token(support_client, merchant_with_two_apps):
    merchant = merchant_with_two_apps
    page = support_client.get(reverse("admin:webhooks_merchant_change", args=[merchant.pk]))

    assert page.status_code == 200
    assert "erp" in page.text and "C2B confirmation" in page.text and "every kind" in page.text
    assert merchant.inbound_token not in page.text
    assert "reveal_inbound_url" not in page.text
    for destination in Endpoint.objects.filter(merchant=merchant):
        other = support_client.get(reverse("admin:webhooks_endpoint_change", args=[destination.pk]))
        assert other.status_code == 200
        assert merchant.inbound_token not in other.text
        assert destination.signing_secret not in other.text
    reveal = support_client.post(
        reverse("admin:webhooks_merchant_object_action", args=[merchant.pk, "reveal_inbound_url"])
    )
    assert reveal.status_code in (403, 404)
    assert merchant.inbound_token not in reveal.text


def test_a_superuser_reveals_the_inbound_url_and_the_admin_log_keeps_it(
    staff_client, superuser, merchant_with_two_apps
):
    merchant = merchant_with_two_apps
    page = staff_client.get(reverse("admin:webhooks_merchant_change", args=[merchant.pk]))
    assert merchant.inbound_token not in page.text  # not on the page itself: only behind the button
    assert "reveal_inbound_url" in page.text

    revealed = staff_client.post(
        reverse("admin:webhooks_merchant_object_action", args=[merchant.pk, "reveal_inbound_url"])
    )

    assert revealed.status_code == 200
    assert merchant.inbound_path in revealed.text
    assert "no-store" in revealed["Cache-Control"]
    entry = LogEntry.objects.get(object_id=str(merchant.pk), change_message="Revealed the inbound URL.")
    assert entry.user_id == superuser.pk


def test_a_destination_is_added_to_an_existing_merchant_with_its_kinds(staff_client, merchant_with_two_apps):
    response = staff_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {
            "merchant_user_id": "shop7",
            "name": "warehouse",
            "url": "https://warehouse.example/load",
            "kinds": ["b2c_result", "stk_callback"],
            "default_priority": 5,
            "max_attempts": 3,
            "initial_delay_seconds": 2,
            "backoff_multiplier": 2,
            "max_delay_seconds": 60,
            "timeout_seconds": 30,
            "max_in_flight": 8,
        },
    )

    assert response.status_code == 200, response.content
    added = Endpoint.objects.get(user_id="shop7", name="warehouse")
    assert added.signing_secret in response.text  # shown this once
    assert added.merchant_id == merchant_with_two_apps.pk
    assert added.kinds == ["b2c_result", "stk_callback"]
    assert Merchant.objects.count() == 1


def test_the_payment_list_shows_the_delivery_that_needs_attention_and_how_many_destinations_got_it(
    support_client, client, receiver, endpoint_factory
):
    from tests.helpers import post_callback
    from tests.support import Reply, run_worker

    endpoint_factory(user_id="shop8", url=receiver.url("/ok"))
    endpoint_factory(user_id="shop8", name="erp", url=receiver.url("/down"), max_attempts=1)
    receiver.script("/down", Reply(status=500))
    post_callback(client, "shop8")
    run_worker()

    page = support_client.get(reverse("admin:webhooks_callback_changelist"))

    assert "1 of 2 destinations delivered" in page.text
    assert "Dead-lettered" in page.text  # the erp's delivery, the one support acts on


def test_the_dashboard_names_the_destination_that_needs_attention(support_client, endpoint_factory):
    endpoint_factory(user_id="shop9", url="https://shop.example/hook")
    erp = endpoint_factory(user_id="shop9", name="erp", url="https://erp.example/hook", is_active=False)

    body = support_client.get("/admin/dashboard/").content.decode()

    assert "<strong>shop9/erp</strong>" in body
    assert "<strong>shop9</strong>" not in body  # the main destination is fine
    assert f'href="/admin/webhooks/endpoint/{erp.pk}/change/"' in body

"""Finding a payment by the ids people quote, and the endpoint actions only superusers have."""

import re

import pytest
from django.contrib.admin.models import LogEntry

from delivery.models import Delivery
from tests.helpers import post_callback, stk_body
from tests.support import run_worker
from webhooks.models import Callback, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_payments(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    post_callback(client, "shop1", stk_body("ws_CO_191220191020363925"))
    post_callback(client, "shop1", stk_body("ws_CO_OTHER0000000001"))
    return Callback.objects.get(checkout_request_id="ws_CO_191220191020363925")


@pytest.mark.parametrize(
    "term",
    [
        "NLJ7RT61SV",
        "nlj7rt61sv",
        "ws_CO_191220191020363925",
        "29115-34620561-1",
        "{webhook_id}",
        "{delivery_id}",
    ],
)
def test_a_payment_is_found_by_the_ids_people_quote(support_client, two_payments, term):
    delivery = two_payments.deliveries.get()
    term = term.format(webhook_id=delivery.webhook_id, delivery_id=delivery.pk)
    for listing in ["/admin/webhooks/callback/", "/admin/delivery/delivery/"]:
        page = support_client.get(listing, {"q": term})
        assert page.status_code == 200
        assert f"/admin/delivery/delivery/{delivery.pk}/change/" in page.text, (listing, term)
    other = Delivery.objects.exclude(pk=delivery.pk).get()
    if term not in ("NLJ7RT61SV", "nlj7rt61sv", "29115-34620561-1"):  # both sample payments share those
        assert f"/admin/delivery/delivery/{other.pk}/change/" not in page.text


def test_the_last_three_digits_of_the_phone_find_the_payment(support_client, two_payments):
    assert two_payments.phone_number_masked.endswith("149")
    page = support_client.get("/admin/webhooks/callback/", {"q": "149"})
    assert f"/admin/webhooks/callback/{two_payments.pk}/change/" in page.text
    assert (
        f"/admin/webhooks/callback/{two_payments.pk}/change/"
        not in support_client.get("/admin/webhooks/callback/", {"q": "148"}).text
    )


def test_rotating_the_secret_shows_the_new_one_once_and_logs_without_it(
    staff_client, superuser, endpoint_factory
):
    endpoint = endpoint_factory(user_id="shop1")
    old_secret = endpoint.signing_secret
    page = staff_client.post(
        "/admin/webhooks/endpoint/", {"action": "rotate_secret", "_selected_action": [endpoint.pk]}
    )
    endpoint.refresh_from_db()
    assert endpoint.signing_secret != old_secret
    assert endpoint.signing_secret in page.text
    assert "no-store" in page["Cache-Control"]
    assert (
        endpoint.signing_secret
        not in staff_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").text
    )
    entry = LogEntry.objects.get(user=superuser, object_id=str(endpoint.pk))
    assert entry.change_message == "Signing secret rotated."


def test_a_test_delivery_reaches_the_shop(staff_client, receiver, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    response = staff_client.post(
        f"/admin/webhooks/endpoint/{endpoint.pk}/do/send_test_delivery/", follow=True
    )
    delivery = Delivery.objects.get()
    assert "Test delivery for shop1 queued" in response.text
    run_worker()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert b"stkCallback" in receiver.requests_to("/hook")[0].body
    assert Endpoint.objects.get().is_active


def test_endpoint_list_filters_paused_and_by_priority(support_client, endpoint_factory):
    endpoint_factory(user_id="running")
    endpoint_factory(user_id="stopped", is_active=False, default_priority=20)
    paused = support_client.get("/admin/webhooks/endpoint/", {"state": "paused"}).text
    assert "stopped" in paused and "running" not in paused
    urgent = support_client.get("/admin/webhooks/endpoint/", {"default_priority__exact": 20}).text
    assert "stopped" in urgent and "running" not in urgent
    found = support_client.get("/admin/webhooks/endpoint/", {"q": "runn"}).text
    assert "running" in found and "stopped" not in found


@pytest.mark.parametrize("term", ["1234567890123456789012345", "²³", "  ", "' OR 1=1 --"])
def test_odd_search_terms_find_nothing_and_never_fail(support_client, two_payments, term):
    for listing in [
        "/admin/webhooks/callback/",
        "/admin/delivery/delivery/",
        "/admin/deadletter/deadletter/",
    ]:
        page = support_client.get(listing, {"q": term})
        assert page.status_code == 200
        if term.strip():
            assert not re.search(r"/admin/\w+/\w+/\d+/change/", page.text), (listing, term)

"""The admin pages support staff use: endpoints, deliveries, dead letters and bulk retry."""

import pytest

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.helpers import post_callback, stk_body
from tests.support import Reply, run_worker
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT_FORM = {
    "merchant_user_id": "shop9",
    "name": "main",
    "url": "https://shop.example/hook",
    "default_priority": 5,
    "max_attempts": 3,
    "initial_delay_seconds": 2,
    "backoff_multiplier": 2,
    "max_delay_seconds": 60,
    "timeout_seconds": 30,
    "max_in_flight": 32,
}


def test_the_admin_needs_a_login(client):
    response = client.get("/admin/deadletter/deadletter/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_creating_an_endpoint_in_the_admin_shows_the_secret_once_and_validates(staff_client):
    response = staff_client.post(
        "/admin/webhooks/endpoint/add/", {**ENDPOINT_FORM, "url": "ftp://nope", "max_attempts": 0}
    )
    assert response.status_code == 200
    assert "starting with http:// or https://" in response.text
    assert "Allow at least 1 attempt" in response.text
    assert not Endpoint.objects.exists()

    response = staff_client.post("/admin/webhooks/endpoint/add/", ENDPOINT_FORM, follow=True)
    endpoint = Endpoint.objects.get()
    assert endpoint.signing_secret in response.text
    assert "no-store" in response["Cache-Control"]
    change_page = staff_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert endpoint.signing_secret not in change_page.text
    assert endpoint.signing_secret[-4:] in change_page.text
    assert endpoint.signing_secret not in staff_client.get("/admin/webhooks/endpoint/").text
    assert endpoint.signing_secret not in staff_client.get("/admin/").text  # not in "Recent actions"


def test_retry_settings_errors_speak_plainly_and_change_nothing(staff_client, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop9", max_attempts=3)
    response = staff_client.post(
        f"/admin/webhooks/endpoint/{endpoint.pk}/change/",
        {**ENDPOINT_FORM, "initial_delay_seconds": 120, "max_delay_seconds": 60, "timeout_seconds": 0},
    )
    assert response.status_code == 200
    assert "The request timeout must be more than 0 seconds." in response.text
    endpoint.refresh_from_db()
    assert endpoint.timeout_seconds == 5

    response = staff_client.post(
        f"/admin/webhooks/endpoint/{endpoint.pk}/change/", {**ENDPOINT_FORM, "max_attempts": 7}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.max_attempts == 7
    assert endpoint.user_id == "shop9"


def test_max_in_flight_is_on_the_endpoint_form_saves_and_refuses_0_plainly(staff_client, endpoint_factory):
    add_page = staff_client.get("/admin/webhooks/endpoint/add/").text
    assert "Max deliveries in flight" in add_page
    assert 'name="max_in_flight" value="32"' in add_page

    response = staff_client.post("/admin/webhooks/endpoint/add/", {**ENDPOINT_FORM, "max_in_flight": 8})
    assert response.status_code == 200  # the secret page
    endpoint = Endpoint.objects.get()
    assert endpoint.max_in_flight == 8

    change_url = f"/admin/webhooks/endpoint/{endpoint.pk}/change/"
    for value, message in [
        (0, "Allow at least 1 delivery in flight."),
        (1001, "At most 1000 deliveries in flight per endpoint."),
    ]:
        response = staff_client.post(change_url, {**ENDPOINT_FORM, "max_in_flight": value})
        assert response.status_code == 200
        assert message in response.text
    endpoint.refresh_from_db()
    assert endpoint.max_in_flight == 8

    response = staff_client.post(change_url, {**ENDPOINT_FORM, "max_in_flight": 100})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.max_in_flight == 100


def test_dead_letters_filter_by_category_and_bulk_retry_delivers(
    staff_client, client, receiver, endpoint_factory
):
    # given two dead letters of different categories
    endpoint_factory(user_id="shop1", max_attempts=1)
    receiver.script("/hook", Reply(status=404), Reply(status=500))
    post_callback(client, "shop1")
    run_worker()
    post_callback(client, "shop1")
    run_worker()
    assert sorted(DeadLetter.objects.values_list("error_category", flat=True)) == [
        "client_error",
        "server_error",
    ]
    # when filtering by category
    listing = staff_client.get("/admin/deadletter/deadletter/?error_category__exact=server_error")
    assert listing.status_code == 200
    server_error = DeadLetter.objects.get(error_category="server_error")
    client_error = DeadLetter.objects.get(error_category="client_error")
    assert f"/admin/deadletter/deadletter/{server_error.pk}/change/" in listing.text
    assert f"/admin/deadletter/deadletter/{client_error.pk}/change/" not in listing.text
    # and retrying the selection while the receiver answers 200
    response = staff_client.post(
        "/admin/deadletter/deadletter/",
        {"action": "retry_selected", "_selected_action": [server_error.pk]},
        follow=True,
    )
    assert "1 delivery sent back to the queue." in response.text
    run_worker()
    # then only that delivery is delivered
    assert Delivery.objects.get(pk=server_error.delivery_id).status == Delivery.Status.DELIVERED
    assert Delivery.objects.get(pk=client_error.delivery_id).status == Delivery.Status.DEAD


def test_delivery_page_shows_every_attempt(staff_client, client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1")
    receiver.script("/hook", Reply(status=503, body=b"try later"))
    post_callback(client, "shop1", stk_body())
    run_worker(until=lambda: Delivery.objects.get().status == Delivery.Status.DELIVERED)
    delivery = Delivery.objects.get()
    page = staff_client.get(f"/admin/delivery/delivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert "try later" in page.text
    assert "Failed; will try again" in page.text
    assert "Now: delivered" in page.text
    assert "ws_CO_191220191020363925" in page.text
    for path in ["/admin/webhooks/callback/", "/admin/delivery/delivery/", "/admin/webhooks/endpoint/"]:
        assert staff_client.get(path).status_code == 200

"""Support brings a merchant back from the admin: the circuit in words on every page support
reads, "Try again now", retry from the dead-letter queue behind an open circuit, and RQ's own
pages kept for superusers."""

import re

import pytest

from deadletter.models import DeadLetter
from delivery.models import Circuit, CircuitState, Delivery
from tests.helpers import post_callback
from tests.support import Reply, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def count(status: str) -> int:
    return Delivery.objects.filter(status=status).count()


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def shop_down(client, receiver, endpoint_factory, settings):
    """shop1's circuit opened after two dead deliveries; a third is held behind it."""
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.CIRCUIT_COOLDOWN_SECONDS = 600
    endpoint = endpoint_factory(user_id="shop1", max_attempts=1)
    receiver.default = Reply(status=503)
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    run_worker(until=lambda: count("dead") == 2)
    post_callback(client, "shop1")
    run_worker(until=lambda: count("held") == 1)
    return endpoint


def test_the_endpoint_list_page_and_dashboard_say_the_circuit_is_open_in_words(support_client, shop_down):
    listing = text_of(support_client.get("/admin/webhooks/endpoint/"))
    assert "Circuit open since" in listing
    assert "1 delivery held." in listing
    page = support_client.get(f"/admin/webhooks/endpoint/{shop_down.pk}/change/")
    assert "Next probe" in text_of(page)
    assert ">Try again now</button>" in page.content.decode()
    assert "Pause selected endpoints" not in page.content.decode()
    dashboard = support_client.get("/admin/dashboard/")
    body = dashboard.content.decode()
    assert f'href="/admin/webhooks/endpoint/{shop_down.pk}/change/"' in body
    assert 'data-user-id="shop1"' in body
    assert "Circuit open since" in text_of(dashboard)
    assert '<meta http-equiv="refresh"' in body


def test_the_held_deliverys_timeline_says_why_and_invents_no_next_attempt(support_client, shop_down):
    held = Delivery.objects.get(status="held")
    page = text_of(support_client.get(f"/admin/delivery/delivery/{held.pk}/change/"))
    assert "Now: held. Circuit open since" in page
    assert "held until the endpoint is resumed" not in page
    dead = Delivery.objects.filter(status="dead").first()
    page = text_of(support_client.get(f"/admin/delivery/delivery/{dead.pk}/change/"))
    assert "The shop's app answered 503" in page.replace("&#x27;", "'")
    assert "Technical detail" in page


def test_support_tries_again_now_and_every_held_and_retried_delivery_goes_out(
    support_client, shop_down, receiver
):
    changelist = "/admin/deadletter/deadletter/"
    letters = list(DeadLetter.objects.values_list("pk", flat=True))
    response = support_client.post(
        changelist, {"action": "retry_selected", "_selected_action": letters}, follow=True
    )
    said = text_of(response)
    assert "2 deliveries sent back to the queue." in said
    assert "Retried deliveries of shop1 wait, held: Circuit open since" in said
    assert "Try again now" in said
    run_worker(until=lambda: count("held") == 3)
    # still down: the button says why, and nothing is lost or charged
    response = support_client.post(f"/admin/webhooks/endpoint/{shop_down.pk}/do/try_now/", follow=True)
    said = text_of(response).replace("&#x27;", "'")
    assert "Tried shop1 again: still no answer (The shop's app answered 503)" in said, said[-3000:]
    assert count("held") == 3
    # the shop is back
    receiver.default = Reply(status=200)
    response = support_client.post(f"/admin/webhooks/endpoint/{shop_down.pk}/do/try_now/", follow=True)
    assert "Tried shop1 again: it answered. Its circuit is closed" in text_of(response).replace("&#x27;", "'")
    run_worker(until=lambda: count("delivered") == 3)
    shop_down.refresh_from_db()
    assert shop_down.circuit.state == CircuitState.CLOSED


def test_only_superusers_get_rqs_own_pages(support_client, staff_client):
    assert support_client.get("/admin/rq/").status_code == 403
    assert support_client.get("/admin/rq/queues/0/").status_code == 403
    assert staff_client.get("/admin/rq/").status_code == 200


def test_try_again_now_is_offered_only_when_the_circuit_is_open(support_client, endpoint_factory):
    endpoint = endpoint_factory(user_id="calm")
    page = support_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    assert ">Try again now</button>" not in page
    Circuit.objects.filter(pk=endpoint.pk).update(state=CircuitState.OPEN)
    page = support_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    assert ">Try again now</button>" in page

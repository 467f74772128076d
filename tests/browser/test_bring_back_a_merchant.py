"""The story of docs/admin.md, in a real browser at 1366x768: a Support-group user brings back a
merchant whose circuit opened, and sees every held and dead-lettered payment of it delivered once
its app (a real local receiver that first fails, then answers) is back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from delivery.models import CircuitState, Delivery
from tests.browser.conftest import log_in
from tests.daraja.admin.conftest import PASSWORD
from tests.helpers import post_callback
from tests.support import Reply, run_worker
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def count(status: str) -> int:
    return Delivery.objects.filter(endpoint__user_id="duka", status=status).count()


@pytest.fixture
def circuit_opened(client, receiver, endpoint_factory, settings):
    """duka's app went down: two payments dead-lettered, the circuit opened, two more held."""
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.CIRCUIT_COOLDOWN_SECONDS = 600  # no probe goes by itself while the test runs
    endpoint_factory(user_id="duka", max_attempts=1, url=receiver.url("/duka"))
    endpoint_factory(user_id="shop-ok", url=receiver.url("/ok"))
    receiver.script("/duka", *[Reply(status=503, body=b"maintenance")] * 3)
    post_callback(client, "duka")
    post_callback(client, "duka")
    post_callback(client, "shop-ok")
    run_worker(until=lambda: count("dead") == 2)
    post_callback(client, "duka")
    post_callback(client, "duka")
    run_worker(until=lambda: count("held") == 2)
    assert Endpoint.objects.get(user_id="duka").circuit.state == CircuitState.OPEN


def test_support_brings_back_a_merchant_whose_circuit_opened(
    live_server, page, screenshot, support_user, receiver, circuit_opened
):
    assert page.viewport_size == {"width": 1366, "height": 768}
    log_in(page, live_server, support_user.username, PASSWORD)

    # the dashboard names the merchant that needs attention, in words
    page.goto(f"{live_server.url}/admin/dashboard/")
    row = page.locator("table.daraja-attention tr[data-user-id=duka]")
    expect(row).to_contain_text("Circuit open since")
    expect(row).to_contain_text("2 deliveries held.")
    expect(page.locator("table.daraja-attention tr[data-user-id=shop-ok]")).to_have_count(0)

    # the dead letters go back to the queue; the page says plainly they wait behind the circuit
    page.goto(f"{live_server.url}/admin/deadletter/deadletter/?user_id=duka")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#result_list tbody tr").first).to_contain_text("The shop's app answered 503")
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "retry_selected")
    page.get_by_role("button", name="Go").click()
    messages = page.locator(".messagelist")
    expect(messages).to_contain_text("2 deliveries sent back to the queue.")
    expect(messages).to_contain_text("Retried deliveries of duka wait, held: Circuit open since")
    run_worker(until=lambda: count("held") == 4)

    # on the merchant's page: "Try again now" while it is still down says why, and loses nothing
    messages.get_by_role("link", name="Open duka").click()
    expect(page.locator("fieldset").first).to_contain_text("Circuit open since")
    page.get_by_role("button", name="Try again now").click()
    expect(messages).to_contain_text("Tried duka again: still no answer (The shop's app answered 503)")
    assert count("held") == 4 and count("dead") == 0
    screenshot("endpoint-circuit-open")

    # the merchant's app is back: one click sends everything it held
    receiver.default = Reply(status=200, body=b"ok")
    page.get_by_role("button", name="Try again now").click()
    expect(messages).to_contain_text("Tried duka again: it answered. Its circuit is closed")
    expect(page.get_by_role("button", name="Try again now")).to_have_count(0)
    run_worker(until=lambda: count("delivered") == 4)

    # every payment of the merchant shows delivered, and the dashboard has nothing left to say
    page.goto(f"{live_server.url}/admin/webhooks/callback/?user_id=duka")
    statuses = page.locator("#result_list tbody td.field-delivery_status")
    expect(statuses).to_have_count(4)
    for index in range(4):
        expect(statuses.nth(index)).to_have_text(re.compile(r"^\s*Delivered\s*$"))
    page.goto(f"{live_server.url}/admin/dashboard/")
    expect(page.locator("table.daraja-attention tr[data-user-id=duka]")).to_have_count(0)

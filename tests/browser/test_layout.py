"""Every page support uses fits a 1366x768 laptop (the last column visible without scrolling
sideways) and a 390 px phone (no page wider than the screen), measured in a real browser."""

from __future__ import annotations

import pytest

from deadletter.models import DeadLetter
from delivery.models import CircuitState, Delivery
from tests.browser.conftest import log_in
from tests.daraja.admin.conftest import PASSWORD
from tests.helpers import MPESA_PAYLOADS, post_callback, post_to
from tests.support import Reply, run_worker
from webhooks.models import Endpoint, ValidationExchange

pytestmark = pytest.mark.django_db(transaction=True)

FITS = """() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
})"""
LAST_COLUMN_RIGHT = """(selector) => {
    const cells = document.querySelectorAll(selector);
    return Math.max(...Array.from(cells, (cell) => cell.getBoundingClientRect().right));
}"""


@pytest.fixture
def busy_relay(client, receiver, endpoint_factory, settings):
    """A relay with some of everything: a long-named merchant whose circuit is open with deliveries
    held, dead letters with long errors, a delivered payment and a retried one."""
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.CIRCUIT_COOLDOWN_SECONDS = 600
    endpoint_factory(
        user_id="duka-la-mama-njeri-nairobi-cbd-branch-0042",
        max_attempts=1,
        url=receiver.url("/a-rather-long-path/for/the/merchants/own/webhook/receiver/endpoint"),
    )
    endpoint_factory(user_id="shop-ok", url=receiver.url("/ok"))
    receiver.script(
        "/a-rather-long-path/for/the/merchants/own/webhook/receiver/endpoint",
        *[Reply(status=503, body=b"<html><body>Service temporarily unavailable " + b"x" * 400)] * 50,
    )
    for user_id in ["shop-ok", "duka-la-mama-njeri-nairobi-cbd-branch-0042"] * 3:
        post_callback(client, user_id)
    run_worker(until=lambda: Delivery.objects.filter(status__in=["dead", "delivered"]).count() == 6)
    for _ in range(2):
        post_callback(client, "duka-la-mama-njeri-nairobi-cbd-branch-0042")
    run_worker(until=lambda: Delivery.objects.filter(status="held").count() == 2)
    validating = endpoint_factory(
        user_id="duka-la-mama-njeri-validates-its-payments-0043", validation_url=receiver.url("/validate")
    )
    receiver.script("/validate", Reply(body=b'{"ResultCode": "C2B00016", "ResultDesc": "Rejected"}'))
    validation = (MPESA_PAYLOADS / "c2b_validation.json").read_bytes()
    post_to(client, validating.inbound_path + "/c2b-validation", validation)
    endpoint = Endpoint.objects.get(user_id="duka-la-mama-njeri-nairobi-cbd-branch-0042")
    assert endpoint.circuit.state == CircuitState.OPEN
    assert Delivery.objects.filter(status="held").exists()
    return {
        "dead": DeadLetter.objects.first(),
        "held": Delivery.objects.filter(status="held").first(),
        "endpoint": endpoint,
        "validation": ValidationExchange.objects.get(),
    }


def pages(busy_relay) -> dict[str, tuple[str, str | None]]:
    """Page name → (path, selector of its last column's cells, or None)."""
    last = "#result_list tr > :last-child"
    dead, held, endpoint = busy_relay["dead"], busy_relay["held"], busy_relay["endpoint"]
    return {
        "payments": ("/admin/webhooks/callback/", last),
        "deliveries": ("/admin/delivery/delivery/", last),
        "dead letters": ("/admin/deadletter/deadletter/", last),
        "endpoints": ("/admin/webhooks/endpoint/", last),
        "dead delivery's timeline": (
            f"/admin/delivery/delivery/{dead.delivery_id}/change/",
            "table.daraja-timeline tr > :last-child",
        ),
        "held delivery's timeline": (
            f"/admin/delivery/delivery/{held.pk}/change/",
            "table.daraja-timeline tr > :last-child",
        ),
        "payment": (
            f"/admin/webhooks/callback/{dead.callback_id}/change/",
            "table.daraja-timeline tr > :last-child",
        ),
        "dead letter": (f"/admin/deadletter/deadletter/{dead.pk}/change/", None),
        "endpoint": (f"/admin/webhooks/endpoint/{endpoint.pk}/change/", None),
        "dashboard": ("/admin/dashboard/", "table.daraja-attention tr > :last-child"),
        "home": ("/admin/", None),
        "c2b validations": ("/admin/webhooks/validationexchange/", last),
        "c2b validation": (f"/admin/webhooks/validationexchange/{busy_relay['validation'].pk}/change/", None),
        "merchants": ("/admin/webhooks/merchant/", last),
    }


def test_at_1366_every_page_shows_its_last_column_without_scrolling_sideways(
    live_server, page, support_user, busy_relay
):
    log_in(page, live_server, support_user.username, PASSWORD)
    problems = []
    for name, (path, last_column) in pages(busy_relay).items():
        page.goto(f"{live_server.url}{path}")
        size = page.evaluate(FITS)
        if size["scrollWidth"] > size["innerWidth"]:
            problems.append(f"{name}: page {size['scrollWidth']} px wide in {size['innerWidth']} px")
        if last_column:
            right = page.evaluate(LAST_COLUMN_RIGHT, last_column)
            if right > size["innerWidth"]:
                problems.append(f"{name}: last column ends at {right:.0f} px, past {size['innerWidth']} px")
    assert not problems, problems


WIDEST_TABLE_RIGHT = """() => Math.max(0, ...Array.from(
    document.querySelectorAll("table.daraja-timeline, table.daraja-attention, #result_list, svg"),
    (table) => table.getBoundingClientRect().right,
))"""
# Pages read on a phone: their tables must fit too (not only scroll inside a box).
USABLE_ON_A_PHONE = (
    "dead letters",
    "dead delivery's timeline",
    "held delivery's timeline",
    "payment",
    "dashboard",
)


def test_at_390_no_page_is_wider_than_the_phone(live_server, phone_page, support_user, busy_relay):
    log_in(phone_page, live_server, support_user.username, PASSWORD)
    problems = []
    for name, (path, _) in pages(busy_relay).items():
        phone_page.goto(f"{live_server.url}{path}")
        size = phone_page.evaluate(FITS)
        if size["scrollWidth"] > size["innerWidth"]:
            problems.append(f"{name}: page {size['scrollWidth']} px wide in {size['innerWidth']} px")
        if name in USABLE_ON_A_PHONE:
            right = phone_page.evaluate(WIDEST_TABLE_RIGHT)
            if right > size["innerWidth"]:
                problems.append(f"{name}: a table ends at {right:.0f} px, past {size['innerWidth']} px")
    assert not problems, problems

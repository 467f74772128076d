"""The batch engine against a real database, Redis and receiver: claim, send and record in batches."""

import threading
import time

import pytest
from django.utils import timezone

from delivery import engine
from delivery.engine import _InFlight, _record_of, endpoint_retry_settings
from delivery.lifecycle import claim_due, record_attempts
from delivery.models import Delivery, DeliveryAttempt
from delivery.transport import TransportResult
from tests.helpers import post_callback
from tests.support import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_drain_delivers_a_backlog_in_a_few_claims_with_one_attempt_row_each(
    client, receiver, endpoint_factory, settings
):
    settings.DELIVERY_CLAIM_BATCH = 16
    endpoint_factory(user_id="shop1", max_in_flight=64)
    for _ in range(60):
        post_callback(client, "shop1")
    summary = engine.drain()
    assert (summary.claimed, summary.sent, summary.recorded) == (60, 60, 60)
    assert summary.outcomes == {"delivered": 60}
    assert Delivery.objects.filter(status="delivered").count() == 60
    assert DeliveryAttempt.objects.count() == 60 == len(receiver.requests_to("/hook"))
    assert len({r.headers["webhook-id"] for r in receiver.requests_to("/hook")}) == 60


def test_a_row_the_database_refuses_costs_only_itself(client, receiver, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    for _ in range(3):
        post_callback(client, "shop1")
    claims = claim_due(limit=10)
    retry = endpoint_retry_settings(endpoint)
    records = [
        _record_of(_InFlight(claim, timezone.now(), retry), TransportResult(3, 200)) for claim in claims
    ]
    # one of them was taken by another worker meanwhile (its lease ran out)
    Delivery.objects.filter(pk=claims[1].delivery_id).update(lease_token="someone-else")
    recorded = record_attempts(records)
    assert [r.claim.delivery_id for r in recorded] == [claims[0].delivery_id, claims[2].delivery_id]
    assert DeliveryAttempt.objects.count() == 2
    assert Delivery.objects.filter(status="delivered").count() == 2


def test_a_hanging_merchant_holds_its_own_slots_only(client, receiver, endpoint_factory, settings):
    # given a merchant whose app hangs for 4 s and one whose app answers at once, 8 deliveries each
    settings.DELIVERY_CLAIM_BATCH = 64
    endpoint_factory(user_id="slow", url=receiver.url("/slow"), max_in_flight=2, timeout_seconds=5)
    endpoint_factory(user_id="fast", url=receiver.url("/fast"), max_in_flight=2)
    receiver.script("/slow", *[Reply(delay=4)] * 8)
    for _ in range(8):
        post_callback(client, "slow")
        post_callback(client, "fast")
    started = time.monotonic()
    finished = threading.Event()

    def drain():
        from django.db import connections

        try:
            engine.drain()
        finally:
            connections.close_all()
            finished.set()

    threading.Thread(target=drain, daemon=True).start()
    # then the fast merchant's 8 are delivered while the slow one's first two are still hanging
    while len(receiver.requests_to("/fast")) < 8 and time.monotonic() - started < 10:
        time.sleep(0.05)
    assert len(receiver.requests_to("/fast")) == 8
    assert time.monotonic() - started < 3.5
    assert len(receiver.requests_to("/slow")) == 2  # its cap: 2 at a time
    assert finished.wait(60)
    assert Delivery.objects.filter(status="delivered").count() == 16


def test_a_warm_shutdown_stops_claiming_and_lets_sends_in_flight_finish(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", max_in_flight=2)
    receiver.script("/hook", *[Reply(delay=1.0)] * 2)
    for _ in range(5):
        post_callback(client, "shop1")

    def stop_once_two_are_in_flight():  # as SIGTERM would, while the receiver holds both
        deadline = time.monotonic() + 20
        while len(receiver.requests_to("/hook")) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.stop_claiming.set()

    threading.Thread(target=stop_once_two_are_in_flight, daemon=True).start()
    try:
        summary = engine.drain()
    finally:
        engine.stop_claiming.clear()
    # the two in flight finished and were recorded; the other three wait, unclaimed and uncharged
    assert (summary.sent, summary.recorded) == (2, 2)
    assert Delivery.objects.filter(status="delivered").count() == 2
    assert Delivery.objects.filter(status="pending", attempt_count=0).count() == 3

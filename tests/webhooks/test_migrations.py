"""The upgrade to merchants with destinations, on a populated database: every endpoint becomes a merchant
with one destination receiving every kind, and nothing a merchant or M-Pesa relies on changes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from delivery.models import CircuitState, Delivery
from tests.helpers import stk_body
from webhooks.models import Callback, Endpoint, Merchant

BEFORE = [("webhooks", "0005_callback_kinds"), ("delivery", "0005_attempt_outcome_probe_failed")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_every_endpoint_becomes_a_merchant_with_one_destination_and_keeps_its_door_and_history(client):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    before = [node for node in latest if node[0] not in {"webhooks", "delivery"}] + BEFORE
    # given the schema before merchants, with two endpoints, their callbacks and deliveries
    try:
        old = migrate(before).loader.project_state(before).apps
        check_upgrade(old, client)
    finally:
        migrate(latest)  # the next tests need the schema as it is


def check_upgrade(old, client) -> None:
    OldEndpoint = old.get_model("webhooks", "Endpoint")
    OldCallback = old.get_model("webhooks", "Callback")
    OldDelivery = old.get_model("delivery", "Delivery")
    shop = OldEndpoint.objects.create(
        user_id="shop-old",
        inbound_token="tok-shop-old-0123456789abcdef",
        allow_legacy_path=True,
        url="https://shop.example/hook",
        signing_secret="whsec_c2hvcC1vbGQtc2VjcmV0",
        max_attempts=7,
        circuit_state=CircuitState.OPEN,
        consecutive_failures=5,
    )
    other = OldEndpoint.objects.create(
        user_id="other-old", inbound_token="tok-other-old-0123456789abcd", url="https://other.example/hook"
    )
    for number, endpoint in enumerate([shop, shop, other]):
        callback = OldCallback.objects.create(
            endpoint=endpoint,
            raw_body=b"{}",
            payload={},
            received_at="2026-12-01T10:00:00Z",
            kind="stk_callback",
        )
        OldDelivery.objects.create(
            callback=callback,
            endpoint=endpoint,
            webhook_id=f"msg_old_{number}",
            status="delivered",
            priority=5,
            priority_reason="endpoint_default",
        )

    # when the migrations run
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # then each endpoint is its own merchant's one destination, taking every kind
    merchant = Merchant.objects.get(user_id="shop-old")
    assert (merchant.inbound_token, merchant.allow_legacy_path) == ("tok-shop-old-0123456789abcdef", True)
    assert not Merchant.objects.get(user_id="other-old").allow_legacy_path
    destination = Endpoint.objects.get(pk=shop.pk)
    assert (destination.merchant_id, destination.name, destination.kinds) == (merchant.pk, "main", [])
    assert destination.signing_secret == "whsec_c2hvcC1vbGQtc2VjcmV0"
    circuit = destination.circuit
    assert (destination.max_attempts, circuit.state, circuit.consecutive_failures) == (
        7,
        CircuitState.OPEN,
        5,
    )
    # callbacks moved to their merchants; deliveries and their webhook ids untouched
    assert Callback.objects.filter(merchant=merchant).count() == 2
    assert Callback.objects.filter(merchant__user_id="other-old").count() == 1
    assert sorted(Delivery.objects.filter(endpoint=destination).values_list("webhook_id", flat=True)) == [
        "msg_old_0",
        "msg_old_1",
    ]
    # and the inbound URL registered with M-Pesa, legacy path included, still takes callbacks
    for path in ("/webhook/shop-old/tok-shop-old-0123456789abcdef", "/webhook/shop-old"):
        response = client.generic("POST", path, stk_body(f"ws_CO_after_{len(path)}"), "application/json")
        assert response.status_code == 200, response.content
    assert Delivery.objects.filter(endpoint=destination).count() == 4

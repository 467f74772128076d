"""/health and /health/queue against a real Redis, with and without it."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from daraja.api_keys import api_key_create
from deadletter.models import DeadLetter
from delivery.models import Circuit, CircuitState, Delivery
from tests.helpers import post_callback
from tests.support import free_port
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def test_health_is_ok(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["service"] == "webhook-service"
    assert body["timestamp"].endswith("Z")


def test_queue_health_counts_waiting_per_priority_and_failed(client, endpoint_factory, settings):
    # given three callbacks waiting (one high, two normal) and one dead letter
    settings.ENABLE_TEST_ENDPOINTS = True
    endpoint_factory(user_id="shop1")
    client.post("/test/priority/shop1/high")
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    dead = Delivery.objects.order_by("pk").last()
    dead.status = Delivery.Status.DEAD
    dead.save()
    DeadLetter.objects.create(
        delivery=dead,
        endpoint_id=dead.endpoint_id,
        callback_id=dead.callback_id,
        error_category="client_error",
        last_error="HTTP 404",
        last_response_status=404,
        attempts=1,
        dead_at=timezone.now(),
    )
    # when
    response = client.get("/health/queue")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["service"] == "webhook-service"
    queue = body["queue"]
    assert queue["name"] == "webhook-delivery"
    assert (queue["waiting"], queue["active"], queue["failed"], queue["completed"]) == (3, 0, 1, 0)
    assert queue["priorities"]["high"]["waiting"] == 1
    assert queue["priorities"]["normal"]["waiting"] == 2
    assert queue["priorities"]["urgent"]["waiting"] == 0
    # and the wake-ups: one drain job per priority however many deliveries wait
    assert (queue["priorities"]["high"]["jobs"], queue["priorities"]["normal"]["jobs"]) == (1, 1)
    assert queue["scheduled_retries"] == 0
    assert queue["dead_letters"] == 1
    assert body["redis"] == {"connected": True}


def test_queue_health_is_unhealthy_with_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    response = client.get("/health/queue")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["redis"] == {"connected": False}
    assert body["queue"]["name"] == "webhook-delivery"
    # the deliveries still count (the database is the queue); the workers cannot be known
    assert body["queue"]["waiting"] == 0
    assert body["workers"] is None
    # what is down is for staff and keys (below), not for anyone
    assert "errors" not in body


PUBLIC_KEYS = {"status", "service", "timestamp", "queue", "workers", "redis", "database"}


@pytest.fixture
def two_merchants_needing_attention(client, endpoint_factory):
    for user_id in ("shop1", "shop2"):
        endpoint_factory(user_id=user_id)
        post_callback(client, user_id)
    Endpoint.objects.update(paused_reason="10.0.0.7:8080 refused")
    Circuit.objects.update(state=CircuitState.OPEN, consecutive_failures=5)
    Delivery.objects.update(status=Delivery.Status.HELD)


def test_the_public_sees_the_status_and_counts_only(client, two_merchants_needing_attention):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer drk_0000_wrong"}, {"HTTP_AUTHORIZATION": "Bearer x"}):
        response = client.get("/health/queue", **headers)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == PUBLIC_KEYS
        assert (body["status"], body["redis"], body["queue"]["waiting"]) == (
            "healthy",
            {"connected": True},
            0,
        )
        assert b"shop1" not in response.content and b"10.0.0.7" not in response.content


def test_staff_the_metrics_token_and_operator_keys_see_every_endpoint_needing_attention(
    client, two_merchants_needing_attention, settings
):
    settings.METRICS_BEARER_TOKEN = "scrape-secret-123"
    _, operator_key = api_key_create(name="ops")
    staff = User.objects.create_user("support", password="pw", is_staff=True)
    staff_client = type(client)()
    staff_client.force_login(staff)
    for caller, headers in (
        (staff_client, {}),
        (client, {"HTTP_AUTHORIZATION": "Bearer scrape-secret-123"}),
        (client, {"HTTP_AUTHORIZATION": f"Bearer {operator_key}"}),
    ):
        body = caller.get("/health/queue", **headers).json()
        rows = body["endpoints"]["needing_attention"]
        assert [(row["user_id"], row["held"]) for row in rows] == [("shop1", 1), ("shop2", 1)]


def test_a_merchant_key_sees_its_own_endpoint_only(client, two_merchants_needing_attention):
    _, key = api_key_create(name="shop1 back office", user_id="shop1")
    response = client.get("/health/queue", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert [row["user_id"] for row in response.json()["endpoints"]["needing_attention"]] == ["shop1"]
    assert b"shop2" not in response.content


def test_what_is_down_is_named_to_staff_and_keys(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    _, key = api_key_create(name="ops")
    body = client.get("/health/queue", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert body["status"] == "unhealthy"
    assert body["errors"] == ["redis: unreachable"]

"""/health and /health/queue against a real Redis, with and without it."""

import pytest
from django.utils import timezone

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.helpers import post_callback
from tests.support import free_port

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
    assert any(error.startswith("redis:") for error in body["errors"])

"""The whole relay for real: inbound view → database → Redis → RQ worker → HTTP receiver."""

import pytest
from standardwebhooks.webhooks import Webhook

from deadletter.models import DeadLetter
from delivery.engine import deliver_one
from delivery.models import Delivery, DeliveryAttempt
from delivery.services import dead_letters_retry
from tests.helpers import post_callback, stk_body
from tests.support import Reply, free_port, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def only_delivery() -> Delivery:
    return Delivery.objects.get()


def attempts_of(delivery: Delivery) -> list[DeliveryAttempt]:
    return list(delivery.attempts.order_by("attempt_number"))


def test_delivered_on_first_try_with_a_signature_standard_webhooks_verifies(
    client, receiver, endpoint_factory
):
    # given
    endpoint = endpoint_factory(user_id="shop1", default_priority=10)
    body = stk_body("ws_CO_first_try")
    # when
    response = post_callback(client, "shop1", body)
    run_worker()
    # then
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    [request] = receiver.requests_to("/hook")
    assert request.body == body  # byte for byte, spacing included
    assert Webhook(endpoint.signing_secret).verify(request.body, request.headers, json_parse=False) is None
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Daraja-Attempt"] == "1"
    assert request.headers["X-Daraja-Priority"] == "high"
    delivery = only_delivery()
    assert request.headers["webhook-id"] == delivery.webhook_id
    assert delivery.status == Delivery.Status.DELIVERED
    [attempt] = attempts_of(delivery)
    assert (attempt.attempt_number, attempt.response_status, attempt.outcome) == (1, 200, "delivered")
    assert attempt.error_category == ""
    assert attempt.response_excerpt == '{"ok": true}'


def test_a_signature_made_with_another_secret_does_not_verify(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1")
    post_callback(client, "shop1")
    run_worker()
    [request] = receiver.requests_to("/hook")
    other = Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
    with pytest.raises(Exception, match="signature"):
        other.verify(request.body, request.headers)


def test_server_error_is_retried_after_the_configured_delay_then_delivered(
    client, receiver, endpoint_factory
):
    # given a receiver that fails once
    endpoint_factory(user_id="shop1", initial_delay_seconds=0.5)
    receiver.script("/hook", Reply(status=500, body=b"boom"))
    # when
    post_callback(client, "shop1")
    run_worker(until=lambda: only_delivery().status == Delivery.Status.DELIVERED)
    # then
    delivery = only_delivery()
    first, second = attempts_of(delivery)
    assert (first.attempt_number, first.response_status, first.error_category) == (1, 500, "server_error")
    assert first.outcome == DeliveryAttempt.Outcome.RETRY_SCHEDULED
    assert first.response_excerpt == "boom"
    planned = (first.next_attempt_at - first.started_at).total_seconds()
    assert 0.5 <= planned < 1.0
    assert (second.attempt_number, second.response_status, second.outcome) == (2, 200, "delivered")
    hits = receiver.requests_to("/hook")
    assert hits[1].at - hits[0].at >= 0.5
    assert hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]
    assert [h.headers["X-Daraja-Attempt"] for h in hits] == ["1", "2"]


def test_failing_every_time_makes_max_attempts_then_dead_letters_then_dlq_retry_delivers(
    client, receiver, endpoint_factory
):
    # given a receiver that always answers 500, three attempts, 0.2 s then 0.4 s apart
    endpoint_factory(user_id="shop1", max_attempts=3, initial_delay_seconds=0.2, backoff_multiplier=2)
    receiver.default = Reply(status=500)
    # when
    post_callback(client, "shop1")
    run_worker(until=lambda: only_delivery().status == Delivery.Status.DEAD)
    # then exactly three attempts, backing off, and one dead letter
    delivery = only_delivery()
    attempts = attempts_of(delivery)
    assert [a.attempt_number for a in attempts] == [1, 2, 3]
    assert [a.outcome for a in attempts] == ["retry_scheduled", "retry_scheduled", "dead_lettered"]
    delays = [(a.next_attempt_at - a.started_at).total_seconds() for a in attempts[:2]]
    assert 0.2 <= delays[0] < 0.4 and 0.4 <= delays[1] < 0.7
    dead_letter = DeadLetter.objects.get()
    assert (dead_letter.error_category, dead_letter.attempts, dead_letter.last_response_status) == (
        "server_error",
        3,
        500,
    )
    assert len(receiver.requests_to("/hook")) == 3

    # when the receiver recovers and support retries the dead letter
    receiver.default = Reply(status=200)
    assert dead_letters_retry(dead_letter_ids=[dead_letter.pk]) == 1
    run_worker(until=lambda: only_delivery().status == Delivery.Status.DELIVERED)
    # then a fourth attempt, in a new cycle, with the same webhook-id
    delivery.refresh_from_db()
    assert (delivery.attempt_count, delivery.cycle, delivery.cycle_attempt_count) == (4, 2, 1)
    hits = receiver.requests_to("/hook")
    assert len(hits) == 4
    assert len({h.headers["webhook-id"] for h in hits}) == 1
    dead_letter.refresh_from_db()
    assert dead_letter.resolution == DeadLetter.Resolution.RETRIED
    assert dead_letters_retry(dead_letter_ids=[dead_letter.pk]) == 0  # already resolved


def test_not_found_is_dead_lettered_after_one_attempt(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", max_attempts=5)
    receiver.default = Reply(status=404)
    post_callback(client, "shop1")
    run_worker()
    [attempt] = attempts_of(only_delivery())
    assert (attempt.error_category, attempt.outcome) == ("client_error", "dead_lettered")
    assert only_delivery().status == Delivery.Status.DEAD
    assert DeadLetter.objects.get().error_category == "client_error"


@pytest.mark.parametrize("status", [401, 403])
def test_authentication_failures_give_up_at_once(client, receiver, endpoint_factory, status):
    endpoint_factory(user_id="shop1", max_attempts=5)
    receiver.default = Reply(status=status)
    post_callback(client, "shop1")
    run_worker()
    [attempt] = attempts_of(only_delivery())
    assert (attempt.error_category, attempt.outcome) == ("authentication", "dead_lettered")


def test_redirects_are_not_followed_and_dead_letter(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", max_attempts=5)
    receiver.default = Reply(status=301, headers={"Location": receiver.url("/elsewhere")})
    post_callback(client, "shop1")
    run_worker()
    [attempt] = attempts_of(only_delivery())
    assert (attempt.response_status, attempt.error_category) == (301, "redirect")
    assert receiver.requests_to("/elsewhere") == []


def test_timeout_lands_in_the_timeout_category(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", max_attempts=1, timeout_seconds=0.3)
    receiver.default = Reply(delay=1.5)
    post_callback(client, "shop1")
    run_worker()
    [attempt] = attempts_of(only_delivery())
    assert (attempt.error_category, attempt.response_status, attempt.outcome) == (
        "timeout",
        None,
        "dead_lettered",
    )
    assert 250 <= attempt.duration_ms < 1500


def test_connection_refused_lands_in_the_network_category_and_is_retried(client, endpoint_factory):
    endpoint_factory(user_id="shop1", url=f"http://127.0.0.1:{free_port()}/hook", max_attempts=2)
    post_callback(client, "shop1")
    run_worker(until=lambda: only_delivery().status == Delivery.Status.DEAD)
    attempts = attempts_of(only_delivery())
    assert [a.error_category for a in attempts] == ["network", "network"]
    assert [a.outcome for a in attempts] == ["retry_scheduled", "dead_lettered"]
    assert "refused" in attempts[0].error_message.lower()


def test_rate_limited_honours_retry_after(client, receiver, endpoint_factory):
    # given backoff alone would retry after 0.05 s, but the receiver asks for 1 s
    endpoint_factory(user_id="shop1", initial_delay_seconds=0.05)
    receiver.script("/hook", Reply(status=429, headers={"Retry-After": "1"}))
    # when
    post_callback(client, "shop1")
    run_worker(until=lambda: only_delivery().status == Delivery.Status.DELIVERED)
    # then
    first, second = attempts_of(only_delivery())
    assert (first.error_category, second.outcome) == ("rate_limited", "delivered")
    assert 1.0 <= (first.next_attempt_at - first.started_at).total_seconds() < 1.5
    hits = receiver.requests_to("/hook")
    assert hits[1].at - hits[0].at >= 1.0


def test_retry_after_is_capped_at_the_endpoints_max_delay(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", initial_delay_seconds=0.05, max_delay_seconds=0.3)
    receiver.script("/hook", Reply(status=429, headers={"Retry-After": "3600"}))
    post_callback(client, "shop1")
    run_worker(until=lambda: only_delivery().status == Delivery.Status.DELIVERED)
    first, _ = attempts_of(only_delivery())
    assert (first.next_attempt_at - first.started_at).total_seconds() < 0.5


def test_urgent_high_normal_low_queued_while_no_worker_runs_are_delivered_in_priority_order(
    client, receiver, endpoint_factory, settings
):
    # given callbacks queued lowest first, while no worker runs
    settings.ENABLE_TEST_ENDPOINTS = True
    endpoint_factory(user_id="shop1")
    for level in ["low", "normal", "high", "urgent", "low", "urgent"]:
        assert client.post(f"/test/priority/shop1/{level}").status_code == 200
    assert len(receiver.requests) == 0
    # when one worker starts, sending one delivery at a time (so arrival order is send order)
    settings.DELIVERY_WORKER_CONCURRENCY = 1
    run_worker()
    # then urgent work went first, low last
    order = [r.headers["X-Daraja-Priority"] for r in receiver.requests_to("/hook")]
    assert order == ["urgent", "urgent", "high", "normal", "low", "low"]


def test_a_job_for_a_delivered_delivery_does_nothing(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1")
    post_callback(client, "shop1")
    run_worker()
    assert deliver_one(only_delivery().pk) == "skipped"
    assert len(receiver.requests_to("/hook")) == 1
    assert only_delivery().attempts.count() == 1


def test_a_paused_endpoint_keeps_callbacks_and_delivers_them_when_resumed(client, receiver, endpoint_factory):
    from webhooks.services import endpoint_set_active

    endpoint = endpoint_factory(user_id="shop1", is_active=False)
    assert post_callback(client, "shop1").status_code == 200
    run_worker()
    assert receiver.requests == []
    assert only_delivery().status == Delivery.Status.PENDING

    endpoint_set_active(endpoint=endpoint, active=True)
    run_worker()
    assert len(receiver.requests_to("/hook")) == 1
    assert only_delivery().status == Delivery.Status.DELIVERED

"""/metrics in process: counters (settling, batches, races, pruning), gauges, Redis down, access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from redis import Redis

from daraja.metrics.counters import ATTEMPTS, CALLBACKS, fold_all
from daraja.metrics.folding import fold_new_rows, read_totals
from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from delivery.queues import redis_connection
from tests.ops import rows
from tests.ops.live import parse_metrics, value
from tests.support import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def settle_now(settings):
    settings.METRICS_SETTLE_SECONDS = 0


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(response.content.decode())


def test_counters_and_histograms_add_up(client, endpoint_factory, settle_now):
    # given two callbacks: one delivered after a retry, one dead-lettered at once; one repeat absorbed
    endpoint = endpoint_factory()
    first = rows.callback(endpoint, received_at=timezone.now() - timedelta(seconds=10), duplicate_count=1)
    retried = rows.delivery(first)
    rows.attempt(retried, 1, outcome="retry_scheduled", error_category="timeout", duration_ms=5000)
    rows.attempt(retried, 2, started_at=first.received_at + timedelta(seconds=3), duration_ms=400)
    second = rows.callback(endpoint, kind="b2c_result")
    dead = rows.delivery(second, status=Delivery.Status.DEAD)
    rows.attempt(dead, 1, outcome="dead_lettered", error_category="client_error", duration_ms=40)
    rows.dead_letter(dead)
    # when
    samples = scrape(client)
    # then
    assert value(samples, "daraja_callbacks_received_total", kind="stk_callback") == 1
    assert value(samples, "daraja_callbacks_received_total", kind="b2c_result") == 1
    assert value(samples, "daraja_callback_duplicates_total") == 1
    assert value(samples, "daraja_delivery_attempts_total", outcome="delivered", error_category="none") == 1
    assert (
        value(samples, "daraja_delivery_attempts_total", outcome="retry_scheduled", error_category="timeout")
        == 1
    )
    assert (
        value(
            samples, "daraja_delivery_attempts_total", outcome="dead_lettered", error_category="client_error"
        )
        == 1
    )
    duration = "daraja_delivery_attempt_duration_seconds"
    assert [value(samples, f"{duration}_bucket", le=le) for le in ("0.05", "0.5", "2.5", "5", "+Inf")] == [
        1,
        2,
        2,
        3,
        3,
    ]
    assert value(samples, f"{duration}_sum") == pytest.approx(5.44)
    end_to_end = "daraja_delivery_end_to_end_seconds"
    # received at T, second attempt started T+3 s and took 0.4 s: 3.4 s end to end
    assert value(samples, f"{end_to_end}_count") == 1
    assert value(samples, f"{end_to_end}_sum") == pytest.approx(3.4, abs=0.01)
    assert value(samples, f"{end_to_end}_bucket", le="2.5") == 0
    assert value(samples, f"{end_to_end}_bucket", le="5") == 1
    assert value(samples, "daraja_deliveries", status="delivered") == 1
    assert value(samples, "daraja_deliveries", status="dead") == 1
    assert value(samples, "daraja_dead_letters_open", error_category="server_error") == 1
    assert value(samples, "daraja_endpoints", state="active", circuit_state="closed") == 1
    assert value(samples, "daraja_merchants") == 1


def test_only_the_first_successful_attempt_of_a_delivery_counts_end_to_end(
    client, endpoint_factory, settle_now
):
    endpoint = endpoint_factory()
    sent_twice = rows.delivery(rows.callback(endpoint, received_at=timezone.now() - timedelta(hours=2)))
    rows.attempt(sent_twice, 1, started_at=sent_twice.callback.received_at + timedelta(seconds=1))
    rows.attempt(sent_twice, 2, started_at=timezone.now())  # a later re-send, two hours on
    samples = scrape(client)
    assert value(samples, "daraja_delivery_attempts_total", outcome="delivered", error_category="none") == 2
    assert value(samples, "daraja_delivery_end_to_end_seconds_count") == 1
    assert value(samples, "daraja_delivery_end_to_end_seconds_sum") == pytest.approx(1.1, abs=0.01)


def test_a_row_is_counted_once_it_has_settled(client, endpoint_factory, settings):
    # given the default settle time and an attempt written just now
    settings.METRICS_SETTLE_SECONDS = 15
    endpoint = endpoint_factory()
    old = rows.callback(endpoint, received_at=timezone.now() - timedelta(minutes=5))
    rows.attempt(rows.delivery(old), 1)
    # when / then: the callback (received 5 minutes ago) counts; the attempt (created now) does not yet
    samples = scrape(client)
    assert value(samples, "daraja_callbacks_received_total", kind="stk_callback") == 1
    assert value(samples, "daraja_delivery_attempt_duration_seconds_count") == 0
    # ... and it counts at the first scrape after it has settled
    fold_all(redis_connection(), now=timezone.now() + timedelta(seconds=16))
    assert value(scrape(client), "daraja_delivery_attempt_duration_seconds_count") == 1


def test_an_unsettled_row_holds_back_the_rows_after_it(endpoint_factory, settings):
    # given three callbacks whose middle one is still inside the settle time (a late commit, say)
    settings.METRICS_SETTLE_SECONDS = 60
    endpoint = endpoint_factory()
    now = timezone.now()
    for received in (now - timedelta(minutes=5), now, now - timedelta(minutes=5)):
        rows.callback(endpoint, received_at=received)
    redis = redis_connection()
    # when
    fold_new_rows(CALLBACKS, redis, now=now)
    # then only the first is counted: the third waits behind the unsettled second
    _, totals = read_totals(CALLBACKS, redis)
    assert totals == {"kind|stk_callback": 1}
    fold_new_rows(CALLBACKS, redis, now=now + timedelta(minutes=2))
    assert read_totals(CALLBACKS, redis)[1] == {"kind|stk_callback": 3}


def test_a_cold_start_catches_up_one_batch_per_scrape(client, endpoint_factory, settle_now, settings):
    settings.METRICS_FOLD_BATCH = 2
    endpoint = endpoint_factory()
    for _ in range(5):
        rows.callback(endpoint)
    counted = [
        value(scrape(client), "daraja_callbacks_received_total", kind="stk_callback") for _ in range(4)
    ]
    assert counted == [2, 4, 5, 5]


def test_two_processes_folding_at_once_count_each_row_once(endpoint_factory, settle_now):
    # given another process that folds the same rows while this one is half-way through
    endpoint = endpoint_factory()
    rows.attempt(rows.delivery(rows.callback(endpoint)), 1)
    redis = redis_connection()
    real_fold = ATTEMPTS.fold

    def fold_while_another_process_folds(new_rows):
        increments = real_fold(new_rows)
        other = Redis.from_url(settings.REDIS_URL)  # its own connection, as another process has
        assert fold_new_rows(ATTEMPTS, other, now=timezone.now()) > 0
        return increments

    racing = type(ATTEMPTS)(
        ATTEMPTS.name,
        ATTEMPTS.model,
        ATTEMPTS.time_field,
        fold_while_another_process_folds,
        ATTEMPTS.settle_seconds,
    )
    # when
    assert fold_new_rows(racing, redis, now=timezone.now()) == 0  # lost the race: wrote nothing
    # then
    _, totals = read_totals(ATTEMPTS, redis)
    assert totals["attempt|delivered|none"] == 1
    assert totals["duration|count"] == 1


def test_counters_never_go_down_when_old_rows_are_pruned(client, endpoint_factory, settle_now):
    from django.core.management import call_command

    endpoint = endpoint_factory()
    old = rows.callback(endpoint, received_at=rows.days_ago(40), duplicate_count=2)
    rows.attempt(rows.delivery(old), 1)
    before = scrape(client)
    call_command("prune", "--older-than", "30")
    after = scrape(client)
    assert DeliveryAttempt.objects.count() == 0
    for name, labels in [
        ("daraja_callbacks_received_total", {"kind": "stk_callback"}),
        ("daraja_callback_duplicates_total", {}),
        ("daraja_delivery_attempts_total", {"outcome": "delivered", "error_category": "none"}),
        ("daraja_delivery_attempt_duration_seconds_count", {}),
    ]:
        assert value(before, name, **labels) == value(after, name, **labels) > 0


def test_duplicates_of_callbacks_inside_the_window_are_counted_live(client, endpoint_factory, settle_now):
    # given an old callback (past the duplicate window: final) and a recent one that gains a repeat later
    endpoint = endpoint_factory()
    rows.callback(endpoint, received_at=rows.days_ago(10), duplicate_count=3)
    recent = rows.callback(endpoint, duplicate_count=1)
    assert value(scrape(client), "daraja_callback_duplicates_total") == 4
    # when the recent one is repeated again
    type(recent).objects.filter(pk=recent.pk).update(duplicate_count=2)
    # then
    assert value(scrape(client), "daraja_callback_duplicates_total") == 5


@pytest.mark.django_db(transaction=True)  # jobs are queued on commit
def test_queue_gauges_count_deliveries_and_wakeups_and_workers_come_from_redis(
    client, endpoint_factory, settings
):
    from tests.helpers import post_callback

    settings.ENABLE_TEST_ENDPOINTS = True
    endpoint_factory(user_id="shop1")
    client.post("/test/priority/shop1/urgent")
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    samples = scrape(client)
    depths = {
        queue: value(samples, "daraja_queue_depth", queue=queue)
        for queue in ("urgent", "high", "normal", "low")
    }
    assert depths == {"urgent": 1, "high": 0, "normal": 2, "low": 0}
    # the wake-ups: one drain job per priority however many deliveries wait
    wakeups = {
        queue: value(samples, "daraja_queue_wakeups_waiting", queue=queue) for queue in ("urgent", "normal")
    }
    assert wakeups == {"urgent": 1, "normal": 1}
    assert value(samples, "daraja_deliveries", status="pending") == 3
    assert value(samples, "daraja_workers") == 0
    assert value(samples, "daraja_oldest_due_delivery_seconds") >= 0


def test_the_oldest_due_delivery_is_measured_from_when_it_became_due(client, endpoint_factory):
    endpoint = endpoint_factory()
    waiting = rows.delivery(rows.callback(endpoint), status=Delivery.Status.PENDING)
    Delivery.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    later = rows.delivery(rows.callback(endpoint), status=Delivery.Status.RETRYING)
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    assert 590 < value(scrape(client), "daraja_oldest_due_delivery_seconds") < 700


def test_redis_down_leaves_out_what_redis_holds_and_says_so(client, endpoint_factory, settings):
    endpoint = endpoint_factory()
    rows.delivery(rows.callback(endpoint))
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    samples = scrape(client)
    names = {name for name, _ in samples}
    assert value(samples, "daraja_redis_up") == 0
    assert value(samples, "daraja_database_up") == 1
    assert value(samples, "daraja_deliveries", status="delivered") == 1
    assert not {"daraja_queue_wakeups_waiting", "daraja_workers", "daraja_callbacks_received_total"} & names
    # the deliveries waiting are the database's, which is up
    assert "daraja_queue_depth" in names


def test_open_dead_letters_exclude_resolved_ones(client, endpoint_factory):
    endpoint = endpoint_factory()
    for resolution in ("", DeadLetter.Resolution.RETRIED, DeadLetter.Resolution.PURGED):
        rows.dead_letter(
            rows.delivery(rows.callback(endpoint), status=Delivery.Status.DEAD), resolved=resolution
        )
    assert value(scrape(client), "daraja_dead_letters_open", error_category="server_error") == 1


# --- access -------------------------------------------------------------------------------


def test_loopback_may_scrape_by_default(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_others_get_a_403_json_error_and_no_numbers(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert b"daraja_" not in response.content


def test_configured_networks_and_the_bearer_token_open_it(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.METRICS_BEARER_TOKEN = "scrape-secret-123"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-123"}, **outside).status_code
        == 200
    )
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}, **outside).status_code == 403
    assert (
        client.get("/metrics", headers={"Authorization": "scrape-secret-123"}, **outside).status_code == 403
    )
    # X-Forwarded-For is anyone's to write: it never grants access
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}, **outside).status_code == 403


def test_an_empty_token_setting_never_matches(client, settings):
    settings.METRICS_BEARER_TOKEN = ""
    response = client.get("/metrics", headers={"Authorization": "Bearer "}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403


def test_writes_get_a_405_json_error(client):
    response = client.post("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"

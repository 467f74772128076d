"""Outbound safety and fairness: secret rotation, destination guard, bounded responses,
circuit breaker, auto-pause, 410 Gone and the per-endpoint concurrency cap."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from delivery import destinations
from delivery.models import Circuit, CircuitState, Delivery, DeliveryAttempt
from tests.helpers import post_callback
from tests.support import Reply, run_worker
from webhooks.models import Endpoint
from webhooks.services import endpoint_create_or_update, endpoint_rotate_secret, endpoint_set_active

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def deliveries() -> list[Delivery]:
    return list(Delivery.objects.order_by("pk"))


# --- signing secret rotation --------------------------------------------------------


def test_after_rotation_both_secrets_verify_during_the_overlap_and_only_the_new_after(
    client, receiver, endpoint_factory
):
    endpoint = endpoint_factory(user_id="shop1")
    old_secret = endpoint.signing_secret
    new_secret = endpoint_rotate_secret(endpoint=endpoint)
    assert new_secret != old_secret
    # during the overlap
    post_callback(client, "shop1")
    run_worker()
    during = receiver.requests_to("/hook")[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(during.body, during.headers, json_parse=False)
    # after the overlap
    Endpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    post_callback(client, "shop1")
    run_worker()
    after = receiver.requests_to("/hook")[-1]
    Webhook(new_secret).verify(after.body, after.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(after.body, after.headers, json_parse=False)


def test_the_overlap_is_configurable(endpoint_factory, settings):
    settings.SIGNING_SECRET_OVERLAP_HOURS = 2
    endpoint = endpoint_factory(user_id="shop1")
    endpoint_rotate_secret(endpoint=endpoint)
    left = endpoint.previous_secret_expires_at - timezone.now()
    assert timedelta(hours=1, minutes=59) < left <= timedelta(hours=2)


# --- destination guard (SSRF) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00:ec2::254]/hook", "private"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "reserved"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://100.64.0.1/hook", "not publicly routable"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        # 6to4 and NAT64 addresses carry an IPv4 address inside: the one inside is judged.
        ("http://[2002:7f00:1::]/hook", "loopback"),
        ("http://[2002:a9fe:a9fe::1]/hook", "link-local"),
        ("http://[2002:c0a8:101::]/hook", "private"),
        ("http://[64:ff9b::127.0.0.1]/hook", "loopback"),
        ("http://[64:ff9b::a00:1]/hook", "private"),
        ("http://[64:ff9b::169.254.169.254]/hook", "link-local"),
        ("http://[64:ff9b:1::a00:1]/hook", "reserved|not publicly routable"),  # RFC 8215 local use
    ],
)
def test_every_refused_address_class_is_refused_when_the_endpoint_is_saved(settings, url, label):
    settings.DELIVERY_ALLOWED_NETWORKS = []
    with pytest.raises(ValidationError, match=label):
        endpoint_create_or_update(user_id="shop1", url=url)
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "suggested"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1/32"),
        ("http://[::1]:8000/hook", "::1/128"),
        ("http://192.168.1.20/hook", "192.168.1.20/32"),
    ],
)
def test_the_refusal_names_the_setting_that_allows_the_address(settings, url, suggested):
    # given a merchant app on this machine or the local network, and no allowed networks
    settings.DELIVERY_ALLOWED_NETWORKS = []
    # when its endpoint is saved, the refusal says which setting would allow it
    with pytest.raises(ValidationError) as refused:
        endpoint_create_or_update(user_id="shop1", url=url)
    message = " ".join(refused.value.messages)
    assert f"DELIVERY_ALLOWED_NETWORKS={suggested}" in message, message
    # and following it lets the endpoint be saved
    settings.DELIVERY_ALLOWED_NETWORKS = [suggested]
    endpoint, _ = endpoint_create_or_update(user_id="shop1", url=url)
    assert endpoint.url == url


def test_6to4_and_nat64_addresses_of_public_ipv4_hosts_are_accepted(settings):
    settings.DELIVERY_ALLOWED_NETWORKS = []
    endpoint, _ = endpoint_create_or_update(user_id="shop1", url="http://[2002:808:808::]/hook")
    assert endpoint.pk
    endpoint, _ = endpoint_create_or_update(user_id="shop2", url="http://[64:ff9b::8.8.8.8]/hook")
    assert endpoint.pk


def test_an_address_inside_the_allowed_networks_is_accepted(settings):
    settings.DELIVERY_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    endpoint, _ = endpoint_create_or_update(user_id="shop1", url="http://10.1.2.3/hook")
    assert endpoint.pk
    with pytest.raises(ValidationError):
        endpoint_create_or_update(user_id="shop2", url="http://192.168.1.1/hook")


def test_a_refused_destination_at_delivery_time_is_dead_lettered_in_its_own_category(
    client, receiver, endpoint_factory, settings
):
    endpoint_factory(user_id="shop1", max_attempts=5)  # saved while loopback was allowed
    settings.DELIVERY_ALLOWED_NETWORKS = []
    post_callback(client, "shop1")
    run_worker()
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.error_category, attempt.outcome) == ("destination_refused", "dead_lettered")
    assert "loopback" in attempt.error_message
    assert receiver.requests == []


def test_dns_rebinding_cannot_slip_through(client, receiver, endpoint_factory, settings, monkeypatch):
    # given a name that resolved to a public address when the endpoint was saved
    answers = iter([["93.184.216.34"], ["10.0.0.7"]])
    monkeypatch.setattr(destinations, "resolve", lambda host, port: next(answers))
    settings.DELIVERY_ALLOWED_NETWORKS = []
    endpoint_create_or_update(user_id="shop1", url="http://merchant.example/hook", max_attempts=3)
    # when the DNS answer changes to a private address before the delivery
    post_callback(client, "shop1")
    run_worker()
    # then the delivery is refused, not sent
    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_category == "destination_refused"
    assert "10.0.0.7" in attempt.error_message


def test_the_connection_goes_to_the_address_that_was_checked(client, receiver, endpoint_factory, monkeypatch):
    # "receiver.invalid" resolves nowhere in real DNS: only the checked address can be reached.
    port = receiver.server.server_port
    monkeypatch.setattr(
        destinations, "resolve", lambda host, p: ["127.0.0.1"] if host == "receiver.invalid" else []
    )
    endpoint_factory(user_id="shop1", url=f"http://receiver.invalid:{port}/hook")
    post_callback(client, "shop1")
    run_worker()
    [request] = receiver.requests_to("/hook")
    assert request.headers["Host"] == f"receiver.invalid:{port}"
    assert Delivery.objects.get().status == Delivery.Status.DELIVERED


# --- bounded responses ---------------------------------------------------------------


def test_a_large_response_is_read_only_up_to_the_cap(client, receiver, endpoint_factory, settings):
    settings.DELIVERY_MAX_RESPONSE_BYTES = 1000
    settings.DELIVERY_RESPONSE_EXCERPT_CHARS = 5000
    endpoint_factory(user_id="shop1")
    receiver.default = Reply(body=b"y" * 2_000_000)
    post_callback(client, "shop1")
    run_worker()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.outcome == "delivered"
    assert attempt.response_excerpt == "y" * 1000


def test_a_receiver_trickling_its_body_is_cut_off_by_the_total_deadline(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", timeout_seconds=1)
    receiver.default = Reply(trickle="body", delay=10)
    post_callback(client, "shop1")
    started = time.monotonic()
    run_worker()
    assert time.monotonic() - started < 4
    attempt = DeliveryAttempt.objects.get()
    assert attempt.duration_ms < 2500
    assert "cut off at the delivery deadline" in attempt.error_message


def test_a_receiver_trickling_its_status_line_times_out(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", timeout_seconds=1, max_attempts=1)
    receiver.default = Reply(trickle="head", delay=10)
    post_callback(client, "shop1")
    run_worker()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.error_category == "timeout"
    assert attempt.duration_ms < 2500


# --- circuit breaker -------------------------------------------------------------------


def test_circuit_opens_holds_probes_closes_and_drains_in_priority_order(
    client, receiver, endpoint_factory, settings
):
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    # Long enough that the three posts below land inside the cool-down even on a
    # loaded CI machine (with 1 s, a slow round let the urgent one go as the probe).
    settings.CIRCUIT_COOLDOWN_SECONDS = 4
    settings.ENABLE_TEST_ENDPOINTS = True
    settings.DELIVERY_WORKER_CONCURRENCY = 1  # one at a time, so arrival order is send order
    endpoint = endpoint_factory(user_id="shop1", max_attempts=1)
    receiver.default = Reply(status=503)
    # given three failures in a row
    for _ in range(3):
        post_callback(client, "shop1")
    run_worker(until=lambda: Delivery.objects.filter(status="dead").count() == 3)
    endpoint.refresh_from_db()
    assert endpoint.circuit.state == CircuitState.OPEN
    # when more callbacks arrive, they are held: no attempt, no charge
    for level in ["low", "high", "urgent"]:
        client.post(f"/test/priority/shop1/{level}")
    run_worker(until=lambda: Delivery.objects.filter(status="held").count() == 3, timeout=20)
    assert len(receiver.requests) == 3
    assert DeliveryAttempt.objects.count() == 3
    # and when the receiver recovers, one probe goes after the cool-down, then the rest in priority order
    receiver.default = Reply(status=200)
    run_worker(until=lambda: Delivery.objects.filter(status="delivered").count() == 3, timeout=30)
    order = [r.headers["X-Daraja-Priority"] for r in receiver.requests_to("/hook")[3:]]
    assert order == ["urgent", "high", "low"]
    endpoint.refresh_from_db()
    assert (endpoint.circuit.state, endpoint.circuit.consecutive_failures) == (CircuitState.CLOSED, 0)
    assert all(d.attempt_count == 1 for d in deliveries()[3:])


def test_a_circuit_open_past_the_window_pauses_the_endpoint_and_alerts(
    client, receiver, endpoint_factory, settings
):
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    settings.CIRCUIT_COOLDOWN_SECONDS = 1
    settings.CIRCUIT_AUTO_PAUSE_HOURS = 0.5 / 3600
    settings.ALERT_WEBHOOK_URL = receiver.url("/alert")
    endpoint = endpoint_factory(user_id="shop1", max_attempts=10, initial_delay_seconds=0.1)
    receiver.script("/hook", *[Reply(status=500)] * 20)
    post_callback(client, "shop1")
    run_worker(until=lambda: Endpoint.objects.get().is_active is False, timeout=15)
    endpoint.refresh_from_db()
    assert "circuit open since" in endpoint.paused_reason
    [alert] = receiver.requests_to("/alert")
    assert b'"event": "endpoint_auto_paused"' in alert.body
    assert Delivery.objects.get().status in ("held", "retrying")


def test_410_gone_pauses_the_endpoint_at_once_and_the_delivery_waits(client, receiver, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1", max_attempts=5)
    receiver.script("/hook", Reply(status=410))
    post_callback(client, "shop1")
    run_worker()
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "410" in endpoint.paused_reason
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.error_category, attempt.outcome) == ("gone", "held")
    assert Delivery.objects.get().status == Delivery.Status.HELD
    endpoint_set_active(endpoint=endpoint, active=True)
    run_worker()
    assert Delivery.objects.get().status == Delivery.Status.DELIVERED


# --- per-endpoint concurrency cap ---------------------------------------------------------


_CLAIM = """
import os, sys, time, django
django.setup()
from delivery.lifecycle import claim_due
time.sleep(max(float(sys.argv[1]) - time.time(), 0))
print(len(claim_due(limit=10)))
"""


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def in_flight_elsewhere(delivery: Delivery, seconds: float = 30) -> None:
    """Pretend another worker is sending ``delivery`` now, under a lease for ``seconds``."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.DELIVERING,
        lease_token="another-worker",
        lease_expires_at=now + timedelta(seconds=seconds),
        started_delivering_at=now,
    )


def test_the_cap_holds_across_processes(client, redis_url, endpoint_factory):
    # given ten due deliveries of an endpoint that takes 2 at a time, and six worker processes claiming
    # at the same moment
    endpoint_factory(user_id="shop1", max_in_flight=2)
    for _ in range(10):
        post_callback(client, "shop1")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "daraja.settings",
        "REDIS_URL": redis_url,
        "DATABASE_URL": _database_url(),
    }
    start_at = str(time.time() + 3)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIM, start_at], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        for _ in range(6)
    ]
    claimed = [int(process.communicate(timeout=60)[0].strip().splitlines()[-1]) for process in processes]
    # then two were claimed in all, and the rest wait
    assert sum(claimed) == 2
    assert Delivery.objects.filter(status=Delivery.Status.DELIVERING).count() == 2
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 8


def test_a_dead_workers_claim_comes_back_when_its_lease_runs_out_and_its_late_outcome_is_refused(
    client, receiver, endpoint_factory
):
    from delivery.engine import _InFlight, _record_of, endpoint_retry_settings
    from delivery.lifecycle import claim_due, record_attempts
    from delivery.transport import TransportResult

    endpoint = endpoint_factory(user_id="shop1")
    post_callback(client, "shop1")
    [lost] = claim_due(limit=10)  # a worker claims it, then stops answering
    assert claim_due(limit=10) == []  # its lease holds
    Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    # when the lease has run out, another worker claims it and delivers
    run_worker(until=lambda: Delivery.objects.get().status == Delivery.Status.DELIVERED)
    # then the first worker's late outcome is not recorded: one attempt row, for the request sent
    late = _record_of(
        _InFlight(lost, timezone.now(), endpoint_retry_settings(endpoint)), TransportResult(5, 200)
    )
    assert record_attempts([late]) == []
    assert DeliveryAttempt.objects.count() == 1 == len(receiver.requests_to("/hook"))
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == ("delivered", 1)


def test_work_over_the_cap_waits_unclaimed_and_uncharged_until_a_slot_frees(
    client, receiver, endpoint_factory
):
    from delivery.engine import deliver_one
    from delivery.lifecycle import claim_due

    endpoint_factory(user_id="shop1", max_in_flight=1)
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    busy, waiting = Delivery.objects.order_by("pk")
    in_flight_elsewhere(busy)  # another worker's delivery in flight
    # then the other is not claimed, and a job naming it puts it back
    assert claim_due(limit=10) == []
    assert deliver_one(waiting.pk) == "deferred"
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempt_count) == ("pending", 0)
    assert receiver.requests == []
    # when the slot frees (that worker recorded its attempt), the waiting one goes
    Delivery.objects.filter(pk=busy.pk).update(
        status=Delivery.Status.DELIVERED, lease_token="", lease_expires_at=None
    )
    run_worker(until=lambda: Delivery.objects.get(pk=waiting.pk).status == "delivered")
    assert Delivery.objects.get(pk=waiting.pk).attempt_count == 1


def test_one_merchant_does_not_fill_a_claim(client, endpoint_factory):
    from delivery.lifecycle import claim_due

    endpoint_factory(user_id="busy", max_in_flight=3)
    endpoint_factory(user_id="quiet", max_in_flight=3)
    for _ in range(20):
        post_callback(client, "busy")
    post_callback(client, "quiet")
    claims = claim_due(limit=10)
    by_user = sorted(claim.endpoint.user_id for claim in claims)
    assert by_user == ["busy"] * 3 + ["quiet"]


def test_low_priority_is_not_starved_by_a_stream_of_urgent_work(client, endpoint_factory, settings):
    from delivery.lifecycle import claim_due

    settings.ENABLE_TEST_ENDPOINTS = True
    endpoint_factory(user_id="shop1", max_in_flight=100)
    client.post("/test/priority/shop1/low")
    for _ in range(12):
        client.post("/test/priority/shop1/urgent")
    assert {claim.priority for claim in claim_due(limit=4)} == {20}
    assert 1 in {claim.priority for claim in claim_due(limit=4, every_priority=True)}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:99999/hook",
        "http://[::1/hook",
        "http://a..b.example/hook",
        f"http://{'a' * 70}.example/",
    ],
)
def test_malformed_destinations_are_a_validation_error_not_a_crash(url):
    with pytest.raises(ValidationError):
        endpoint_create_or_update(user_id="shop1", url=url)
    assert not Endpoint.objects.exists()


def test_circuit_state_held_and_in_flight_are_visible_in_health_and_the_api(
    client, endpoint_factory, settings
):
    from daraja.api_keys import api_key_create

    endpoint = endpoint_factory(user_id="shop1")
    Circuit.objects.filter(pk=endpoint.pk).update(state=CircuitState.OPEN, consecutive_failures=5)
    post_callback(client, "shop1")
    Delivery.objects.update(status=Delivery.Status.HELD)
    post_callback(client, "shop1")
    in_flight_elsewhere(Delivery.objects.order_by("pk").last())
    _, key = api_key_create(name="ops")
    health = client.get("/health/queue", HTTP_AUTHORIZATION=f"Bearer {key}").json()["endpoints"]
    assert health["by_circuit_state"] == {"closed": 0, "open": 1}
    [row] = health["needing_attention"]
    assert (row["user_id"], row["circuit_state"], row["held"], row["in_flight"]) == ("shop1", "open", 1, 1)
    body = client.get("/api/v1/endpoints/shop1/", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert (body["circuit_state"], body["held_deliveries"], body["in_flight"]) == ("open", 1, 1)
    listing = client.get("/api/v1/endpoints/", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert listing["results"][0]["held_deliveries"] == 1

"""The relay as operators run it: two gunicorn workers and one RQ worker, real processes, JSON logs.

One scenario is played once for the module: callbacks for three users — one
delivered at once, one after a retry, one dead-lettered after its two
attempts — plus a duplicate, a C2B confirmation, a malformed body on a real
inbound path and a request for an unknown user. The tests then check that
``/metrics`` adds up to exactly what happened, that both gunicorn processes
tell the same numbers, that every log line is JSON with its flow's id and
no secret, and that WhiteNoise serves the collected static files.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.conf import settings
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from tests.helpers import MPESA_PAYLOADS, stk_body
from tests.ops.deployfiles import dashboard_expressions, exported_names, metric_names, rule_expressions
from tests.ops.live import REPO, LiveRelay, parse_metrics, separate_redis_database, value, wait_for
from tests.support import Receiver, Reply

PHONE = "254708374149"  # in the STK sample body
C2B_CONFIRMATION = (MPESA_PAYLOADS / "c2b_confirmation.json").read_bytes()

SETUP_ENDPOINTS = """
import json
from webhooks.services import endpoint_create_or_update
out = {}
USERS = (("shop-ok", "/ok", 3), ("shop-flaky", "/flaky", 3), ("shop-dead", "/dead", 2))
for user_id, path, attempts in USERS:
    endpoint, _ = endpoint_create_or_update(
        user_id=user_id, url=RECEIVER + path, max_attempts=attempts, initial_delay_seconds=0.2
    )
    out[user_id] = {"secret": endpoint.signing_secret, "token": endpoint.inbound_token}
    out[user_id]["path"] = endpoint.inbound_path
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def scenario(redis_server_url):
    receiver = Receiver()
    receiver.script("/flaky", Reply(status=500))
    receiver.script("/dead", Reply(status=500), Reply(status=500))
    relay = LiveRelay(separate_redis_database(redis_server_url), LOG_FORMAT="json")
    try:
        relay.manage("migrate", "--noinput", "-v", "0")
        relay.manage("collectstatic", "--noinput", "-v", "0")
        script = SETUP_ENDPOINTS.replace("RECEIVER", repr(receiver.url("")))
        endpoints = json.loads(relay.manage("shell", "-v", "0", "-c", script).strip().splitlines()[-1])
        relay.start_web(workers=2)
        relay.start_worker()
        wait_for(
            lambda: value(parse_metrics(relay.scrape()), "daraja_workers") == 1,
            timeout=30,
            what="the RQ worker to register",
        )

        ok, flaky, dead = (endpoints[user]["path"] for user in ("shop-ok", "shop-flaky", "shop-dead"))
        repeated = stk_body("ws_CO_live_repeated")
        statuses = [
            relay.post_json(ok, repeated, **{"X-Request-Id": "live-request-1"}),
            relay.post_json(ok, repeated),  # the duplicate: acknowledged, not delivered again
            relay.post_json(ok, stk_body(f"ws_CO_{uuid.uuid4().hex[:12]}")),
            relay.post_json(ok + "/c2b-confirmation", C2B_CONFIRMATION),
            relay.post_json(flaky, stk_body(f"ws_CO_{uuid.uuid4().hex[:12]}")),
            relay.post_json(dead, stk_body(f"ws_CO_{uuid.uuid4().hex[:12]}")),
            relay.post_json(ok, b'{"Body": '),  # malformed: 400, logged by Django with the path
            relay.post_json(f"/webhook/{PHONE}/not-a-token", stk_body()),  # unknown user: 404
        ]
        assert statuses == [200, 200, 200, 200, 200, 200, 400, 404]

        def settled():
            samples = parse_metrics(relay.scrape())
            attempts = sum(v for (name, _), v in samples.items() if name == "daraja_delivery_attempts_total")
            done = attempts == 7 and value(samples, "daraja_deliveries", status="delivered") == 4
            return samples if done and rq_is_quiet(relay.redis_url) else None

        try:
            samples = wait_for(settled, timeout=60, what="7 attempts and 4 deliveries", interval=0.3)
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}\n{relay.scrape()}\n{relay.log('worker')[-4000:]}") from None
        yield {"relay": relay, "receiver": receiver, "endpoints": endpoints, "samples": samples}
    finally:
        relay.stop()
        receiver.stop()


def rq_is_quiet(redis_url: str) -> bool:
    """No wake-up waiting, scheduled or running in any priority queue.

    A lingering drain claims a retry as soon as it is due, so the retry's
    own scheduled wake-up still fires after the last attempt, waits in its
    queue while the worker is busy and is taken a moment later: until then
    ``daraja_queue_wakeups_waiting`` may read 1 in one scrape and 0 in the next.
    """
    with Redis.from_url(redis_url) as connection:
        queues = [Queue(name, connection=connection) for name in settings.DELIVERY_QUEUE_NAMES]
        return not any(
            queue.count or ScheduledJobRegistry(queue=queue).count or StartedJobRegistry(queue=queue).count
            for queue in queues
        )


def test_metrics_add_up_to_what_happened(scenario):
    samples, receiver = scenario["samples"], scenario["receiver"]
    # What the receiver saw: 3 (the duplicate was not delivered) + 2 (one retry) + 2 (then dead) POSTs.
    assert [len(receiver.requests_to(p)) for p in ("/ok", "/flaky", "/dead")] == [3, 2, 2]

    assert value(samples, "daraja_callbacks_received_total", kind="stk_callback") == 4
    assert value(samples, "daraja_callbacks_received_total", kind="c2b_confirmation") == 1
    assert value(samples, "daraja_callbacks_received_total", kind="b2c_result") == 0
    assert value(samples, "daraja_callback_duplicates_total") == 1

    attempts = {
        (dict(labels)["outcome"], dict(labels)["error_category"]): v
        for (name, labels), v in samples.items()
        if name == "daraja_delivery_attempts_total" and v
    }
    assert attempts == {
        ("delivered", "none"): 4,
        ("retry_scheduled", "server_error"): 2,
        ("dead_lettered", "server_error"): 1,
    }
    assert value(samples, "daraja_delivery_attempt_duration_seconds_count") == 7
    assert value(samples, "daraja_delivery_attempt_duration_seconds_bucket", le="+Inf") == 7
    assert 0 < value(samples, "daraja_delivery_attempt_duration_seconds_sum") < 7 * 5
    assert value(samples, "daraja_delivery_end_to_end_seconds_count") == 4
    # The flaky delivery waited its 0.2 s backoff (and the scheduler's poll) before it succeeded.
    assert value(samples, "daraja_delivery_end_to_end_seconds_sum") > 0.2
    assert value(samples, "daraja_delivery_end_to_end_seconds_bucket", le="60") == 4

    assert value(samples, "daraja_deliveries", status="delivered") == 4
    assert value(samples, "daraja_deliveries", status="dead") == 1
    assert value(samples, "daraja_deliveries", status="pending") == 0
    assert value(samples, "daraja_dead_letters_open", error_category="server_error") == 1
    assert value(samples, "daraja_endpoints", state="active", circuit_state="closed") == 3
    for queue in ("urgent", "high", "normal", "low"):
        assert value(samples, "daraja_queue_depth", queue=queue) == 0
        assert value(samples, "daraja_queue_scheduled_retries", queue=queue) == 0
    assert value(samples, "daraja_workers") == 1
    assert value(samples, "daraja_redis_up") == 1
    assert value(samples, "daraja_database_up") == 1
    assert value(samples, "daraja_oldest_due_delivery_seconds") == 0


def test_every_gunicorn_process_tells_the_same_numbers(scenario):
    relay = scenario["relay"]
    scrapes, lock = [], threading.Lock()

    def scrape():
        text = relay.scrape()
        with lock:
            scrapes.append(text)

    # Four at a time: a sync worker serves one request at a time, so both processes must answer.
    for _ in range(3):
        threads = [threading.Thread(target=scrape) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert len(scrapes) == 12
    answers = {
        frozenset(
            (key, v) for key, v in parse_metrics(text).items() if key[0] != "daraja_metrics_collect_seconds"
        )
        for text in scrapes
    }
    # On a mismatch, name only the samples that differ (the whole set is hundreds of lines).
    assert len(answers) == 1, [sorted(answer - frozenset.intersection(*answers)) for answer in answers]
    served_by = {
        line["message"].split("pid=")[1].split()[0]
        for line in relay.json_lines("web")
        if line["logger"] == "gunicorn.access" and "GET /metrics" in line["message"]
    }
    assert len(served_by) == 2, served_by


def test_logs_are_json_with_the_flow_id_and_no_secret(scenario):
    relay, endpoints = scenario["relay"], scenario["endpoints"]
    web, worker = relay.json_lines("web"), relay.json_lines("worker")  # every line parses as JSON

    first_request = [line for line in web if line.get("request_id") == "live-request-1"]
    messages = [line["message"] for line in first_request]
    assert any(m.startswith("📦 Callback") and "shop-ok" in m for m in messages), messages
    assert any(line["logger"] == "gunicorn.access" for line in first_request)
    assert all(
        line.get("request_id") for line in web if line["logger"] in ("webhooks.services", "django.request")
    )

    deliveries = [line for line in worker if line["message"].startswith(("🚀", "✅", "❌", "⏳", "💀"))]
    assert len([line for line in deliveries if line["message"].startswith("🚀")]) == 7
    assert all(isinstance(line.get("delivery_id"), int) for line in deliveries)
    retried = {line["delivery_id"] for line in deliveries if line["message"].startswith("⏳")}
    assert len(retried) == 2
    for delivery_id in retried:  # a retried delivery's lines, across both jobs, share its id
        flow = [line["message"][0] for line in deliveries if line["delivery_id"] == delivery_id]
        assert flow[:3] == ["🚀", "❌", "⏳"]

    everything = relay.log("web") + relay.log("worker")
    assert "2547*****149" in everything  # the unknown user's id, masked
    assert PHONE not in everything
    for endpoint in endpoints.values():
        assert endpoint["secret"] not in everything
        assert endpoint["token"] not in everything
    assert "/webhook/shop-ok/[redacted]" in everything  # Django's "Bad Request: <path>" line


def test_whitenoise_serves_collected_static_files_under_gunicorn(scenario):
    relay = scenario["relay"]
    collected = (relay.path / "static" / "admin" / "css" / "base.css").read_bytes()
    status, headers, body = relay.request("GET", "/static/admin/css/base.css")
    assert (status, body) == (200, collected)
    status, headers, body = relay.request(
        "GET", "/static/admin/css/base.css", headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == collected
    assert relay.request("GET", "/static/admin/css/no-such-file.css")[0] == 404


def test_alert_rules_and_dashboard_name_only_metrics_the_relay_exports(scenario):
    exported = exported_names(scenario["relay"].scrape())
    in_rules, on_dashboard = metric_names(rule_expressions()), metric_names(dashboard_expressions())
    assert len(on_dashboard) >= 12 and len(in_rules) >= 8
    assert on_dashboard - exported == set()
    assert in_rules - exported == {"up"}  # Prometheus' own per-target metric


def test_the_container_health_checks_see_the_running_processes(scenario):
    relay = scenario["relay"]

    def check(kind, **env):
        done = subprocess.run(
            [sys.executable, "deploy/healthcheck.py", kind],
            cwd=REPO,
            env={**relay.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stderr

    assert check("web", WEBHOOK_SERVICE_PORT=str(relay.port)) == (0, "")
    assert check("worker") == (0, "")  # the worker runs on this host
    status, reason = check("web", WEBHOOK_SERVICE_PORT="9")
    assert status == 1 and "/health did not answer" in reason
    status, reason = check("worker", REDIS_URL=separate_redis_database(relay.redis_url))
    assert status == 1 and f"no RQ worker of host {os.uname().nodename} is registered" in reason


# These two run last: they add requests the metrics above do not count.


STALLED = 6  # fewer than one gunicorn process's threads (8), minus two


def test_strangers_whose_bodies_stall_are_refused_at_once(scenario):
    """Six connections declare a body, send one byte and stall: each gets its 404 at once (the token is
    checked before the body is read; before, each held a thread until the body came), and /health answers.

    gunicorn (2 x 8 threads here) then spends up to 5 s of a thread discarding each unread body before it
    closes the connection (its drain deadline). Six leave two threads free even if every one lands on the
    same process (with twelve, one process could get eight and /health waited out the drain on a loaded
    CI machine); more stalled connections than threads still delay others for that long: production puts
    a buffering proxy in front (docs/operations.md).
    """
    relay = scenario["relay"]
    head = (
        b"POST /webhook/shop-ok/not-the-token HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    connections = []
    try:
        for _ in range(STALLED):
            connection = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
            connection.sendall(head)
            connections.append(connection)
        started = time.monotonic()
        answers = [connection.recv(200).split(b"\r\n", 1)[0] for connection in connections]
        assert answers == [b"HTTP/1.1 404 Not Found"] * STALLED
        status, _, _ = relay.request("GET", "/health")
        assert status == 200
        assert time.monotonic() - started < 3
    finally:
        for connection in connections:
            connection.close()


def test_a_chunked_callback_is_read_whole_by_gunicorn(scenario):
    relay = scenario["relay"]
    path = scenario["endpoints"]["shop-ok"]["path"]
    body = stk_body(f"ws_CO_{uuid.uuid4().hex[:12]}")
    connection = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            body=iter([body[:40], body[40:]]),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (
            200,
            {"ResultCode": 0, "ResultDesc": "Accepted"},
        )
    finally:
        connection.close()

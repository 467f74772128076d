"""The queue dashboard: real numbers from Redis and the database, warnings, Redis down shown."""

import re

import pytest

from tests.helpers import post_callback
from tests.support import Reply, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def number(page, element_id):
    return re.search(rf'id="{element_id}">(?:<a [^>]*>)?([^<]*)<', page.text).group(1).strip()


def test_the_dashboard_shows_the_last_hour_the_queues_and_a_chart(
    support_client, client, receiver, endpoint_factory
):
    endpoint_factory(user_id="shop1", max_attempts=1)
    endpoint_factory(user_id="paused", is_active=False)
    receiver.script("/hook", Reply(status=500))
    for _ in range(3):
        post_callback(client, "shop1")
    run_worker()
    page = support_client.get("/admin/dashboard/")
    assert page.status_code == 200
    assert number(page, "delivered-last-hour") == "2"
    assert number(page, "failed-last-hour") == "1"
    assert number(page, "success-rate") == "66.7 %"
    assert number(page, "dead-letters-open") == "1"
    assert number(page, "redis-status") == "OK"
    assert number(page, "workers-alive") == "0"
    assert page.text.count('<rect class="delivered"') == 24
    assert 'aria-label="2 delivered and 1 failed attempts in the last 24 hours"' in page.text
    assert 'href="/admin/rq/"' not in page.text  # superusers only
    assert 'class="daraja-banner"' not in page.text


def test_the_dashboard_counts_waiting_deliveries_per_priority_from_the_database_even_without_redis(
    support_client, client, endpoint_factory, settings
):
    settings.ENABLE_TEST_ENDPOINTS = True
    endpoint_factory(user_id="shop1")
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    client.post("/test/priority/shop1/urgent")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    page = support_client.get("/admin/dashboard/").text
    waiting = dict(re.findall(r'data-queue="(\w+)"><span class="number">(\d+)<', page))
    assert waiting == {"urgent": "1", "high": "0", "normal": "2", "low": "0"}


def test_the_dashboard_warns_past_the_threshold_and_when_redis_is_down(
    support_client, client, receiver, endpoint_factory, settings
):
    endpoint_factory(user_id="shop1", max_attempts=1)
    receiver.script("/hook", Reply(status=500), Reply(status=500))
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    run_worker()
    settings.DEADLETTER_WARNING_THRESHOLD = 1
    settings.DEADLETTER_GROWTH_WARNING_PER_HOUR = 2
    page = support_client.get("/admin/dashboard/")
    assert "The dead-letter queue holds 2 deliveries (warning threshold: 1)" in page.text
    assert "2 deliveries gave up in the last hour" in page.text
    assert "The dead-letter queue holds 2" in support_client.get("/admin/deadletter/deadletter/").text

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    page = support_client.get("/admin/dashboard/")
    assert page.status_code == 200
    assert "Redis is unreachable" in page.text
    assert number(page, "redis-status") == "DOWN"


def test_the_dashboard_needs_a_staff_login(client):
    assert client.get("/admin/dashboard/").status_code == 302

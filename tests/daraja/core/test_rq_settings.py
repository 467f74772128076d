"""One Redis configuration: django-rq's queues and the relay's own client follow ``REDIS_URL``."""

from __future__ import annotations

import django_rq
import pytest
from django.conf import settings as django_settings
from django_rq.utils import get_statistics

from delivery.priority import Priority
from delivery.queues import delivery_queue, redis_connection
from delivery.wakeup import wake_now


def where(client) -> tuple[str, int, int]:
    kwargs = client.connection_pool.connection_kwargs
    return kwargs["host"], kwargs["port"], kwargs.get("db") or 0


def test_every_queue_names_redis_url_as_it_is_when_read(settings):
    settings.REDIS_URL = "redis://10.1.2.3:6390/4"
    assert set(django_settings.RQ_QUEUES) == set(settings.DELIVERY_QUEUE_NAMES)
    assert {config["URL"] for config in django_settings.RQ_QUEUES.values()} == {"redis://10.1.2.3:6390/4"}
    assert django_settings.RQ_QUEUES["normal"]["DEFAULT_TIMEOUT"] == 360
    with pytest.raises(KeyError):
        django_settings.RQ_QUEUES["default"]


def test_a_changed_redis_url_moves_django_rq_the_relays_client_and_its_queues_together(settings):
    settings.REDIS_URL = "redis://10.1.2.3:6390/4"
    settings.REDIS_SOCKET_TIMEOUT = 0.25
    clients = [
        redis_connection(),
        delivery_queue(Priority.NORMAL).connection,
        django_rq.get_connection("urgent"),
        django_rq.get_queue("low").connection,
    ]
    assert {where(client) for client in clients} == {("10.1.2.3", 6390, 4)}
    # the relay's client answers within REDIS_SOCKET_TIMEOUT; RQ's workers set their own on theirs
    assert redis_connection().connection_pool.connection_kwargs["socket_timeout"] == 0.25
    assert redis_connection().connection_pool.connection_kwargs["socket_connect_timeout"] == 0.25


def test_the_admins_rq_pages_see_what_the_relay_queued(redis_url):
    # given the relay woke the workers (one drain job on the normal queue of the test's Redis)
    assert wake_now(Priority.NORMAL)
    # then django-rq's statistics (its admin pages) count it there
    jobs = {queue["name"]: queue["jobs"] for queue in get_statistics()["queues"]}
    assert jobs == {"urgent": 0, "high": 0, "normal": 1, "low": 0}

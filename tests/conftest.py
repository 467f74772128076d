"""Fixtures: a real Redis (the machine's, or one the suite starts), a real receiver, factories."""

from __future__ import annotations

import os

import pytest

from daraja.core.runtime import reset_runtime
from tests.support import EmbeddedRedis, Receiver


@pytest.fixture(scope="session")
def redis_server_url():
    """``TEST_REDIS_URL`` if set (CI points it at the machine's Redis), else a redis-server of its own.

    The suite empties its Redis database before every test, so it never
    borrows a developer's Redis uninvited, and two runs never share one.
    """
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    embedded = EmbeddedRedis()
    yield embedded.url
    embedded.stop()


@pytest.fixture(autouse=True)
def fresh_runtime():
    """Per-process objects a test built or replaced (``daraja.core.runtime``): the next builds anew."""
    yield
    reset_runtime()


@pytest.fixture(autouse=True)
def redis_url(redis_server_url, settings):
    """Every test talks to the test Redis, emptied before it starts."""
    from delivery.queues import redis_connection

    settings.REDIS_URL = redis_server_url
    # The test receivers listen on loopback, which the destination guard refuses by default.
    settings.DELIVERY_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    # Workers are woken when the test's transaction commits, so a burst worker right after finds the
    # drain job; coalescing wake-ups over a window has tests of its own (tests/delivery/test_wakeup.py)
    # and runs in every test that starts real relay processes (tests/faults, the benchmark's smoke test).
    settings.DELIVERY_WAKE_WINDOW_MS = 0
    # A burst worker's drain ends as soon as nothing is due (as shipped it looks again for a second).
    settings.DELIVERY_DRAIN_LINGER_MS = 0
    redis_connection().flushdb()
    return redis_server_url


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def endpoint_factory(receiver):
    """Make endpoints that deliver to the test's receiver, with fast retries unless told otherwise."""
    from tests.factories import EndpointFactory

    def make(**fields):
        fields.setdefault("url", receiver.url("/hook"))
        fields.setdefault("initial_delay_seconds", 0.2)
        fields.setdefault("timeout_seconds", 5)
        return EndpointFactory(**fields)

    return make

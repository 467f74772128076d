"""Fixtures: a real Redis (the machine's, or one the suite starts), a real receiver, factories."""

from __future__ import annotations

import os

import pytest

from tests.support import EmbeddedRedis, Receiver, redis_answers

# A database number of its own, so the suite never flushes a developer's queues.
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def redis_server_url():
    """``TEST_REDIS_URL`` if set; else a local Redis on 6379 (db 15); else a redis-server the suite starts."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    if redis_answers(DEFAULT_TEST_REDIS_URL):
        yield DEFAULT_TEST_REDIS_URL
        return
    embedded = EmbeddedRedis()
    yield embedded.url
    embedded.stop()


@pytest.fixture(autouse=True)
def redis_url(redis_server_url, settings):
    """Every test talks to the test Redis, emptied before it starts."""
    from delivery.queues import redis_connection

    settings.REDIS_URL = redis_server_url
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

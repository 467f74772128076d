"""Fixtures for the integration API: keys, clients that send them, and callbacks made for real."""

from __future__ import annotations

import pytest
from django.test import Client

from daraja.api_keys import api_key_create
from tests.helpers import post_callback, stk_body
from tests.support import Reply


class KeyedClient:
    """A Django test client that sends ``Authorization: Bearer <key>`` and speaks JSON."""

    def __init__(self, key: str | None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = Client(headers=headers)
        self.key = key

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {})

    def post(self, path: str, body: dict | None = None):
        return self.client.post(path, body if body is not None else {}, content_type="application/json")

    def patch(self, path: str, body: dict):
        return self.client.patch(path, body, content_type="application/json")


@pytest.fixture(autouse=True)
def loopback_receivers_allowed(settings):
    """The test receiver listens on loopback, which the destination guard refuses unless allowed."""
    settings.DELIVERY_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def make_api_client():
    def make(user_id: str = "", name: str = "tests") -> KeyedClient:
        _, key = api_key_create(name=name, user_id=user_id)
        return KeyedClient(key)

    return make


@pytest.fixture
def operator(make_api_client) -> KeyedClient:
    return make_api_client(name="ops")


@pytest.fixture
def shop_a(make_api_client) -> KeyedClient:
    return make_api_client(user_id="shop_a", name="shop a back office")


@pytest.fixture
def shop_b(make_api_client) -> KeyedClient:
    return make_api_client(user_id="shop_b", name="shop b back office")


@pytest.fixture
def two_shops(endpoint_factory, receiver):
    """Endpoints of shop_a and shop_b delivering to /a and /b on the test receiver."""
    return (
        endpoint_factory(user_id="shop_a", url=receiver.url("/a")),
        endpoint_factory(user_id="shop_b", url=receiver.url("/b")),
    )


@pytest.fixture
def receive(client):
    """Post an STK callback for ``user_id`` through the real inbound door; returns the CheckoutRequestID."""
    counter = iter(range(1, 10_000))

    def send(user_id: str, checkout_id: str | None = None) -> str:
        checkout_id = checkout_id or f"ws_CO_{user_id}_{next(counter)}"
        response = post_callback(client, user_id, stk_body(checkout_id))
        assert response.status_code == 200, response.content
        return checkout_id

    return send


@pytest.fixture
def refuse(receiver):
    """The receiver answers the next ``count`` deliveries to ``path`` with 400 (dead-lettered at once)."""

    def script(path: str, count: int = 1) -> None:
        receiver.script(path, *[Reply(status=400, body=b"bad request") for _ in range(count)])

    return script

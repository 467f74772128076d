"""A merchant URL's credentials and query string: never in a log line, attempt error, dead letter or listing.

The full URL is shown only where it can be changed: the endpoint's admin page
for those allowed to change it, and the API's detail of the endpoint.
"""

from __future__ import annotations

import logging
import socket
import threading

import pytest
from django.test import Client

from daraja.api_keys import api_key_create
from deadletter.models import DeadLetter
from delivery.models import DeliveryAttempt
from tests.helpers import post_callback
from tests.support import run_worker
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pa55w0rd-of-the-shop"
TOKEN = "t0k3n-of-the-shop"


@pytest.fixture
def garbled_receiver():
    """A real server on loopback that answers every request with a line that is not HTTP.

    aiohttp's error for it quotes the request's URL, query string included.
    """
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"GARBAGE\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


@pytest.fixture
def secret_url_endpoint(endpoint_factory, garbled_receiver):
    return endpoint_factory(
        user_id="shop-secret",
        url=f"http://merchant:{PASSWORD}@127.0.0.1:{garbled_receiver}/hook?token={TOKEN}",
        max_attempts=1,
    )


def assert_no_secret(text: str | bytes) -> None:
    if isinstance(text, bytes):
        text = text.decode()
    assert PASSWORD not in text
    assert TOKEN not in text


def test_a_failed_delivery_keeps_no_url_secret_in_its_error_dead_letter_or_log(
    client, secret_url_endpoint, caplog
):
    # given a callback for an endpoint whose URL carries a password and a token, and whose app answers garbage
    caplog.set_level(logging.INFO)
    post_callback(client, "shop-secret")

    # when the worker tries it (once: it is then dead-lettered)
    run_worker()

    # then the attempt's error says what went wrong, without the URL's secrets
    attempt = DeliveryAttempt.objects.get()
    assert "Bad status line" in attempt.error_message
    assert "/hook?[redacted]" in attempt.error_message
    assert_no_secret(attempt.error_message)
    assert_no_secret(DeadLetter.objects.get().last_error)
    assert_no_secret(caplog.text)
    assert "Delivering webhook to http://[redacted]@127.0.0.1:" in caplog.text


def test_support_sees_the_endpoint_url_redacted_in_the_list_and_on_its_page(
    support_client, secret_url_endpoint
):
    listing = support_client.get("/admin/webhooks/endpoint/")
    assert listing.status_code == 200
    assert b"http://[redacted]@127.0.0.1:" in listing.content
    assert_no_secret(listing.content)
    # a search cannot be used to guess the secret piece by piece
    assert b"shop-secret" not in support_client.get("/admin/webhooks/endpoint/", {"q": TOKEN[:6]}).content

    page = support_client.get(f"/admin/webhooks/endpoint/{secret_url_endpoint.pk}/change/")
    assert page.status_code == 200
    assert b"/hook?[redacted]" in page.content
    assert_no_secret(page.content)


def test_an_administrator_sees_the_full_url_only_on_the_page_where_it_is_changed(
    staff_client, secret_url_endpoint
):
    listing = staff_client.get("/admin/webhooks/endpoint/")
    assert_no_secret(listing.content)

    page = staff_client.get(f"/admin/webhooks/endpoint/{secret_url_endpoint.pk}/change/")
    assert TOKEN in page.content.decode() and PASSWORD in page.content.decode()


def test_the_api_lists_urls_redacted_and_shows_the_whole_url_in_the_detail(secret_url_endpoint):
    _, key = api_key_create(name="ops")
    api = Client(headers={"Authorization": f"Bearer {key}"})

    listing = api.get("/api/v1/endpoints/")
    [row] = listing.json()["results"]
    assert row["url"].startswith("http://[redacted]@127.0.0.1:") and row["url"].endswith("/hook?[redacted]")
    assert_no_secret(listing.content)

    detail = api.get("/api/v1/endpoints/shop-secret/").json()
    assert detail["url"] == Endpoint.objects.get().url

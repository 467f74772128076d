"""delivery.errors.error_summary: a failed attempt in a sentence for people (pure)."""

import pytest

from delivery.errors import error_summary

CERT_ERROR = (
    "connection to shop.example:443 failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "Hostname mismatch, certificate is not valid for 'shop.example'. (_ssl.c:1000)"
)


@pytest.mark.parametrize(
    ("category", "status", "message", "expected"),
    [
        (
            "network",
            None,
            "connection to 127.0.0.1:9 failed: Connection refused",
            "Connection refused by 127.0.0.1:9",
        ),
        (
            "network",
            None,
            "_PinnedHTTPPool(host='127.0.0.1', port=9): Max retries exceeded with url: /hook "
            "(Caused by NewConnectionError('[Errno 111] Connection refused'))",
            "Connection refused by 127.0.0.1:9",
        ),
        ("timeout", None, "no complete answer within the 15 s deadline", "No answer within 15 s"),
        (
            "timeout",
            None,
            "no connection to shop.example within 3 s",
            "No connection to shop.example within 3 s",
        ),
        ("timeout", None, "", "No answer in time"),
        ("timeout", 408, "HTTP 408", "The shop's app answered 408: it gave up waiting for the request"),
        ("network", None, CERT_ERROR, "TLS certificate not valid for shop.example"),
        (
            "network",
            None,
            "connection to shop.example:443 failed: certificate verify failed: certificate has expired",
            "TLS certificate of shop.example has expired",
        ),
        (
            "network",
            None,
            "DNS lookup failed: [Errno -2] Name or service not known",
            "The shop's address could not be found (DNS)",
        ),
        (
            "network",
            None,
            "connection to 10.0.0.1:443 failed: Connection reset by peer",
            "Connection reset by 10.0.0.1:443",
        ),
        ("network", None, "Server disconnected", "The shop's app closed the connection without answering"),
        (
            "network",
            None,
            "connection to shop.example:443 failed: Network is unreachable",
            "shop.example:443 cannot be reached from here (network unreachable)",
        ),
        (
            "network",
            None,
            "connection to shop.example:443 failed: Bad things",
            "Could not connect to shop.example:443: Bad things",
        ),
        ("network", None, "", "Could not reach the shop's app"),
        ("server_error", 500, "HTTP 500", "The shop's app answered 500"),
        ("server_error", 503, "HTTP 503; response body unreadable: x", "The shop's app answered 503"),
        ("unexpected_status", 999, "HTTP 999", "The shop's app answered 999"),
        ("rate_limited", 429, "HTTP 429", "The shop's app asked us to slow down (429)"),
        (
            "authentication",
            401,
            "HTTP 401",
            "The shop's app refused the request as unauthorised (401): check its signing secret",
        ),
        ("client_error", 400, "HTTP 400", "The shop's app rejected the callback (400)"),
        (
            "redirect",
            301,
            "HTTP 301",
            "The shop's app answered with a redirect (301); redirects are not followed",
        ),
        ("gone", 410, "HTTP 410", "The shop's app says this URL is gone (410): the endpoint was paused"),
        (
            "destination_refused",
            None,
            "resolves to 10.0.0.1 (private)",
            "Not sent: the delivery URL points to a private or local address",
        ),
        (
            "invalid_response",
            None,
            "400, message: Invalid header",
            "The shop's app sent an answer that is not valid HTTP",
        ),
        ("", 200, "", ""),
    ],
)
def test_error_summary(category, status, message, expected):
    assert error_summary(category, status, message) == expected

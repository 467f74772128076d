"""Odd inputs to the API: each one a 4xx in the project's JSON error shape, never a 5xx or an HTML page."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.django_db


def assert_json_refusal(response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"]


@pytest.mark.parametrize(
    "cursor",
    [
        base64.b64encode(b"p=junk").decode(),  # a position that is not an id
        base64.b64encode(b"o=-5&p=1").decode(),  # a negative offset
        base64.b64encode(b"o=99999999999999999999999&p=1").decode(),  # an offset past any integer
        base64.b64encode(b"p=99999999999999999999999").decode(),  # an id past 2^63
        base64.b64encode(b"\xff\xfe").decode(),  # not text
        "%%%",
    ],
)
def test_a_junk_cursor_is_a_400(operator, cursor):
    response = operator.client.get("/api/v1/callbacks/", {"cursor": cursor})
    assert_json_refusal(response, 400)


@pytest.mark.parametrize("path", ["/api/v1/dead-letters/{}/", "/api/v1/callbacks/{}/"])
@pytest.mark.parametrize("number", [2**63, 2**64, 10**30])
def test_an_id_past_the_database_integer_is_a_404(operator, path, number):
    response = operator.client.get(path.format(number))
    assert_json_refusal(response, 404)


@pytest.mark.parametrize("number", [2**63, 10**30])
def test_an_id_past_the_database_integer_in_an_action_is_a_404(operator, number):
    response = operator.post(f"/api/v1/dead-letters/{number}/retry/")
    assert_json_refusal(response, 404)


@pytest.mark.parametrize(
    "value", ["0001-01-01", "0001-01-01T00:00:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00"]
)
@pytest.mark.parametrize(
    "path,name", [("/api/v1/callbacks/", "received_after"), ("/api/v1/dead-letters/", "dead_before")]
)
def test_a_filter_date_at_the_ends_of_the_calendar_is_never_a_5xx(operator, path, name, value):
    response = operator.client.get(path, {name: value})
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    if response.status_code == 400:
        assert_json_refusal(response, 400)


def test_a_body_nested_100_000_levels_is_a_400(operator):
    body = "[" * 100_000 + "]" * 100_000
    response = operator.client.post("/api/v1/dead-letters/retry/", body, content_type="application/json")
    assert_json_refusal(response, 400)


def test_a_nested_filter_in_a_bulk_action_is_a_400(operator):
    body = '{"filter": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}"
    response = operator.client.post("/api/v1/dead-letters/retry/", body, content_type="application/json")
    assert_json_refusal(response, 400)

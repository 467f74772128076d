"""/api/v1/endpoints/: create (secret shown once), read without secrets, change, pause, resume, rotate."""

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from delivery.models import Circuit, CircuitState, Delivery
from tests.support import run_worker
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = "/api/v1/endpoints/"


def test_create_returns_the_secret_and_inbound_path_once_and_never_again(operator, receiver):
    response = operator.post(
        ENDPOINTS,
        {"user_id": "shop9", "url": receiver.url("/nine"), "max_attempts": 5, "default_priority": "high"},
    )
    assert response.status_code == 201, response.content
    created = response.json()
    endpoint = Endpoint.objects.get(user_id="shop9")
    assert created["signing_secret"] == endpoint.signing_secret
    assert created["inbound_path"] == endpoint.inbound_path
    assert (created["max_attempts"], created["default_priority"], created["is_active"]) == (5, "high", True)

    for response in (operator.get(ENDPOINTS), operator.get(f"{ENDPOINTS}shop9/")):
        assert response.status_code == 200
        assert endpoint.signing_secret not in response.text
        assert endpoint.inbound_token not in response.text
        assert "signing_secret" not in response.text


def test_a_second_create_for_the_same_user_is_409_and_changes_nothing(operator, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    response = operator.post(ENDPOINTS, {"user_id": "shop1", "url": "https://other.example/hook"})
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert Endpoint.objects.get().url == endpoint.url


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "shop1", "url": "ftp://nope"}, "url"),
        ({"user_id": "shop1"}, "url"),
        ({"user_id": "shop1", "url": "https://ok.example:99999/"}, "url"),
        ({"user_id": "bad id", "url": "https://ok.example/"}, "user_id"),
        ({"url": "https://ok.example/"}, "user_id"),
        ({"user_id": "shop1", "url": "https://ok.example/", "max_attempts": 0}, "max_attempts"),
        ({"user_id": "shop1", "url": "https://ok.example/", "default_priority": "asap"}, "default_priority"),
        (
            {
                "user_id": "shop1",
                "url": "https://ok.example/",
                "initial_delay_seconds": 60,
                "max_delay_seconds": 5,
            },
            "max_delay_seconds",
        ),
    ],
)
def test_invalid_endpoints_are_400_naming_the_field_and_create_nothing(operator, body, field):
    response = operator.post(ENDPOINTS, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert field in response.json()["detail"]
    assert not Endpoint.objects.exists()


def test_max_in_flight_is_set_on_create_and_defaults_to_the_setting(operator, settings):
    settings.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT = 32
    response = operator.post(ENDPOINTS, {"user_id": "shop1", "url": "https://shop.example/hook"})
    assert response.status_code == 201, response.content
    assert response.json()["max_in_flight"] == 32

    response = operator.post(
        ENDPOINTS, {"user_id": "shop2", "url": "https://shop.example/hook", "max_in_flight": 5}
    )
    assert response.status_code == 201, response.content
    assert response.json()["max_in_flight"] == 5
    assert Endpoint.objects.get(user_id="shop2").max_in_flight == 5
    detail = operator.get(f"{ENDPOINTS}shop2/").json()
    assert detail["max_in_flight"] == 5
    assert "in_flight" in detail  # the live count stays beside the cap


@pytest.mark.parametrize("value", [0, 1001, -1, "many", 2.5, True, None])
def test_a_bad_max_in_flight_is_400_naming_it_and_creates_nothing(operator, value):
    response = operator.post(
        ENDPOINTS, {"user_id": "shop1", "url": "https://ok.example/", "max_in_flight": value}
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert list(response.json()["detail"]) == ["max_in_flight"]
    assert not Endpoint.objects.exists()


def test_a_body_that_is_not_json_is_415_and_malformed_json_400(operator):
    response = operator.client.post(
        ENDPOINTS, "user_id=shop1", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    response = operator.client.post(ENDPOINTS, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert not Endpoint.objects.exists()


def test_patch_changes_only_the_given_settings(operator, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1", max_attempts=3)
    secret = endpoint.signing_secret
    response = operator.patch(
        f"{ENDPOINTS}shop1/", {"max_attempts": 7, "backoff_multiplier": 3, "url": "https://shop.example/new"}
    )
    assert response.status_code == 200, response.content
    endpoint.refresh_from_db()
    assert (endpoint.max_attempts, endpoint.backoff_multiplier, endpoint.url) == (
        7,
        3,
        "https://shop.example/new",
    )
    assert endpoint.signing_secret == secret
    assert response.json()["max_attempts"] == 7


def test_a_patch_changing_the_url_closes_the_endpoints_open_circuit(operator, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    opened = timezone.now()
    Circuit.objects.filter(pk=endpoint.pk).update(
        state=CircuitState.OPEN, consecutive_failures=5, opened_at=opened
    )
    response = operator.patch(f"{ENDPOINTS}shop1/", {"url": "https://shop.example/new"})
    assert response.status_code == 200, response.content
    endpoint.refresh_from_db()
    assert (endpoint.circuit.state, endpoint.circuit.consecutive_failures, endpoint.circuit.opened_at) == (
        CircuitState.CLOSED,
        0,
        None,
    )


def test_an_invalid_patch_is_400_and_changes_nothing(operator, endpoint_factory):
    endpoint_factory(user_id="shop1", max_attempts=3)
    response = operator.patch(f"{ENDPOINTS}shop1/", {"max_attempts": 3000, "timeout_seconds": 9})
    assert response.status_code == 400
    assert "max_attempts" in response.json()["detail"]
    assert (Endpoint.objects.get().max_attempts, Endpoint.objects.get().timeout_seconds) == (3, 5)


def test_patch_changes_max_in_flight_alone_or_refuses_a_bad_one(operator, endpoint_factory):
    endpoint_factory(user_id="shop1", max_attempts=3, max_in_flight=32)
    response = operator.patch(f"{ENDPOINTS}shop1/", {"max_in_flight": 1000})
    assert response.status_code == 200, response.content
    assert response.json()["max_in_flight"] == 1000
    endpoint = Endpoint.objects.get()
    assert (endpoint.max_in_flight, endpoint.max_attempts) == (1000, 3)

    for value in (0, 1001, "lots"):
        response = operator.patch(f"{ENDPOINTS}shop1/", {"max_in_flight": value})
        assert response.status_code == 400
        assert "max_in_flight" in response.json()["detail"]
    assert Endpoint.objects.get().max_in_flight == 1000


def test_pause_keeps_callbacks_waiting_and_resume_delivers_them(
    operator, endpoint_factory, receiver, receive
):
    endpoint_factory(user_id="shop1")
    response = operator.post(f"{ENDPOINTS}shop1/pause/")
    assert (response.status_code, response.json()["is_active"]) == (200, False)
    receive("shop1")
    run_worker()
    assert receiver.requests_to("/hook") == []
    assert Delivery.objects.get().status == Delivery.Status.PENDING

    response = operator.post(f"{ENDPOINTS}shop1/resume/")
    assert (response.status_code, response.json()["is_active"]) == (200, True)
    run_worker()
    assert len(receiver.requests_to("/hook")) == 1
    assert Delivery.objects.get().status == Delivery.Status.DELIVERED


def test_rotate_returns_a_new_secret_that_signs_the_next_delivery(
    operator, endpoint_factory, receiver, receive
):
    old = endpoint_factory(user_id="shop1").signing_secret
    response = operator.post(f"{ENDPOINTS}shop1/rotate-secret/")
    assert response.status_code == 200
    new = response.json()["signing_secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert operator.get(f"{ENDPOINTS}shop1/").json().get("signing_secret") is None
    receive("shop1")
    run_worker()
    [request] = receiver.requests_to("/hook")
    Webhook(new).verify(request.body, request.headers)


def test_a_merchant_key_creates_its_own_endpoint_without_naming_itself(shop_a, receiver):
    response = shop_a.post(ENDPOINTS, {"url": receiver.url("/a")})
    assert response.status_code == 201, response.content
    assert response.json()["user_id"] == "shop_a"
    assert Endpoint.objects.get().user_id == "shop_a"


def test_the_endpoint_list_filters_by_active_and_validates(operator, endpoint_factory):
    endpoint_factory(user_id="on1")
    endpoint_factory(user_id="off1", is_active=False)
    response = operator.get(ENDPOINTS, {"is_active": "false"})
    assert [row["user_id"] for row in response.json()["results"]] == ["off1"]
    response = operator.get(ENDPOINTS, {"is_active": "perhaps"})
    assert response.status_code == 400
    assert "is_active" in response.json()["detail"]

"""/api/v1/queue/ shows /health/queue's numbers; every key has its own rate limit (429 + Retry-After)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from daraja.relay_api.throttling import parse_rate

pytestmark = pytest.mark.django_db(transaction=True)


def test_queue_numbers_are_those_of_health_queue(operator, shop_a, client, endpoint_factory, receive):
    endpoint_factory(user_id="shop1", default_priority=10)
    receive("shop1")
    receive("shop1")
    health = client.get("/health/queue").json()
    for api in (operator, shop_a):
        response = api.get("/api/v1/queue/")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "healthy"
        assert body["queue"]["priorities"]["high"]["waiting"] == 2
        assert body["queue"]["waiting"] == 2
        assert body["queue"]["deliveries"]["pending"] == 2
        for name in ("waiting", "active", "failed", "completed", "scheduled_retries", "dead_letters"):
            assert body["queue"][name] == health["queue"][name]
        assert body["queue"]["priorities"] == health["queue"]["priorities"]
        assert body["queue"]["deliveries"] == health["queue"]["deliveries"]
        assert (body["redis"], body["database"]) == ({"connected": True}, {"connected": True})


def test_a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_do_not(settings, operator, shop_a):
    settings.API_THROTTLE_RATE = "3/min"
    for _ in range(3):
        assert operator.get("/api/v1/queue/").status_code == 200
    response = operator.get("/api/v1/queue/")
    assert response.status_code == 429
    assert response.json()["error"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    # the count is per key
    assert shop_a.get("/api/v1/queue/").status_code == 200


@pytest.mark.parametrize(
    ("rate", "parsed"), [("1200/min", (1200, 60)), ("5/s", (5, 1)), ("10/day", (10, 86400))]
)
def test_rates_parse(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "many/min", "10/fortnight", "0/min", "10"])
def test_a_bad_rate_is_a_configuration_error(rate):
    with pytest.raises(ImproperlyConfigured, match="API_THROTTLE_RATE"):
        parse_rate(rate)

"""One merchant, several destinations: each callback reaches exactly the destinations whose kinds match,
signed with each one's own secret, retried and circuit-broken on its own.

Everything is real: the inbound door, the database, Redis, RQ workers, and a
local HTTP receiver standing in for the merchant's three apps.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from standardwebhooks.webhooks import Webhook

from delivery.models import CircuitState, Delivery
from tests.helpers import MPESA_PAYLOADS, post_callback, stk_body
from tests.support import Reply, run_worker
from webhooks.models import Callback, Endpoint, Merchant

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOADS = MPESA_PAYLOADS


def body_of(name: str, **changes) -> bytes:
    payload = json.loads((PAYLOADS / f"{name}.json").read_text())
    payload.update(changes)
    return json.dumps(payload).encode()


def c2b_confirmation() -> bytes:
    return body_of("c2b_confirmation", TransID=f"T{uuid.uuid4().hex[:9].upper()}")


def b2c_result() -> bytes:
    payload = json.loads((PAYLOADS / "b2c_result_success.json").read_text())
    payload["Result"]["ConversationID"] = f"AG_{uuid.uuid4().hex[:12]}"
    return json.dumps(payload).encode()


def make_merchant(endpoint_factory, receiver, **erp_settings):
    everything = endpoint_factory(user_id="shop3", url=receiver.url("/all"))
    erp = endpoint_factory(
        user_id="shop3", name="erp", url=receiver.url("/erp"), kinds=["c2b_confirmation"], **erp_settings
    )
    shop = endpoint_factory(user_id="shop3", name="shop", url=receiver.url("/shop"), kinds=["stk_callback"])
    return everything, erp, shop


def verified(request, endpoint: Endpoint) -> bool:
    try:
        Webhook(endpoint.signing_secret).verify(request.body, request.headers, json_parse=False)
    except Exception:
        return False
    return True


def test_each_callback_reaches_exactly_the_destinations_whose_kinds_match(client, receiver, endpoint_factory):
    # given a merchant with three apps
    everything, erp, shop = make_merchant(endpoint_factory, receiver)

    # when M-Pesa sends an STK result, a C2B confirmation and a B2C result to its one door
    stk, c2b, b2c = stk_body(f"ws_CO_{uuid.uuid4().hex[:12]}"), c2b_confirmation(), b2c_result()
    for body in (stk, c2b, b2c):
        assert post_callback(client, "shop3", body).status_code == 200
    run_worker()

    # then each callback was kept once and delivered to exactly the matching destinations
    assert Callback.objects.count() == 3
    assert sorted(r.body for r in receiver.requests_to("/all")) == sorted([stk, c2b, b2c])
    assert [r.body for r in receiver.requests_to("/erp")] == [c2b]
    assert [r.body for r in receiver.requests_to("/shop")] == [stk]
    # each signed with its own destination's secret (and not another's), each with its own webhook-id
    for path, endpoint in (("/all", everything), ("/erp", erp), ("/shop", shop)):
        for request in receiver.requests_to(path):
            assert verified(request, endpoint)
            assert not verified(request, everything if endpoint is not everything else erp)
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 5
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.DELIVERED}


def settled(callbacks: int) -> bool:
    """Every delivery of the first ``callbacks`` callbacks is delivered, dead or held (a probe may wait)."""
    return (
        Delivery.objects.count() == 2 * callbacks
        and not Delivery.objects.exclude(
            status__in=[Delivery.Status.DELIVERED, Delivery.Status.DEAD, Delivery.Status.HELD]
        ).exists()
    )


def test_one_failing_destination_retries_and_breaks_its_circuit_alone(
    client, receiver, endpoint_factory, settings
):
    # given a merchant whose ERP is down (one attempt each, the circuit opens after 3 failures)
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    everything, erp, _ = make_merchant(endpoint_factory, receiver, max_attempts=1)
    receiver.script("/erp", *[Reply(status=500)] * 10)

    # when four C2B confirmations arrive, the workers running after each
    for number in range(1, 5):
        post_callback(client, "shop3", c2b_confirmation())
        run_worker(until=lambda n=number: settled(n))

    # then the ERP's circuit opened and holds only its own delivery; the other app got all four
    erp.refresh_from_db()
    everything.refresh_from_db()
    assert erp.circuit.state == CircuitState.OPEN
    assert everything.circuit.state == CircuitState.CLOSED
    assert len(receiver.requests_to("/all")) == 4
    assert len(receiver.requests_to("/erp")) == 3  # the fourth was held, not sent
    assert set(Delivery.objects.filter(endpoint=everything).values_list("status", flat=True)) == {
        Delivery.Status.DELIVERED
    }
    erp_statuses = list(Delivery.objects.filter(endpoint=erp).order_by("pk").values_list("status", flat=True))
    assert erp_statuses == [Delivery.Status.DEAD] * 3 + [Delivery.Status.HELD]


def test_a_callback_no_destination_receives_is_kept_and_visible_with_no_delivery(client, endpoint_factory):
    # given a merchant whose only app takes C2B confirmations
    endpoint_factory(user_id="shop-c2b", kinds=["c2b_confirmation"])

    # when an STK result arrives
    response = post_callback(client, "shop-c2b")

    # then M-Pesa was told it was accepted, and it is kept, with no delivery
    assert response.status_code == 200
    callback = Callback.objects.get()
    assert callback.kind == "stk_callback"
    assert not callback.deliveries.exists()


def test_a_repeat_of_a_fanned_out_callback_is_delivered_to_nobody_again(client, receiver, endpoint_factory):
    make_merchant(endpoint_factory, receiver)
    body = c2b_confirmation()
    post_callback(client, "shop3", body)
    post_callback(client, "shop3", body)
    run_worker()

    assert Callback.objects.get().duplicate_count == 1
    assert Delivery.objects.count() == 2  # /all and /erp, once each
    assert len(receiver.requests) == 2


def test_c2b_validation_goes_to_the_one_destination_marked_for_it(client, receiver, endpoint_factory):
    # given a merchant whose ERP answers C2B validation, and two other apps
    _, erp, _ = make_merchant(endpoint_factory, receiver)
    Endpoint.objects.filter(pk=erp.pk).update(validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(body=b'{"ResultCode": "C2B00012", "ResultDesc": "Bad account"}'))

    # when M-Pesa asks
    response = client.generic(
        "POST",
        Merchant.objects.get(user_id="shop3").inbound_path + "/c2b-validation",
        body_of("c2b_validation"),
        "application/json",
    )
    run_worker()

    # then the ERP's answer went back to M-Pesa, and no other app was asked or notified
    assert response.json() == {"ResultCode": "C2B00012", "ResultDesc": "Bad account"}
    assert [r.path for r in receiver.requests] == ["/validate"]


def test_only_one_destination_of_a_merchant_may_answer_validation(endpoint_factory, receiver):
    from django.core.exceptions import ValidationError

    from webhooks.services import endpoint_create_or_update

    endpoint_create_or_update(
        user_id="shop-v", url="https://a.example/hook", validation_url="https://a.example/v"
    )
    with pytest.raises(ValidationError, match="already answers C2B validation"):
        endpoint_create_or_update(
            user_id="shop-v",
            destination="erp",
            url="https://b.example/hook",
            validation_url="https://b.example/v",
        )
    assert list(Endpoint.objects.filter(user_id="shop-v").values_list("name", flat=True)) == ["main"]


# --- the add_endpoint command ----------------------------------------------------------------------


def add_endpoint(*args) -> dict:
    from io import StringIO

    out = StringIO()
    call_command("add_endpoint", *args, stdout=out)
    return json.loads(out.getvalue())


def test_add_endpoint_adds_a_destination_with_its_kinds_to_an_existing_merchant():
    first = add_endpoint("shop-tools", "--url", "https://shop.example/hook")
    erp = add_endpoint(
        "shop-tools",
        "--destination",
        "erp",
        "--url",
        "https://erp.example/hook",
        "--kinds",
        "c2b_confirmation,b2c_result",
    )

    assert (first["destination"], first["kinds"]) == ("main", ["all"])
    assert (erp["destination"], erp["kinds"], erp["created"]) == (
        "erp",
        ["c2b_confirmation", "b2c_result"],
        True,
    )
    assert erp["inbound_path"] == first["inbound_path"]  # one door for the merchant
    assert erp["signing_secret"] != first["signing_secret"]  # each destination its own secret
    assert erp["destinations"] == ["main", "erp"]
    assert Merchant.objects.filter(user_id="shop-tools").count() == 1


def test_add_endpoint_refuses_an_unknown_kind_and_changes_nothing():
    with pytest.raises(CommandError, match="unknown callback kind 'stk'"):
        add_endpoint("shop-bad", "--url", "https://shop.example/hook", "--kinds", "stk")
    assert not Merchant.objects.exists()

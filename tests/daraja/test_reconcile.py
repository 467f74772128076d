"""``manage.py reconcile``: received = delivered + dead + pending (+ …), non-zero exit when not."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from tests.helpers import MPESA_PAYLOADS, post_callback, stk_body
from tests.support import Reply, run_worker
from webhooks.models import Callback, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def reconcile(*args) -> tuple[dict, str | None]:
    """The command's JSON, and its error message when it exited non-zero."""
    out = io.StringIO()
    try:
        call_command("reconcile", "--json", *args, stdout=out)
    except CommandError as error:
        return json.loads(out.getvalue()), str(error)
    return json.loads(out.getvalue()), None


def receive(client, body: bytes | None = None) -> Delivery:
    assert post_callback(client, "shop1", body).status_code == 200
    return Delivery.objects.order_by("-pk").first()


@pytest.fixture
def shop(endpoint_factory):
    return endpoint_factory(user_id="shop1", max_attempts=2, initial_delay_seconds=0.1)


def test_every_state_adds_up_to_what_was_received(client, receiver, shop):
    # given callbacks that were delivered, gave up, are retrying, pending, held and in flight
    receiver.script("/hook", Reply(status=200), Reply(status=404))
    receive(client)
    receive(client)
    run_worker()
    retrying, _pending, held, delivering = (receive(client) for _ in range(4))
    Delivery.objects.filter(pk=retrying.pk).update(status="retrying", next_attempt_at=timezone.now())
    Delivery.objects.filter(pk=held.pk).update(status="held")
    Delivery.objects.filter(pk=delivering.pk).update(
        status="delivering", started_delivering_at=timezone.now()
    )
    # and one repeat of an earlier callback, absorbed
    body = stk_body("ws_CO_repeated")
    receive(client, body)
    receive(client, body)
    # when
    result, error = reconcile()
    # then
    assert error is None
    assert result["ok"] is True
    assert result["received"] == 7
    assert result["states"] == {
        "delivered": 1,
        "dead": 1,
        "pending": 2,
        "retrying": 1,
        "held": 1,
        "delivering": 1,
    }
    assert (result["without_delivery"], result["unaccounted"], result["problems"]) == (0, 0, [])
    assert result["duplicates_absorbed"] == 1


def test_the_text_report_shows_the_sum(client, shop):
    receive(client)
    out = io.StringIO()
    call_command("reconcile", stdout=out)
    text = out.getvalue()
    assert "received 1 = delivered 0 + dead 0 + pending 1 + retrying 0 + held 0 + delivering 0" in text
    assert "unaccounted for: 0" in text


def test_only_callbacks_received_in_the_window_count(client, shop):
    old = receive(client)
    Callback.objects.filter(pk=old.callback_id).update(received_at=timezone.now() - timedelta(days=3))
    receive(client)
    assert reconcile("--since", "24h")[0]["received"] == 1
    assert reconcile("--since", "7d")[0]["received"] == 2
    until = (timezone.now() - timedelta(days=1)).isoformat()
    assert reconcile("--since", "7d", "--until", until)[0]["received"] == 1


def test_a_callback_without_a_delivery_is_unaccounted_for_and_the_exit_is_non_zero(client, shop):
    lonely = receive(client)
    Delivery.objects.filter(pk=lonely.pk).delete()
    receive(client)
    result, error = reconcile()
    assert error == "1 callback(s) unaccounted for."
    assert (result["ok"], result["received"], result["without_delivery"], result["unaccounted"]) == (
        False,
        2,
        1,
        1,
    )
    assert result["problems"] == [
        {"callback": lonely.callback_id, "delivery": None, "problem": "callback without a delivery"}
    ]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"status": "delivered"}, "delivered without a successful attempt"),
        ({"status": "dead"}, "dead without a dead letter"),
        ({"status": "retrying", "next_attempt_at": None}, "retrying without a next attempt time"),
        ({"status": "delivering", "started_delivering_at": None}, "delivering without a start time"),
        ({"attempt_count": 2}, "attempt rows do not match its attempt count"),
        ({"status": "lost"}, "unknown delivery status"),
    ],
)
def test_a_delivery_in_an_impossible_state_is_unaccounted_for(client, shop, changes, problem):
    broken = receive(client)
    Delivery.objects.filter(pk=broken.pk).update(**changes)
    result, error = reconcile()
    assert error == "1 callback(s) unaccounted for."
    assert result["unaccounted"] == 1
    assert result["problems"] == [{"callback": broken.callback_id, "delivery": broken.pk, "problem": problem}]


def test_a_purged_dead_letter_still_accounts_for_its_dead_delivery(client, receiver, shop):
    receiver.default = Reply(status=404)
    dead = receive(client)
    run_worker()
    DeadLetter.objects.filter(delivery=dead).update(resolution="purged", resolved_at=timezone.now())
    result, error = reconcile()
    assert (error, result["states"]["dead"]) == (None, 1)
    assert DeliveryAttempt.objects.filter(delivery=dead).count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since must be a duration ago"),
        (["--since", "2025-13-40"], "--since must be a duration ago"),
        (["--until", "5x"], "--until must be a duration ago"),
        (["--since", "1h", "--until", "2h"], "must be before --until"),
        (["--limit", "-1"], "--limit cannot be negative"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("reconcile", *args, stdout=io.StringIO())


def test_a_c2b_validation_answered_through_its_url_is_accounted_for_as_validated(client, receiver, shop):
    # given a validation answered by the merchant's validation URL (an exchange, no delivery) and a payment
    Endpoint.objects.filter(pk=shop.pk).update(validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(body=b'{"ResultCode": 0}'))
    body = (MPESA_PAYLOADS / "c2b_validation.json").read_bytes()
    shop.refresh_from_db()
    client.generic("POST", shop.inbound_path + "/c2b-validation", body, "application/json")
    receive(client)
    # when
    result, error = reconcile()
    # then the validation counts as validated, and nothing is unaccounted for
    assert error is None
    assert (result["received"], result["validated"], result["states"]["pending"]) == (2, 1, 1)
    assert (result["without_delivery"], result["unaccounted"], result["problems"]) == (0, 0, [])

"""``manage.py prune``: on a populated database, exactly the delivered callbacks past the window go."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from daraja.management.commands.prune import prunable_callbacks, prune_batch
from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from tests.ops import rows
from tests.ops.live import REPO
from webhooks.models import Callback

pytestmark = pytest.mark.django_db

DELIVERED, DEAD = Delivery.Status.DELIVERED, Delivery.Status.DEAD


@pytest.fixture
def population(endpoint_factory):
    """Callbacks in every situation prune must tell apart; returns ``{name: callback id}``."""
    endpoint = endpoint_factory()
    made = {}

    def add(name, days, *statuses, letters=(), attempts=2):
        callback = rows.callback(endpoint, received_at=rows.days_ago(days))
        for status in statuses:
            delivery = rows.delivery(callback, status=status)
            for number in range(1, attempts + 1):
                rows.attempt(delivery, number)
            for resolution in letters:
                rows.dead_letter(delivery, resolved=resolution)
        made[name] = callback.pk

    add("old delivered", 40, DELIVERED)
    add("old delivered 2", 35, DELIVERED, attempts=1)
    add("old delivered after a dead-letter retry", 45, DELIVERED, letters=[DeadLetter.Resolution.RETRIED])
    add("old dead, open letter", 40, DEAD, letters=[""])
    add("old dead, purged letter", 40, DEAD, letters=[DeadLetter.Resolution.PURGED])
    add("old retrying", 40, Delivery.Status.RETRYING)
    add("old pending", 40, Delivery.Status.PENDING, attempts=0)
    add("old held", 40, Delivery.Status.HELD)
    add("old in flight", 40, Delivery.Status.DELIVERING)
    add("old, one of two deliveries held", 40, DELIVERED, Delivery.Status.HELD)
    add("old delivered yet an open letter", 40, DELIVERED, letters=[""])
    add("old, no delivery", 40)
    add("recent delivered", 10, DELIVERED)
    return made


REMOVED = {"old delivered", "old delivered 2", "old delivered after a dead-letter retry"}


def prune(*args) -> str:
    out = StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def remaining(population) -> set[str]:
    kept = set(Callback.objects.values_list("pk", flat=True))
    return {name for name, pk in population.items() if pk in kept}


def test_removes_only_delivered_callbacks_past_the_window_with_their_rows(population):
    # given
    removed_ids = [population[name] for name in REMOVED]
    kept_deliveries = Delivery.objects.exclude(callback_id__in=removed_ids).count()
    kept_attempts = DeliveryAttempt.objects.exclude(delivery__callback_id__in=removed_ids).count()
    kept_letters = DeadLetter.objects.exclude(callback_id__in=removed_ids).count()
    # when
    output = prune("--older-than", "30")
    # then
    assert remaining(population) == set(population) - REMOVED
    assert output.startswith("Removed 3 callbacks, 3 deliveries, 5 attempts, 1 resolved dead letters")
    assert "more than 30 days ago" in output
    assert Delivery.objects.count() == kept_deliveries
    assert DeliveryAttempt.objects.count() == kept_attempts
    assert DeadLetter.objects.count() == kept_letters
    assert not Delivery.objects.filter(callback_id__in=removed_ids).exists()


def test_a_dry_run_counts_the_same_and_removes_nothing(population):
    before = (Callback.objects.count(), DeliveryAttempt.objects.count())
    output = prune("--older-than", "30", "--dry-run")
    assert output.startswith("Would remove 3 callbacks, 3 deliveries, 5 attempts, 1 resolved dead letters")
    assert "dry run, nothing deleted" in output
    assert (Callback.objects.count(), DeliveryAttempt.objects.count()) == before


def test_small_batches_remove_the_same(population):
    output = prune("--older-than", "30", "--batch-size", "1", "-v", "2")
    assert remaining(population) == set(population) - REMOVED
    assert output.count("  batch: ") == 3
    assert "Removed 3 callbacks" in output


def test_the_window_defaults_to_retention_days(population, settings):
    settings.RETENTION_DAYS = 38
    prune()
    assert remaining(population) == set(population) - {
        "old delivered after a dead-letter retry",
        "old delivered",
    }
    settings.RETENTION_DAYS = 7
    prune()
    assert remaining(population) == set(population) - REMOVED - {"recent delivered"}


def test_a_delivery_that_changes_state_between_selection_and_delete_is_kept(population):
    # The batch is checked again under lock: a delivery re-queued meanwhile keeps its callback.
    batch = prunable_callbacks(received_before=rows.days_ago(30), after_pk=0, limit=10)
    assert set(batch) == {population[name] for name in REMOVED}
    Delivery.objects.filter(callback_id=population["old delivered"]).update(status=Delivery.Status.PENDING)
    counts = prune_batch(batch, dry_run=False)
    assert counts.callbacks == 2
    assert "old delivered" in remaining(population)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "0"], "at least 1 day"),
        (["--older-than", "2"], "inside the duplicate window"),
        (["--older-than", "30", "--batch-size", "0"], "--batch-size must be between 1 and 10000"),
    ],
)
def test_bad_arguments_exit_with_a_message_and_change_nothing(population, args, message):
    before = Callback.objects.count()
    with pytest.raises(CommandError, match=message):
        prune(*args)
    assert Callback.objects.count() == before


def test_the_command_exits_non_zero_from_the_shell(population):
    done = subprocess.run(
        [sys.executable, "manage.py", "prune", "--older-than", "0"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "at least 1 day" in done.stderr


# --- personal data of what is kept: erased after DEAD_LETTER_RETENTION_DAYS ----------------------

PHONE_PAYLOAD = {
    "Body": {"stkCallback": {"CallbackMetadata": {"Item": [{"Name": "PhoneNumber", "Value": 254708374149}]}}}
}
RAW = b'{"PhoneNumber": 254708374149}'


@pytest.fixture
def old_population(endpoint_factory):
    """Callbacks past the dead-letter window in every situation, stored before masking at the door."""
    endpoint = endpoint_factory()
    made = {}

    def add(name, days, *statuses, letters=()):
        callback = rows.callback(
            endpoint,
            received_at=rows.days_ago(days),
            raw_body=RAW,
            payload=PHONE_PAYLOAD,
            receipt_number=f"R{len(made)}",
        )
        for status in statuses:
            delivery = rows.delivery(callback, status=status)
            rows.attempt(delivery, 1)
            for resolution in letters:
                rows.dead_letter(delivery, resolved=resolution)
        made[name] = callback.pk

    add("old dead, open letter", 100, DEAD, letters=[""])
    add("old dead, purged letter", 100, DEAD, letters=[DeadLetter.Resolution.PURGED])
    add("old, no delivery", 100)
    Callback.objects.filter(pk=made["old, no delivery"]).update(
        payload={"MSISDN": "254708374149", "FirstName": "John", "TransID": "LGR219G3EY"}
    )
    add("old held", 100, Delivery.Status.HELD)
    add("old retrying", 100, Delivery.Status.RETRYING)
    add("old, one of two deliveries pending", 100, DEAD, Delivery.Status.PENDING, letters=[""])
    add("recent dead, open letter", 60, DEAD, letters=[""])
    return made


ERASED = {"old dead, open letter", "old dead, purged letter", "old, no delivery"}


def erased(population) -> set[str]:
    empty = {pk for pk, body in Callback.objects.values_list("pk", "raw_body") if not bytes(body)}
    return {name for name, pk in population.items() if pk in empty}


def test_finished_callbacks_past_the_dead_letter_window_lose_their_raw_body_and_full_phone(old_population):
    # when prune runs with the default windows (30 days delivered, 90 days the rest)
    output = prune()

    # then the dead-lettered and never-delivered ones past 90 days keep no body and no full number...
    assert erased(old_population) == ERASED
    assert "Erased the raw body of 3 finished callbacks received more than 90 days ago" in output
    for name in ERASED - {"old, no delivery"}:
        callback = Callback.objects.get(pk=old_population[name])
        assert "254708374149" not in str(callback.payload)
        assert (
            callback.payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] == "2547*****149"
        )
        assert callback.receipt_number  # the masked facts stay: support still finds the payment
    assert Callback.objects.get(pk=old_population["old, no delivery"]).payload == {
        "MSISDN": "2547*****149",
        "FirstName": "",
        "TransID": "LGR219G3EY",
    }
    # ...their open dead letter is purged (nothing is left to send), and what may still be sent keeps its body
    letter = DeadLetter.objects.get(callback_id=old_population["old dead, open letter"])
    assert letter.resolution == DeadLetter.Resolution.PURGED
    for name in set(old_population) - ERASED:
        assert bytes(Callback.objects.get(pk=old_population[name]).raw_body) == RAW
    assert "1 open dead letters purged" in output


def test_the_erase_window_is_configurable_and_a_dry_run_erases_nothing(old_population, settings):
    output = prune("--erase-older-than", "50", "--dry-run")
    assert "Would erase the raw body of 4 finished callbacks received more than 50 days ago" in output
    assert erased(old_population) == set()

    settings.DEAD_LETTER_RETENTION_DAYS = 50
    prune()
    assert erased(old_population) == ERASED | {"recent dead, open letter"}
    with pytest.raises(CommandError, match="--erase-older-than must be at least 1 day"):
        prune("--erase-older-than", "0")

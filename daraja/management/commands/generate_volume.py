"""``manage.py generate_volume``: fill a scratch database with realistic volume for a local check of
the admin's speed (100,000 callbacks and 10,000 dead letters take well under a minute on SQLite).

Rows are written with ``bulk_create`` in batches, straight to the database: no Redis, no
HTTP, no jobs. Every callback gets one delivery with its attempts; the first
``--dead-letters`` deliveries end dead with an open dead letter, the rest are mostly
delivered, some still retrying. Times are spread over the last ``--days`` days.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from daraja.core.error_categories import ErrorCategory
from deadletter.models import DeadLetter
from delivery.models import Circuit, Delivery, DeliveryAttempt
from delivery.priority import Priority, PriorityReason
from webhooks.models import Callback, Endpoint, Merchant
from webhooks.mpesa import CallbackKind

# (category, HTTP status, attempts made): how the generated dead letters gave up.
FAILURES = [
    (ErrorCategory.SERVER_ERROR, 503, 3),
    (ErrorCategory.SERVER_ERROR, 500, 3),
    (ErrorCategory.TIMEOUT, None, 3),
    (ErrorCategory.NETWORK, None, 3),
    (ErrorCategory.CLIENT_ERROR, 404, 1),
    (ErrorCategory.AUTHENTICATION, 401, 1),
    (ErrorCategory.RATE_LIMITED, 429, 3),
]
Outcome = DeliveryAttempt.Outcome


def _stk_payload(tag: str, index: int, amount: int, phone_tail: str) -> dict:
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": f"{tag}-{index}",
                "CheckoutRequestID": f"ws_CO_{tag}{index:07d}",
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": amount},
                        {"Name": "MpesaReceiptNumber", "Value": f"V{tag}{index:07d}".upper()},
                        {"Name": "TransactionDate", "Value": 20251219102115},
                        {"Name": "PhoneNumber", "Value": int(f"254708374{phone_tail}")},
                    ]
                },
            }
        }
    }


def _callback(endpoint, tag: str, index: int, received_at, rng: random.Random) -> Callback:
    amount = rng.choice([10, 50, 100, 250, 1000, 2500, 15000])
    phone_tail = f"{index % 1000:03d}"
    payload = _stk_payload(tag, index, amount, phone_tail)
    return Callback(
        merchant=endpoint.merchant,
        raw_body=json.dumps(payload).encode(),
        payload=payload,
        headers={"Content-Type": "application/json"},
        source_ip="196.201.214.200",
        received_at=received_at,
        kind=CallbackKind.STK_CALLBACK,
        result_code="0",
        result_description="The service request is processed successfully.",
        is_success=True,
        amount=amount,
        receipt_number=f"V{tag}{index:07d}".upper(),
        checkout_request_id=f"ws_CO_{tag}{index:07d}",
        merchant_request_id=f"{tag}-{index}",
        phone_number_masked=f"2547*****{phone_tail}",
        correlation_id=f"ws_CO_{tag}{index:07d}",
    )


def _attempt(delivery, number, started, status, category, outcome, next_at=None) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery=delivery,
        attempt_number=number,
        cycle=1,
        started_at=started,
        duration_ms=35 + number * 7,
        response_status=status,
        response_excerpt=""
        if status is None
        else ('{"ok": true}' if status < 300 else "Service unavailable"),
        error_category=category or "",
        error_message="" if category is None else f"{category}: HTTP {status or 'no answer'}",
        outcome=outcome,
        next_attempt_at=next_at,
    )


def _dead(delivery, callback, index: int, at) -> tuple[list[DeliveryAttempt], DeadLetter]:
    category, status, tries = FAILURES[index % len(FAILURES)]
    attempts = []
    for number in range(1, tries + 1):
        last = number == tries
        next_at = None if last else at + timedelta(seconds=2**number)
        outcome = Outcome.DEAD_LETTERED if last else Outcome.RETRY_SCHEDULED
        attempts.append(_attempt(delivery, number, at, status, category, outcome, next_at))
        at = next_at or at
    delivery.attempt_count = delivery.cycle_attempt_count = tries
    delivery.last_error_category, delivery.last_response_status = category, status
    letter = DeadLetter(
        delivery=delivery,
        endpoint_id=delivery.endpoint_id,
        callback=callback,
        error_category=category,
        last_error=f"{category}: HTTP {status or 'no answer'}",
        last_response_status=status,
        attempts=tries,
        dead_at=at,
    )
    return attempts, letter


def _retrying(delivery, at, now) -> list[DeliveryAttempt]:
    next_at = now + timedelta(minutes=5)
    delivery.attempt_count = delivery.cycle_attempt_count = 1
    delivery.next_attempt_at = next_at
    delivery.last_error_category, delivery.last_response_status = ErrorCategory.SERVER_ERROR, 503
    return [_attempt(delivery, 1, at, 503, ErrorCategory.SERVER_ERROR, Outcome.RETRY_SCHEDULED, next_at)]


def _delivered(delivery, at, rng: random.Random) -> list[DeliveryAttempt]:
    attempts = []
    if rng.random() < 0.1:  # one in ten needed a retry first
        retry_at = at + timedelta(seconds=2)
        attempts.append(
            _attempt(delivery, 1, at, 503, ErrorCategory.SERVER_ERROR, Outcome.RETRY_SCHEDULED, retry_at)
        )
        at = retry_at
    attempts.append(_attempt(delivery, len(attempts) + 1, at, 200, None, Outcome.DELIVERED))
    delivery.attempt_count = delivery.cycle_attempt_count = len(attempts)
    delivery.delivered_at = at
    return attempts


PRIORITIES = [Priority.NORMAL] * 6 + [Priority.HIGH, Priority.URGENT, Priority.LOW]


def _batch(users, tag, indexes, dead_letters, days, now, rng) -> dict[str, int]:
    rows, deliveries, attempts, letters = [], [], [], []
    for i in indexes:
        received_at = now - timedelta(seconds=rng.uniform(0, days * 86400))
        endpoint = users[i % len(users)]
        callback = _callback(endpoint, tag, i, received_at, rng)
        delivery = Delivery(
            callback=callback,
            endpoint=endpoint,
            priority=rng.choice(PRIORITIES),
            priority_reason=PriorityReason.ENDPOINT_DEFAULT,
        )
        at = received_at + timedelta(milliseconds=50)
        # The delivery's final state is set before it is written: one INSERT, no UPDATE.
        if i < dead_letters:
            delivery.status = Delivery.Status.DEAD
            made, letter = _dead(delivery, callback, i, at)
            letters.append(letter)
        elif rng.random() < 0.03:
            delivery.status = Delivery.Status.RETRYING
            made = _retrying(delivery, at, now)
        else:
            delivery.status = Delivery.Status.DELIVERED
            made = _delivered(delivery, at, rng)
        rows.append(callback)
        deliveries.append(delivery)
        attempts.extend(made)
    Callback.objects.bulk_create(rows)
    Delivery.objects.bulk_create(deliveries)
    DeliveryAttempt.objects.bulk_create(attempts)
    DeadLetter.objects.bulk_create(letters)
    return {
        "callbacks": len(rows),
        "deliveries": len(deliveries),
        "attempts": len(attempts),
        "dead_letters": len(letters),
    }


def generate_volume(
    *, callbacks: int, dead_letters: int, endpoints: int = 50, days: float = 7, batch_size: int = 5000, seed=1
) -> dict[str, int]:
    """Write ``callbacks`` callbacks (each with a delivery and its attempts) for ``endpoints`` new
    users, ``dead_letters`` of them dead-lettered; returns how many rows of each kind were written."""
    if dead_letters > callbacks:
        raise ValueError("there cannot be more dead letters than callbacks (one per dead delivery)")
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    tag = uuid.uuid4().hex[:6]
    now = timezone.now()
    merchants = Merchant.objects.bulk_create(
        Merchant(user_id=f"vol-{tag}-{n}") for n in range(max(endpoints, 1))
    )
    users = Endpoint.objects.bulk_create(
        Endpoint(merchant=merchant, user_id=merchant.user_id, url=f"https://shop{n}.example/mpesa")
        for n, merchant in enumerate(merchants)
    )
    Circuit.objects.bulk_create(Circuit(endpoint=user) for user in users)  # bulk_create skips post_save
    written = {"endpoints": len(users), "callbacks": 0, "deliveries": 0, "attempts": 0, "dead_letters": 0}
    for start in range(0, callbacks, batch_size):
        indexes = range(start, min(start + batch_size, callbacks))
        with transaction.atomic():
            counts = _batch(users, tag, indexes, dead_letters, days, now, rng)
        for name, count in counts.items():
            written[name] += count
    return written


class Command(BaseCommand):
    help = "Fill a scratch database with callbacks, deliveries, attempts and dead letters (bulk, fast)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--callbacks", type=int, default=100_000, help="Callbacks to write (default 100000)."
        )
        parser.add_argument(
            "--dead-letters",
            type=int,
            default=10_000,
            help="How many of them end dead-lettered (default 10000).",
        )
        parser.add_argument(
            "--endpoints", type=int, default=50, help="New users to spread them over (default 50)."
        )
        parser.add_argument(
            "--days", type=float, default=7, help="Spread over this many past days (default 7)."
        )
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **options):
        for name in ("callbacks", "dead_letters", "endpoints", "batch_size"):
            if options[name] < (1 if name in ("endpoints", "batch_size") else 0):
                raise CommandError(f"--{name.replace('_', '-')} must be a positive number.")
        if options["days"] <= 0:
            raise CommandError("--days must be more than 0.")
        if options["dead_letters"] > options["callbacks"]:
            raise CommandError("--dead-letters cannot be more than --callbacks (one per dead delivery).")
        started = time.monotonic()
        written = generate_volume(
            callbacks=options["callbacks"],
            dead_letters=options["dead_letters"],
            endpoints=options["endpoints"],
            days=options["days"],
            batch_size=options["batch_size"],
        )
        seconds = time.monotonic() - started
        summary = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in written.items())
        self.stdout.write(self.style.SUCCESS(f"Wrote {summary} in {seconds:.1f} s."))

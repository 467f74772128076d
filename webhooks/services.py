"""Writes on merchants, their destinations (``Endpoint``) and callbacks."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from daraja.core.bulk import insert_rows
from daraja.core.runtime import PerProcess
from delivery.circuit import circuit_close, circuit_reset
from delivery.models import Delivery
from delivery.services import deliveries_create, endpoint_release_waiting
from webhooks.duplicates import RepeatKey, find_originals, record_duplicates, repeat_key
from webhooks.group_commit import GroupCommitter
from webhooks.group_write import callbacks_write, deliveries_of
from webhooks.inbound_tokens import generate_inbound_token
from webhooks.models import MAIN_DESTINATION, Callback, Endpoint, Merchant, storable_amount
from webhooks.received import Kept, ReceivedCallback, Route
from webhooks.selectors import main_destination
from webhooks.signing_secrets import generate_signing_secret

logger = logging.getLogger(__name__)


def callback_receive(received: ReceivedCallback) -> Kept:
    """Keep a callback and a pending delivery per destination that receives it; wake the workers after commit.

    When this returns, the callback is in the database: M-Pesa may be told
    it was accepted whatever happens to Redis afterwards. Callbacks arriving
    at the same time in one process share a transaction (``webhooks.group_commit``);
    called inside a transaction, the callback is kept in that one, on its own.
    A repeat of a callback already received (see ``webhooks.duplicates``) is
    only counted on the original, and the original's deliveries are returned:
    it is not delivered again. A callback none of ``destinations`` receives is
    kept all the same, with no delivery.
    """
    if transaction.get_connection().in_atomic_block:
        # Inside a caller's transaction, nothing is committed when we return: a group led from here
        # would answer other requests before their callbacks are durable. Keep this one alone, in it.
        (kept,) = callbacks_keep([received])
    else:
        kept = inbound_committer.get().submit(received)
    _log_kept(received, kept)
    return kept


def callbacks_keep(received: Sequence[ReceivedCallback]) -> list[Kept]:
    """Keep callbacks and their deliveries in one transaction; one ``Kept`` per callback, in order.

    On Postgres one statement does it all (``webhooks.group_write``). Elsewhere
    one query finds the originals of repeats (earlier callbacks, or an earlier
    one of this group); the new callbacks and their deliveries are written
    with one multi-row INSERT each. Either way the workers are woken after
    the commit.
    """
    keys = [repeat_key(item.merchant.pk, item.facts) for item in received]
    routes = [item.routes() for item in received]
    with transaction.atomic():
        if transaction.get_connection().vendor == "postgresql":
            written = callbacks_write(received, keys, routes)
        else:
            written = _callbacks_keep_orm(received, keys, routes)
    return [
        Kept(
            callback_id=callback_id,
            deliveries=tuple(deliveries),
            repeat_of=repeat_of,
            routes=() if repeat_of is not None else tuple(item_routes),
        )
        for (deliveries, callback_id, repeat_of), item_routes in zip(written, routes, strict=True)
    ]


def _callbacks_keep_orm(
    received: Sequence[ReceivedCallback],
    keys: list[RepeatKey | None],
    routes: list[list[Route]],
) -> list[tuple[list[Delivery], int, int | None]]:
    originals = find_originals(key for key in keys if key)
    fresh: list[int] = []  # positions of the callbacks that repeat nothing
    first_of_key: dict[RepeatKey, int] = {}
    repeats: dict[int, int] = {}  # position → position of the first callback of its key in this group
    for position, key in enumerate(keys):
        if key is not None and key in originals:
            continue
        if key is not None and key in first_of_key:
            repeats[position] = first_of_key[key]
            continue
        fresh.append(position)
        if key is not None:
            first_of_key[key] = position
    callbacks = insert_rows(Callback, [callback_build(received[p]) for p in fresh])
    pairs = [(p, callback) for p, callback in zip(fresh, callbacks, strict=True)]
    deliveries = iter(
        deliveries_create(
            [(callback, route.destination, route.decision) for p, callback in pairs for route in routes[p]]
        )
    )
    kept: dict[int, tuple[list[Delivery], int, int | None]] = {
        p: ([next(deliveries) for _ in routes[p]], callback.pk, None) for p, callback in pairs
    }
    earlier = {p: originals[key] for p, key in enumerate(keys) if key is not None and key in originals}
    earlier_deliveries = deliveries_of(set(earlier.values()))
    for position, callback_id in earlier.items():
        kept[position] = (earlier_deliveries.get(callback_id, []), callback_id, callback_id)
    for position, first in repeats.items():
        first_deliveries, callback_id, _ = kept[first]
        kept[position] = (first_deliveries, callback_id, callback_id)
    record_duplicates(Counter(kept[p][2] for p in [*earlier, *repeats]))
    return [kept[position] for position in range(len(received))]


def _inbound_committer_build() -> GroupCommitter[ReceivedCallback, Kept]:
    return GroupCommitter(
        callbacks_keep,
        max_group=settings.INBOUND_COMMIT_GROUP_MAX,
        retry_alone_on=(IntegrityError, DataError),
    )


# One per process: the web threads' callbacks, committed in groups.
inbound_committer: PerProcess[GroupCommitter[ReceivedCallback, Kept]] = PerProcess(
    "inbound group committer", _inbound_committer_build, rebuilt_when=("INBOUND_COMMIT_GROUP_MAX",)
)


def _log_kept(item: ReceivedCallback, kept: Kept) -> None:
    facts = item.facts
    user_id = item.merchant.user_id
    if kept.repeat_of is not None:
        logger.info(
            "🔁 Duplicate %s %s for %s absorbed (first received as callback %s)",
            facts.kind,
            facts.correlation_id,
            user_id,
            kept.repeat_of,
        )
        return
    if not kept.deliveries:
        logger.info(
            "📦 Callback %s (%s) received for %s, kept: no destination of theirs receives %s",
            kept.callback_id,
            facts.kind,
            user_id,
            facts.kind,
        )
        return
    queued = ", ".join(
        f"{delivery.pk} ({route.decision.priority.queue_name}: {route.decision.reason})"
        if route.destination.name == MAIN_DESTINATION
        else f"{delivery.pk} to {route.destination.name} ({route.decision.priority.queue_name}: "
        f"{route.decision.reason})"
        for delivery, route in zip(kept.deliveries, kept.routes, strict=True)
    )
    logger.info(
        "📦 Callback %s (%s) received for %s, queued as %s %s",
        kept.callback_id,
        facts.kind,
        user_id,
        "delivery" if len(kept.deliveries) == 1 else "deliveries",
        queued,
    )


def callback_create(*, merchant: Merchant, **request: Any) -> Callback:
    """Store a callback with the facts read from it, and no delivery (call inside a transaction).

    ``request`` is what ``ReceivedCallback`` holds of the request: ``raw_body``,
    ``payload``, ``headers``, ``source_ip`` and ``facts``.
    """
    callback = callback_build(ReceivedCallback(merchant=merchant, destinations=(), **request))
    callback.save(force_insert=True)
    return callback


def callback_build(item: ReceivedCallback) -> Callback:
    """The unsaved callback row of ``item``, received now, with the facts read from it."""
    facts = item.facts
    return Callback(
        merchant=item.merchant,
        raw_body=item.raw_body,
        payload=item.payload,
        headers=item.headers,
        source_ip=item.source_ip,
        received_at=timezone.now(),
        kind=facts.kind,
        result_code=facts.result_code[:32],
        result_description=facts.result_description,
        is_success=facts.is_success,
        amount=storable_amount(facts.amount),
        receipt_number=facts.receipt_number[:64],
        checkout_request_id=facts.checkout_request_id[:128],
        merchant_request_id=facts.merchant_request_id[:128],
        trans_id=facts.trans_id[:64],
        conversation_id=facts.conversation_id[:128],
        originator_conversation_id=facts.originator_conversation_id[:128],
        transaction_time=facts.transaction_time,
        account_reference=facts.account_reference[:128],
        phone_number_masked=facts.phone_number_masked[:80],
        correlation_id=facts.correlation_id[:128],
    )


# How hard the relay tries to reach a destination: the retry policy, the timeout, the concurrency cap.
DELIVERY_SETTINGS = (
    "max_attempts",
    "initial_delay_seconds",
    "backoff_multiplier",
    "max_delay_seconds",
    "timeout_seconds",
    "max_in_flight",
)
# What the integration API may change: where deliveries go, which callback kinds, at which priority,
# how hard the relay tries, and whether the destination is paused (the admin pauses with an action).
API_WRITABLE_SETTINGS = ("url", "kinds", "default_priority", *DELIVERY_SETTINGS, "is_active")
# The M-Pesa specific settings, set with the add_endpoint command (the admin shows them read-only).
MPESA_SETTINGS = (
    "priority_override",
    "use_payment_rules",
    "high_value_threshold",
    "validation_url",
    "validation_fallback",
)
# Every field an operator may set on a destination (``endpoint_create_or_update``), by model name.
ENDPOINT_SETTINGS = (*API_WRITABLE_SETTINGS, *MPESA_SETTINGS)
# Fields of the merchant's door.
MERCHANT_SETTINGS = ("allow_legacy_path",)


def endpoint_create_or_update(
    *, user_id: str, destination: str | None = None, **fields: Any
) -> tuple[Endpoint, bool]:
    """Create or update a destination of ``user_id``'s merchant; returns ``(destination, created)``.

    ``destination`` names it; without a name, the merchant's first destination
    (the one a merchant with a single app has; "main" when it is new). A new
    merchant is made with its first destination. Validates the merchant and
    the whole destination (``ValidationError`` with a message per field)
    before anything is written. A new destination gets a new signing secret;
    an existing one keeps its own. ``allow_legacy_path`` is the merchant's.
    A changed URL closes the destination's circuit and, when it is active,
    releases its held deliveries.
    """
    unknown = set(fields) - set(ENDPOINT_SETTINGS) - set(MERCHANT_SETTINGS)
    if unknown:
        raise TypeError(f"unknown endpoint settings: {', '.join(sorted(unknown))}")
    merchant = Merchant.objects.filter(user_id=user_id).first()
    merchant_created = merchant is None
    if merchant_created:
        merchant = Merchant(user_id=user_id)
    door = {name: fields.pop(name) for name in MERCHANT_SETTINGS if name in fields}
    for name, value in door.items():
        setattr(merchant, name, value)
    if merchant_created:
        merchant.full_clean()
    endpoint = None
    if not merchant_created:
        endpoint = (
            main_destination(merchant)
            if destination is None
            else merchant.destinations.filter(name=destination).first()
        )
    created = endpoint is None
    if created:
        endpoint = Endpoint(user_id=user_id, name=destination or MAIN_DESTINATION)
        endpoint.merchant = merchant
    was_active, old_url = endpoint.is_active, endpoint.url
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.full_clean(exclude=["merchant"] if merchant_created else None)
    with transaction.atomic():
        if merchant_created or door:
            merchant.save()
        endpoint.merchant = merchant
        endpoint.save()
        # A new URL is a new destination: the failures that opened the circuit were the old one's.
        new_destination = not created and endpoint.url != old_url
        if new_destination and circuit_close(endpoint, reason="its delivery URL changed"):
            if endpoint.is_active:
                endpoint_release_waiting(endpoint)
        elif not created and endpoint.is_active and not was_active:
            endpoint_release_waiting(endpoint)
    return endpoint, created


def destination_delete(*, endpoint: Endpoint) -> None:
    """Remove a destination that never received a delivery (one with history is paused instead).

    ``ValidationError`` when it has deliveries: their history (attempts, dead
    letters) belongs to it, and removing it would erase what support needs.
    """
    if endpoint.deliveries.exists():
        raise ValidationError(
            "This destination has deliveries; pause it instead (its history is kept with it)."
        )
    endpoint.delete()
    logger.info("🗑️ Destination %s removed", endpoint.label)


def endpoint_set_active(*, endpoint: Endpoint, active: bool, reason: str = "") -> bool:
    """Pause or resume an endpoint; returns ``False`` when it already was so.

    Pausing keeps receiving callbacks and holds their deliveries. Resuming
    queues every delivery that waited (held, pending or retrying), most
    urgent first, and resets the failure count so the circuit starts closed.
    """
    now = timezone.now()
    changes = (
        {"is_active": True, "paused_reason": "", "paused_at": None}
        if active
        else {"is_active": False, "paused_reason": reason[:200] or "paused by hand", "paused_at": now}
    )
    with transaction.atomic():
        updated = Endpoint.objects.filter(pk=endpoint.pk, is_active=not active).update(
            updated_at=now, **changes
        )
        for name, value in changes.items():
            setattr(endpoint, name, value)
        if updated and active:
            circuit_reset(endpoint)
            endpoint_release_waiting(endpoint)
    if updated:
        logger.info("%s endpoint %s", "▶️ Resumed" if active else "⏸️ Paused", endpoint.label)
    return bool(updated)


def endpoint_rotate_secret(*, endpoint: Endpoint) -> str:
    """Give the endpoint a new signing secret and return it (the only time it is shown).

    For ``SIGNING_SECRET_OVERLAP_HOURS`` after the rotation, deliveries carry
    signatures made with both the new and the old secret, so the merchant
    can switch their app over without rejecting a single delivery.
    """
    endpoint.previous_signing_secret = endpoint.signing_secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(
        hours=settings.SIGNING_SECRET_OVERLAP_HOURS
    )
    endpoint.signing_secret = generate_signing_secret()
    endpoint.save(
        update_fields=[
            "signing_secret",
            "previous_signing_secret",
            "previous_secret_expires_at",
            "updated_at",
        ]
    )
    logger.info("🔑 Signing secret rotated for endpoint %s", endpoint.label)
    return endpoint.signing_secret


def merchant_rotate_inbound_token(*, merchant: Merchant) -> str:
    """Give the merchant a new inbound token; the old inbound URL stops working at once.

    Returns the new inbound path, which must be registered with M-Pesa.
    """
    merchant.inbound_token = generate_inbound_token()
    merchant.inbound_token_rotated_at = timezone.now()
    merchant.save(update_fields=["inbound_token", "inbound_token_rotated_at", "updated_at"])
    logger.info("🔑 Inbound token rotated for merchant %s", merchant.user_id)
    return merchant.inbound_path

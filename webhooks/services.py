"""Writes on endpoints and callbacks."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivery.models import Delivery
from delivery.services import delivery_create, endpoint_release_waiting
from webhooks.duplicates import find_original, record_duplicate
from webhooks.inbound_tokens import generate_inbound_token
from webhooks.models import Callback, CircuitState, Endpoint
from webhooks.mpesa import CallbackFacts, CallbackKind, extract_facts
from webhooks.priorities import Priority, choose_priority
from webhooks.signing_secrets import generate_signing_secret

logger = logging.getLogger(__name__)

C2B_KINDS = frozenset({CallbackKind.C2B_VALIDATION, CallbackKind.C2B_CONFIRMATION})


def read_facts(payload: dict[str, Any], *, kind_hint: str | None = None) -> CallbackFacts:
    """What the payload says. A C2B URL suffix (``c2b-validation``/``c2b-confirmation``) settles
    validation against confirmation, which the two payload shapes alone cannot always tell apart."""
    facts = extract_facts(payload)
    if kind_hint and facts.kind in C2B_KINDS:
        facts = dataclasses.replace(facts, kind=CallbackKind(kind_hint.replace("-", "_")))
    return facts


def callback_receive(
    *,
    endpoint: Endpoint,
    raw_body: bytes,
    payload: dict[str, Any],
    headers: dict[str, str],
    source_ip: str | None,
    facts: CallbackFacts | None = None,
    priority_override: Priority | None = None,
) -> Delivery:
    """Keep a callback and its pending delivery in one transaction; the job is queued after commit.

    When this returns, the callback is in the database: M-Pesa may be told
    it was accepted whatever happens to Redis afterwards. A repeat of a
    callback already received (see ``webhooks.duplicates``) is only counted
    on the original, and the original's delivery is returned: it is not
    delivered again.
    """
    facts = facts or read_facts(payload)
    with transaction.atomic():
        original = find_original(endpoint, facts)
        if original is not None:
            record_duplicate(original)
            logger.info(
                "🔁 Duplicate %s %s for %s absorbed (first received as callback %s)",
                facts.kind,
                facts.correlation_id,
                endpoint.user_id,
                original.pk,
            )
            return original.deliveries.order_by("pk").first()
        callback = callback_create(
            endpoint=endpoint,
            raw_body=raw_body,
            payload=payload,
            headers=headers,
            source_ip=source_ip,
            facts=facts,
        )
        decision = choose_priority(
            default=endpoint.default_priority,
            override=priority_override if priority_override is not None else endpoint.priority_override,
            use_payment_rules=endpoint.use_payment_rules,
            high_value_threshold=endpoint.high_value_threshold,
            facts=facts,
        )
        delivery = delivery_create(callback=callback, endpoint=endpoint, decision=decision)
    logger.info(
        "📦 Callback %s (%s) received for %s, queued as delivery %s (%s: %s)",
        callback.pk,
        facts.kind,
        endpoint.user_id,
        delivery.pk,
        decision.priority.queue_name,
        decision.reason,
    )
    return delivery


def callback_create(
    *,
    endpoint: Endpoint,
    raw_body: bytes,
    payload: dict[str, Any],
    headers: dict[str, str],
    source_ip: str | None,
    facts: CallbackFacts,
) -> Callback:
    """Store a callback with the facts read from it (call inside a transaction)."""
    return Callback.objects.create(
        endpoint=endpoint,
        raw_body=raw_body,
        payload=payload,
        headers=headers,
        source_ip=source_ip,
        received_at=timezone.now(),
        kind=facts.kind,
        result_code=facts.result_code[:32],
        result_description=facts.result_description,
        is_success=facts.is_success,
        amount=_storable_amount(facts.amount),
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


def _storable_amount(amount: Decimal | None) -> Decimal | None:
    """The amount if it fits the column (14 digits, 2 decimals); an absurd one is dropped, not fatal."""
    if amount is None or not amount.is_finite() or abs(amount) >= Decimal("1e14"):
        return None
    return amount.quantize(Decimal("0.01"))


# Fields an operator may set on an endpoint, with their model names.
ENDPOINT_SETTINGS = (
    "url",
    "default_priority",
    "max_attempts",
    "initial_delay_seconds",
    "backoff_multiplier",
    "max_delay_seconds",
    "timeout_seconds",
    "is_active",
    "priority_override",
    "use_payment_rules",
    "high_value_threshold",
    "validation_url",
    "validation_fallback",
    "allow_legacy_path",
)


def endpoint_create_or_update(*, user_id: str, **fields: Any) -> tuple[Endpoint, bool]:
    """Create the endpoint of ``user_id`` or update the given settings; returns ``(endpoint, created)``.

    Validates the whole endpoint (``ValidationError`` with a message per
    field) before anything is written. A new endpoint gets a new signing
    secret; an existing one keeps its own.
    """
    unknown = set(fields) - set(ENDPOINT_SETTINGS)
    if unknown:
        raise TypeError(f"unknown endpoint settings: {', '.join(sorted(unknown))}")
    endpoint = Endpoint.objects.filter(user_id=user_id).first()
    created = endpoint is None
    if created:
        endpoint = Endpoint(user_id=user_id)
    was_active = endpoint.is_active
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.full_clean()
    with transaction.atomic():
        endpoint.save()
        if not created and endpoint.is_active and not was_active:
            endpoint_release_waiting(endpoint)
    return endpoint, created


def endpoint_set_active(*, endpoint: Endpoint, active: bool, reason: str = "") -> bool:
    """Pause or resume an endpoint; returns ``False`` when it already was so.

    Pausing keeps receiving callbacks and holds their deliveries. Resuming
    queues every delivery that waited (held, pending or retrying), most
    urgent first, and resets the failure count so the circuit starts closed.
    """
    now = timezone.now()
    changes = (
        {
            "is_active": True,
            "paused_reason": "",
            "paused_at": None,
            "circuit_state": CircuitState.CLOSED,
            "consecutive_failures": 0,
            "circuit_opened_at": None,
            "circuit_next_probe_at": None,
            "circuit_probes": 0,
        }
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
            endpoint_release_waiting(endpoint)
    if updated:
        logger.info("%s endpoint %s", "▶️ Resumed" if active else "⏸️ Paused", endpoint.user_id)
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
    logger.info("🔑 Signing secret rotated for endpoint %s", endpoint.user_id)
    return endpoint.signing_secret


def endpoint_rotate_inbound_token(*, endpoint: Endpoint) -> str:
    """Give the endpoint a new inbound token; the old inbound URL stops working at once.

    Returns the new inbound path, which must be registered with M-Pesa.
    """
    endpoint.inbound_token = generate_inbound_token()
    endpoint.save(update_fields=["inbound_token", "updated_at"])
    logger.info("🔑 Inbound token rotated for endpoint %s", endpoint.user_id)
    return endpoint.inbound_path

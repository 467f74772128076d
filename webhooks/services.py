"""Writes on endpoints and callbacks."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from delivery.models import Delivery
from delivery.services import delivery_create, delivery_enqueue_on_commit
from webhooks.models import Callback, Endpoint
from webhooks.priorities import Priority, choose_priority
from webhooks.signing_secrets import generate_signing_secret

logger = logging.getLogger(__name__)


def callback_receive(
    *,
    endpoint: Endpoint,
    raw_body: bytes,
    payload: dict[str, Any],
    headers: dict[str, str],
    source_ip: str | None,
    priority_override: Priority | None = None,
) -> Delivery:
    """Keep a callback and its pending delivery in one transaction; the job is queued after commit.

    When this returns, the callback is in the database: M-Pesa may be told
    it was accepted whatever happens to Redis afterwards.
    """
    decision = choose_priority(default=endpoint.default_priority, override=priority_override)
    with transaction.atomic():
        callback = Callback.objects.create(
            endpoint=endpoint,
            raw_body=raw_body,
            payload=payload,
            headers=headers,
            source_ip=source_ip,
            received_at=timezone.now(),
        )
        delivery = delivery_create(callback=callback, endpoint=endpoint, decision=decision)
    logger.info(
        "📦 Callback %s received for %s, queued as delivery %s (%s)",
        callback.pk,
        endpoint.user_id,
        delivery.pk,
        decision.priority.queue_name,
    )
    return delivery


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
            _enqueue_waiting_deliveries(endpoint)
    return endpoint, created


def endpoint_set_active(*, endpoint: Endpoint, active: bool) -> None:
    """Pause or resume an endpoint. Resuming queues every delivery that waited while it was paused."""
    with transaction.atomic():
        updated = Endpoint.objects.filter(pk=endpoint.pk, is_active=not active).update(
            is_active=active, updated_at=timezone.now()
        )
        endpoint.is_active = active
        if updated and active:
            _enqueue_waiting_deliveries(endpoint)
    logger.info("%s endpoint %s", "▶️ Resumed" if active else "⏸️ Paused", endpoint.user_id)


def endpoint_rotate_secret(*, endpoint: Endpoint) -> str:
    """Give the endpoint a new signing secret and return it (the only time it is shown)."""
    endpoint.signing_secret = generate_signing_secret()
    endpoint.save(update_fields=["signing_secret", "updated_at"])
    logger.info("🔑 Signing secret rotated for endpoint %s", endpoint.user_id)
    return endpoint.signing_secret


def _enqueue_waiting_deliveries(endpoint: Endpoint) -> None:
    waiting = Delivery.objects.filter(
        endpoint=endpoint, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]
    ).order_by("-priority", "created_at")
    for delivery in waiting.iterator():
        delivery_enqueue_on_commit(delivery, timeout_seconds=endpoint.timeout_seconds)

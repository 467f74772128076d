"""Webhooks' side of delivery's circuit: every destination has one, and delivery's pause requests
are carried out here, by the destinations' owner. Connected in ``WebhooksConfig.ready()``."""

from __future__ import annotations

from delivery.circuit import circuit_create
from webhooks.services import endpoint_set_active


def create_circuit_of_new_destination(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """``post_save`` of ``Endpoint``: a new destination gets its closed circuit in the same transaction.

    Not for fixtures being loaded (``raw``): they bring their own rows.
    """
    if created and not raw:
        circuit_create(instance.pk)


def pause_destination(sender, *, endpoint, reason: str, **kwargs) -> bool:
    """``delivery.signals.destination_pause_requested``: pause it; ``True`` when it was active."""
    return endpoint_set_active(endpoint=endpoint, active=False, reason=reason)

"""How the admin shows a destination: its callback kinds and its delivery state, in words.

Shared by the destinations' own admin and the merchant's page, which lists them.
"""

from __future__ import annotations

from django.utils.html import format_html

from daraja.admin.display import status_badge
from delivery.circuit import circuit_of, describe_circuit
from delivery.models import CircuitState
from webhooks.models import Endpoint
from webhooks.mpesa.kinds import KIND_LABEL_CHOICES, kind_label

#: The kinds a destination may tick, by M-Pesa's names.
KIND_CHOICES = KIND_LABEL_CHOICES


def kinds_text(kinds: list[str]) -> str:
    """A destination's callback kinds in M-Pesa's words ("every kind" for an empty list)."""
    return ", ".join(kind_label(kind) for kind in kinds) if kinds else "every kind"


def delivery_state(endpoint: Endpoint) -> str:
    """A badge (delivering, paused, circuit open) and the circuit's state in a sentence."""
    words = describe_circuit(endpoint, held=getattr(endpoint, "held_deliveries", None))
    if not endpoint.is_active:
        tone, headline = "held", "Paused"
    elif circuit_of(endpoint).state == CircuitState.OPEN:
        tone, headline = "dead", "Circuit open"
    else:
        tone, headline = "delivered", "Delivering"
    return format_html("{} {}", status_badge(tone, headline), words.removeprefix(headline).lstrip(".:; "))

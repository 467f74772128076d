"""'Try again now': a person probes a destination whose circuit is open, through the engine, and waits.

Its own module because it drives the engine (``deliver_one``), which itself
uses ``delivery.services``; here it sits above both.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from delivery import engine, lifecycle
from delivery.circuit import circuit_of, circuit_probe_due_now, describe_circuit
from delivery.errors import error_summary_of
from delivery.models import CircuitState, Delivery, DeliveryAttempt
from delivery.services import endpoint_release_waiting


@dataclass(frozen=True)
class TryNowResult:
    """What "try again now" came to: ``answered`` when the shop's app took the probe."""

    answered: bool
    message: str
    released: int = 0


def endpoint_try_now(endpoint) -> TryNowResult:
    """Probe an endpoint whose circuit is open at once; when its app answers, release every held delivery.

    The probe is the endpoint's most urgent waiting delivery, sent now in
    this process through the engine (same signing, gates and recording),
    waiting at most ``TRY_NOW_TIMEOUT_SECONDS`` for an answer (a person is
    waiting on the page; the web worker's own timeout is longer); a failed
    probe uses up none of its attempts. A paused endpoint is not
    probed (resuming it is the way back); a closed circuit only makes any
    held delivery due. With nothing waiting, the next delivery goes as the probe.
    """
    endpoint.refresh_from_db()
    circuit = circuit_of(endpoint)
    if not endpoint.is_active:
        return TryNowResult(
            False, f"Not tried: {endpoint.user_id} is paused. Resume it to send its held deliveries."
        )
    if circuit.state != CircuitState.OPEN:
        released = endpoint_release_waiting(endpoint)
        return TryNowResult(
            True, f"Not needed: the circuit of {endpoint.user_id} is closed, it is delivering.", released
        )
    circuit_probe_due_now(endpoint)
    probe = (
        Delivery.objects.filter(endpoint=endpoint, status__in=lifecycle.WAITING_STATUSES)
        .order_by("-priority", "created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if probe is None:
        return TryNowResult(
            False,
            f"Nothing of {endpoint.user_id} is waiting: its next delivery goes out as the probe at once.",
        )
    outcome = engine.deliver_one(probe, timeout_cap=settings.TRY_NOW_TIMEOUT_SECONDS)
    endpoint.refresh_from_db()
    if circuit_of(endpoint).state == CircuitState.CLOSED:
        released = Delivery.objects.filter(
            endpoint=endpoint, status__in=(*lifecycle.CLAIMABLE_STATUSES, Delivery.Status.DELIVERING)
        ).count()
        return TryNowResult(
            True,
            f"Tried {endpoint.user_id} again: it answered. Its circuit is closed and its waiting "
            f"deliveries are being sent ({released} to go).",
            released,
        )
    attempt = DeliveryAttempt.objects.filter(delivery_id=probe).order_by("-attempt_number").first()
    reason = error_summary_of(attempt) if attempt is not None and outcome != "held" else "no probe was sent"
    return TryNowResult(
        False, f"Tried {endpoint.user_id} again: still no answer ({reason}). {describe_circuit(endpoint)}"
    )

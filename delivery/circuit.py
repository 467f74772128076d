"""The per-endpoint circuit breaker.

After ``CIRCUIT_FAILURE_THRESHOLD`` consecutive failed attempts an endpoint's
circuit opens: its deliveries are held (not attempted, not charged an
attempt) while one probe delivery at a time goes out, after a cool-down that
doubles with every failed probe (up to ``CIRCUIT_MAX_COOLDOWN_SECONDS``).
The first success closes the circuit and the held deliveries flow again, in
priority order. A circuit open longer than ``CIRCUIT_AUTO_PAUSE_HOURS``
pauses the endpoint (deliveries stay held, never dropped) and fires an alert.

The state lives in the endpoint's row and changes only through conditional
updates, so every worker on every host agrees on it.

A failed probe uses up none of the probed delivery's attempts (it goes back
to held: ``delivery.policy.decide_attempt``), and a held delivery never goes
to the dead-letter queue for waiting: after ``CIRCUIT_AUTO_PAUSE_HOURS`` the
endpoint is paused and an alert fires, and its deliveries wait, held, until
a person resumes it, tries it again now, or changes its URL (each closes
the circuit). docs/outbound-safety.md, "Circuit breaker", says why.
"""

from __future__ import annotations

import enum
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from daraja.core.humanize import plural, when
from delivery.alerts import send_ops_alert
from delivery.queues import enqueue_probe
from webhooks.models import CircuitState, Endpoint

logger = logging.getLogger(__name__)


class Gate(enum.Enum):
    OPEN_DOOR = "pass"  # circuit closed: deliver
    PROBE = "probe"  # circuit open and this delivery is the one probe
    HOLD = "hold"  # circuit open: hold the delivery


def _cooldown(failed_probes: int) -> float:
    return min(settings.CIRCUIT_COOLDOWN_SECONDS * 2**failed_probes, settings.CIRCUIT_MAX_COOLDOWN_SECONDS)


def circuit_gate(endpoint: Endpoint, *, attempt_timeout: float) -> Gate:
    """Whether a delivery to ``endpoint`` may go now. Claims the probe slot when it is due."""
    if endpoint.circuit_state == CircuitState.CLOSED:
        return Gate.OPEN_DOOR
    now = timezone.now()
    # The probe slot is pushed past the probe's own timeout, so no second probe overlaps it.
    hold_until = now + timedelta(seconds=max(_cooldown(endpoint.circuit_probes), attempt_timeout + 5))
    claimed = Endpoint.objects.filter(
        pk=endpoint.pk, circuit_state=CircuitState.OPEN, circuit_next_probe_at__lte=now
    ).update(circuit_next_probe_at=hold_until)
    return Gate.PROBE if claimed else Gate.HOLD


def circuit_record_success(endpoint: Endpoint) -> bool:
    """Reset the failure count; close an open circuit. Returns ``True`` when the circuit just closed.

    When the endpoint row loaded for this attempt was healthy (closed, no
    failures counted), nothing is written: that is almost every delivery,
    and it saves two UPDATEs each. The price: a failure another worker
    counted since that load is not reset by this success, only by the next.
    """
    if endpoint.circuit_state == CircuitState.CLOSED and endpoint.consecutive_failures == 0:
        return False
    Endpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
    closed = Endpoint.objects.filter(pk=endpoint.pk, circuit_state=CircuitState.OPEN).update(
        circuit_state=CircuitState.CLOSED,
        circuit_opened_at=None,
        circuit_next_probe_at=None,
        circuit_probes=0,
    )
    if closed:
        logger.info("🔌 Circuit closed for %s: held deliveries flow again", endpoint.user_id)
    return bool(closed)


def circuit_record_failure(endpoint: Endpoint, *, was_probe: bool) -> None:
    """Count a failure; open the circuit at the threshold; back off probes; auto-pause when it lasts."""
    circuit_record_failures(endpoint, 1, was_probe=was_probe)


def circuit_record_failures(endpoint: Endpoint, count: int, *, was_probe: bool) -> None:
    """``circuit_record_failure`` for ``count`` consecutive failures recorded together."""
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + count)
    endpoint.refresh_from_db(
        fields=["consecutive_failures", "circuit_state", "circuit_opened_at", "circuit_probes", "is_active"]
    )
    if endpoint.circuit_state == CircuitState.CLOSED:
        if endpoint.consecutive_failures >= settings.CIRCUIT_FAILURE_THRESHOLD:
            opened = Endpoint.objects.filter(pk=endpoint.pk, circuit_state=CircuitState.CLOSED).update(
                circuit_state=CircuitState.OPEN,
                circuit_opened_at=now,
                circuit_next_probe_at=now + timedelta(seconds=_cooldown(0)),
                circuit_probes=0,
            )
            if opened:
                enqueue_probe(endpoint_id=endpoint.pk, at=now + timedelta(seconds=_cooldown(0)))
                logger.warning(
                    "🔌 Circuit opened for %s after %d consecutive failures: held, probe every %ss",
                    endpoint.user_id,
                    endpoint.consecutive_failures,
                    int(_cooldown(0)),
                )
        return
    if was_probe:
        probes = endpoint.circuit_probes + 1
        next_probe_at = now + timedelta(seconds=_cooldown(probes))
        Endpoint.objects.filter(pk=endpoint.pk).update(
            circuit_probes=probes, circuit_next_probe_at=next_probe_at
        )
        enqueue_probe(endpoint_id=endpoint.pk, at=next_probe_at)
    window = timedelta(hours=settings.CIRCUIT_AUTO_PAUSE_HOURS)
    if endpoint.is_active and endpoint.circuit_opened_at and now - endpoint.circuit_opened_at >= window:
        _auto_pause(endpoint, f"circuit open since {endpoint.circuit_opened_at:%Y-%m-%d %H:%M} UTC")


def pause_for_gone(endpoint: Endpoint) -> None:
    """A receiver answering 410 Gone says the URL is no more: pause at once."""
    _auto_pause(endpoint, "the receiver answered 410 Gone")


def _auto_pause(endpoint: Endpoint, reason: str) -> None:
    from webhooks.services import endpoint_set_active

    if endpoint_set_active(endpoint=endpoint, active=False, reason=reason):
        logger.error(
            "🚨 Endpoint %s paused automatically: %s. Its deliveries are held.", endpoint.user_id, reason
        )
        send_ops_alert(event="endpoint_auto_paused", user_id=endpoint.user_id, reason=reason)


_CIRCUIT_FIELDS = [
    "circuit_state",
    "consecutive_failures",
    "circuit_opened_at",
    "circuit_next_probe_at",
    "circuit_probes",
]


def circuit_close(endpoint: Endpoint, *, reason: str) -> bool:
    """Close an open circuit by hand (a new URL, a person's "try again now"); ``True`` if it was open.

    Only the circuit's own fields change; the caller releases the held
    deliveries (``delivery.services.endpoint_release_waiting``).
    """
    closed = Endpoint.objects.filter(pk=endpoint.pk, circuit_state=CircuitState.OPEN).update(
        circuit_state=CircuitState.CLOSED,
        consecutive_failures=0,
        circuit_opened_at=None,
        circuit_next_probe_at=None,
        circuit_probes=0,
        updated_at=timezone.now(),
    )
    Endpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
    endpoint.refresh_from_db(fields=_CIRCUIT_FIELDS)
    if closed:
        logger.info("🔌 Circuit closed for %s: %s", endpoint.user_id, reason)
    return bool(closed)


def circuit_probe_due_now(endpoint: Endpoint) -> bool:
    """Make an open circuit's probe slot due now (the next delivery tried goes as the probe)."""
    return bool(
        Endpoint.objects.filter(pk=endpoint.pk, circuit_state=CircuitState.OPEN).update(
            circuit_next_probe_at=timezone.now()
        )
    )


def describe_circuit(endpoint: Endpoint, *, held: int | None = None) -> str:
    """The endpoint's delivery state in a sentence for support: paused, circuit open or delivering.

    Says since when, when the next probe goes and how many deliveries are
    held (when ``held`` is given, and not 0 on a healthy endpoint). Reads
    only the row; pure.
    """
    healthy = endpoint.is_active and endpoint.circuit_state == CircuitState.CLOSED
    held_words = (
        "" if held is None or (healthy and not held) else f" {plural(held, 'delivery', 'deliveries')} held."
    )
    if not endpoint.is_active:
        since = f" since {when(endpoint.paused_at)}" if endpoint.paused_at else ""
        why = f" ({endpoint.paused_reason})" if endpoint.paused_reason else ""
        return f"Paused{since}{why}: nothing is sent until it is resumed.{held_words}"
    if endpoint.circuit_state == CircuitState.OPEN:
        since = f" since {when(endpoint.circuit_opened_at)}" if endpoint.circuit_opened_at else ""
        failed = (
            f" (after {plural(endpoint.circuit_probes, 'failed probe')})" if endpoint.circuit_probes else ""
        )
        if endpoint.circuit_next_probe_at:
            probe = f" Next probe {when(endpoint.circuit_next_probe_at)}{failed}."
        else:
            probe = " The next delivery goes as the probe."
        return f"Circuit open{since}: the shop's app stopped answering.{probe}{held_words}"
    if endpoint.consecutive_failures:
        failures = endpoint.consecutive_failures
        last = "its last attempt" if failures == 1 else f"its last {failures} attempts"
        return (
            f"Delivering; {last} failed (the circuit opens at {settings.CIRCUIT_FAILURE_THRESHOLD})."
            f"{held_words}"
        )
    return f"Delivering.{held_words}"

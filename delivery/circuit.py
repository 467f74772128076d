"""The per-endpoint circuit breaker.

After ``CIRCUIT_FAILURE_THRESHOLD`` consecutive failed attempts an endpoint's
circuit opens: its deliveries are held (not attempted, not charged an
attempt) while one probe delivery at a time goes out, after a cool-down that
doubles with every failed probe (up to ``CIRCUIT_MAX_COOLDOWN_SECONDS``).
The first success closes the circuit and the held deliveries flow again, in
priority order. A circuit open longer than ``CIRCUIT_AUTO_PAUSE_HOURS``
pauses the endpoint (deliveries stay held, never dropped) and fires an alert.

The state lives in the destination's ``Circuit`` row (``endpoint.circuit``,
loaded with the endpoint) and changes only through conditional updates, so
every worker on every host agrees on it. The functions here take the
endpoint (a ``webhooks`` destination, reached only through its relations)
and read its circuit from the row loaded with it.

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
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.utils import timezone

from daraja.core.humanize import plural, when
from delivery.alerts import send_ops_alert
from delivery.models import Circuit, CircuitState
from delivery.queues import enqueue_probe
from delivery.signals import destination_pause_requested

logger = logging.getLogger(__name__)


class Gate(enum.Enum):
    """What the circuit lets a delivery do now."""

    DELIVER = "deliver"  # circuit closed
    PROBE = "probe"  # circuit open and this delivery is the one probe
    HOLD = "hold"  # circuit open: hold the delivery


def _cooldown(failed_probes: int) -> float:
    return min(settings.CIRCUIT_COOLDOWN_SECONDS * 2**failed_probes, settings.CIRCUIT_MAX_COOLDOWN_SECONDS)


def circuit_create(endpoint_id: int) -> Circuit:
    """The closed circuit of a new destination (call in the transaction that creates it)."""
    return Circuit.objects.create(endpoint_id=endpoint_id)


def circuit_of(endpoint) -> Circuit:
    """The endpoint's circuit: the row loaded with it, else read (and made, for a destination without one).

    A destination not saved yet (the admin's add page) has a closed circuit, not saved either.
    """
    try:
        return endpoint.circuit
    except Circuit.DoesNotExist:
        if endpoint.pk is None:
            return Circuit()
        endpoint.circuit, _ = Circuit.objects.get_or_create(endpoint_id=endpoint.pk)
        return endpoint.circuit


def circuit_gate(endpoint, *, attempt_timeout: float) -> Gate:
    """Whether a delivery to ``endpoint`` may go now. Claims the probe slot when it is due."""
    circuit = circuit_of(endpoint)
    if circuit.state == CircuitState.CLOSED:
        return Gate.DELIVER
    now = timezone.now()
    # The probe slot is pushed past the probe's own timeout, so no second probe overlaps it.
    hold_until = now + timedelta(seconds=max(_cooldown(circuit.failed_probes), attempt_timeout + 5))
    claimed = Circuit.objects.filter(pk=endpoint.pk, state=CircuitState.OPEN, next_probe_at__lte=now).update(
        next_probe_at=hold_until
    )
    return Gate.PROBE if claimed else Gate.HOLD


def circuit_record_success(endpoint) -> bool:
    """Reset the failure count; close an open circuit. Returns ``True`` when the circuit just closed.

    When the circuit loaded with the endpoint for this attempt was healthy
    (closed, no failures counted), nothing is written: that is almost every
    delivery, and it saves two UPDATEs each. The price: a failure another
    worker counted since that load is not reset by this success, only by the next.
    """
    circuit = circuit_of(endpoint)
    if circuit.state == CircuitState.CLOSED and circuit.consecutive_failures == 0:
        return False
    Circuit.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
    closed = Circuit.objects.filter(pk=endpoint.pk, state=CircuitState.OPEN).update(
        state=CircuitState.CLOSED,
        opened_at=None,
        next_probe_at=None,
        failed_probes=0,
        updated_at=timezone.now(),
    )
    if closed:
        logger.info("🔌 Circuit closed for %s: held deliveries flow again", endpoint.user_id)
    return bool(closed)


def circuit_record_failure(endpoint, *, was_probe: bool) -> None:
    """Count a failure; open the circuit at the threshold; back off probes; auto-pause when it lasts."""
    circuit_record_failures(endpoint, 1, was_probe=was_probe)


def circuit_record_failures(endpoint, count: int, *, was_probe: bool) -> None:
    """``circuit_record_failure`` for ``count`` consecutive failures recorded together."""
    now = timezone.now()
    circuit_of(endpoint)  # made when missing, so the count below has a row to go to
    Circuit.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + count)
    circuit = _reload(endpoint)
    if circuit.state == CircuitState.CLOSED:
        if circuit.consecutive_failures >= settings.CIRCUIT_FAILURE_THRESHOLD:
            opened = Circuit.objects.filter(pk=endpoint.pk, state=CircuitState.CLOSED).update(
                state=CircuitState.OPEN,
                opened_at=now,
                next_probe_at=now + timedelta(seconds=_cooldown(0)),
                failed_probes=0,
                updated_at=now,
            )
            if opened:
                enqueue_probe(endpoint_id=endpoint.pk, at=now + timedelta(seconds=_cooldown(0)))
                logger.warning(
                    "🔌 Circuit opened for %s after %d consecutive failures: held, probe every %ss",
                    endpoint.user_id,
                    circuit.consecutive_failures,
                    int(_cooldown(0)),
                )
        return
    if was_probe:
        failed_probes = circuit.failed_probes + 1
        next_probe_at = now + timedelta(seconds=_cooldown(failed_probes))
        Circuit.objects.filter(pk=endpoint.pk).update(
            failed_probes=failed_probes, next_probe_at=next_probe_at, updated_at=now
        )
        enqueue_probe(endpoint_id=endpoint.pk, at=next_probe_at)
    window = timedelta(hours=settings.CIRCUIT_AUTO_PAUSE_HOURS)
    if endpoint.is_active and circuit.opened_at and now - circuit.opened_at >= window:
        _auto_pause(endpoint, f"circuit open since {circuit.opened_at:%Y-%m-%d %H:%M} UTC")


_CIRCUIT_FIELDS = ("state", "consecutive_failures", "opened_at", "next_probe_at", "failed_probes")
_CLOSED = {
    "state": CircuitState.CLOSED,
    "consecutive_failures": 0,
    "opened_at": None,
    "next_probe_at": None,
    "failed_probes": 0,
}


def _reload(endpoint) -> Circuit:
    """Read the circuit and the endpoint's ``is_active`` again, in one query, into the loaded objects."""
    row = Circuit.objects.filter(pk=endpoint.pk).values(*_CIRCUIT_FIELDS, "endpoint__is_active").get()
    endpoint.is_active = row.pop("endpoint__is_active")
    circuit = circuit_of(endpoint)
    for name, value in row.items():
        setattr(circuit, name, value)
    return circuit


def pause_for_gone(endpoint) -> None:
    """A receiver answering 410 Gone says the URL is no more: pause at once."""
    _auto_pause(endpoint, "the receiver answered 410 Gone")


def _auto_pause(endpoint, reason: str) -> None:
    """Ask the destination's owner to pause it (``destination_pause_requested``); alert when it paused.

    Raises ``ImproperlyConfigured`` when nothing listens: a pause must never
    be dropped silently (the ``delivery.E001`` check says so at start-up).
    """
    answers = destination_pause_requested.send(sender=Circuit, endpoint=endpoint, reason=reason)
    if not answers:
        raise ImproperlyConfigured("Nothing receives delivery.signals.destination_pause_requested.")
    if any(paused for _, paused in answers):
        logger.error(
            "🚨 Endpoint %s paused automatically: %s. Its deliveries are held.", endpoint.user_id, reason
        )
        send_ops_alert(event="endpoint_auto_paused", user_id=endpoint.user_id, reason=reason)


def circuit_close(endpoint, *, reason: str) -> bool:
    """Close an open circuit by hand (a new URL, a person's "try again now"); ``True`` if it was open.

    Only the circuit changes (its failure count too, open or not); the
    caller releases the held deliveries (``delivery.services.endpoint_release_waiting``).
    """
    now = timezone.now()
    closed = Circuit.objects.filter(pk=endpoint.pk, state=CircuitState.OPEN).update(**_CLOSED, updated_at=now)
    Circuit.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(
        consecutive_failures=0, updated_at=now
    )
    circuit_of(endpoint).refresh_from_db(fields=_CIRCUIT_FIELDS)
    if closed:
        logger.info("🔌 Circuit closed for %s: %s", endpoint.user_id, reason)
    return bool(closed)


def circuit_reset(endpoint) -> None:
    """Close the circuit and forget its failures, whatever its state: a resumed destination starts afresh."""
    Circuit.objects.filter(pk=endpoint.pk).update(**_CLOSED, updated_at=timezone.now())
    # The copy loaded with the endpoint, if any, says the same; none is loaded for it.
    if type(endpoint).circuit.is_cached(endpoint):
        for name, value in _CLOSED.items():
            setattr(endpoint.circuit, name, value)


def circuit_probe_due_now(endpoint) -> bool:
    """Make an open circuit's probe slot due now (the next delivery tried goes as the probe)."""
    return bool(
        Circuit.objects.filter(pk=endpoint.pk, state=CircuitState.OPEN).update(next_probe_at=timezone.now())
    )


def describe_circuit(endpoint, *, held: int | None = None) -> str:
    """The endpoint's delivery state in a sentence for support: paused, circuit open or delivering.

    Says since when, when the next probe goes and how many deliveries are
    held (when ``held`` is given, and not 0 on a healthy endpoint). Reads
    only the endpoint and its circuit as loaded.
    """
    circuit = circuit_of(endpoint)
    healthy = endpoint.is_active and circuit.state == CircuitState.CLOSED
    held_words = (
        "" if held is None or (healthy and not held) else f" {plural(held, 'delivery', 'deliveries')} held."
    )
    if not endpoint.is_active:
        since = f" since {when(endpoint.paused_at)}" if endpoint.paused_at else ""
        why = f" ({endpoint.paused_reason})" if endpoint.paused_reason else ""
        return f"Paused{since}{why}: nothing is sent until it is resumed.{held_words}"
    if circuit.state == CircuitState.OPEN:
        since = f" since {when(circuit.opened_at)}" if circuit.opened_at else ""
        failed = f" (after {plural(circuit.failed_probes, 'failed probe')})" if circuit.failed_probes else ""
        if circuit.next_probe_at:
            probe = f" Next probe {when(circuit.next_probe_at)}{failed}."
        else:
            probe = " The next delivery goes as the probe."
        return f"Circuit open{since}: the shop's app stopped answering.{probe}{held_words}"
    if circuit.consecutive_failures:
        failures = circuit.consecutive_failures
        last = "its last attempt" if failures == 1 else f"its last {failures} attempts"
        return (
            f"Delivering; {last} failed (the circuit opens at {settings.CIRCUIT_FAILURE_THRESHOLD})."
            f"{held_words}"
        )
    return f"Delivering.{held_words}"

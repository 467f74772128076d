"""RQ entry points. Jobs carry a priority or an id and nothing else; the rows say what to do."""

from __future__ import annotations

from daraja.core.request_context import flow_context
from delivery import engine, lifecycle
from delivery.models import Delivery


def drain_deliveries(priority: int) -> dict:
    """Job type ``drain_deliveries``: claim, send and record due deliveries until none are left.

    Queued by a wake-up (``delivery.wakeup``) on the priority's queue. The
    drain takes due work of every priority, most urgent first; the job's
    priority only says which queue woke it. Returns what it did.
    """
    summary = engine.drain(priority=priority)
    return {
        "claimed": summary.claimed,
        "sent": summary.sent,
        "held": summary.held,
        "recorded": summary.recorded,
        "outcomes": dict(summary.outcomes),
    }


def deliver_webhook(delivery_id: int) -> str:
    """Job type ``deliver_webhook``: attempt one named delivery now if it is still waiting.

    New code wakes drains instead; this stays for jobs queued before the
    upgrade and for anyone who queues a single delivery by hand.
    """
    with flow_context(delivery_id=delivery_id):  # every log line of the job carries the delivery id
        return engine.deliver_one(delivery_id)


def deliver_batch(delivery_ids: list[int]) -> int:
    """Job type ``deliver_batch``, which Redis may hold from a relay upgraded in place: make them due."""
    return lifecycle.make_due(Delivery.objects.filter(pk__in=delivery_ids))


def probe_endpoint(endpoint_id: int) -> str:
    """Send the most urgent held delivery of an endpoint whose circuit is open, as the circuit's probe.

    Without this, an endpoint with no new traffic would keep its held
    deliveries forever; with no held delivery, the next new one probes.
    """
    with flow_context(endpoint_id=endpoint_id):
        held = (
            Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.HELD)
            .order_by("-priority", "created_at")
            .values_list("pk", flat=True)
            .first()
        )
        if held is None:
            return "nothing held"
        return engine.deliver_one(held)

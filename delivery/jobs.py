"""RQ entry points. A job carries ids and nothing else; the rows say what to do."""

from __future__ import annotations

from daraja.request_context import flow_context
from delivery.attempts import delivery_attempt, endpoint_probe
from delivery.threads import delivery_threads


def deliver_webhook(delivery_id: int) -> str:
    """Job type ``deliver_webhook``: make the delivery's next attempt if it is still due."""
    with flow_context(delivery_id=delivery_id):  # every log line of the job carries the delivery id
        return delivery_attempt(delivery_id=delivery_id)


def deliver_batch(delivery_ids: list[int]) -> int:
    """Job type ``deliver_batch``: hand each delivery to the worker's delivery threads.

    Each delivery goes through exactly what ``deliver_webhook`` does (its own
    claim, gates, attempt row, retry or dead letter) on a thread of its own
    (``delivery.threads``); the job returns once every delivery has a thread,
    not when they finish. Returns how many deliveries it handed over.
    """
    threads = delivery_threads()
    for delivery_id in delivery_ids:
        threads.submit(deliver_webhook, delivery_id)
    return len(delivery_ids)


def probe_endpoint(endpoint_id: int) -> str:
    """Send one held delivery of an endpoint whose circuit is open, as the circuit's probe."""
    with flow_context(endpoint_id=endpoint_id):
        return endpoint_probe(endpoint_id=endpoint_id)

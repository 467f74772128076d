"""RQ entry points. A job carries an id and nothing else; the rows say what to do."""

from daraja.request_context import flow_context
from delivery.attempts import delivery_attempt, endpoint_probe


def deliver_webhook(delivery_id: int) -> str:
    """Job type ``deliver_webhook``: make the delivery's next attempt if it is still due."""
    with flow_context(delivery_id=delivery_id):  # every log line of the job carries the delivery id
        return delivery_attempt(delivery_id=delivery_id)


def probe_endpoint(endpoint_id: int) -> str:
    """Send one held delivery of an endpoint whose circuit is open, as the circuit's probe."""
    with flow_context(endpoint_id=endpoint_id):
        return endpoint_probe(endpoint_id=endpoint_id)

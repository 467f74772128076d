"""RQ entry points. A job carries a delivery id and nothing else; the row says what to do."""

from delivery.attempts import delivery_attempt


def deliver_webhook(delivery_id: int) -> str:
    """Job type ``deliver_webhook``: make the delivery's next attempt if it is still due."""
    return delivery_attempt(delivery_id=delivery_id)

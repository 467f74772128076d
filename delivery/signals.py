"""What delivery asks of the layer above it, which it does not import.

``destination_pause_requested``: a destination must be paused (its circuit
stayed open for ``CIRCUIT_AUTO_PAUSE_HOURS``, or it answered 410 Gone).
Sent by ``delivery.circuit`` with ``endpoint`` (the destination) and
``reason``, inside the caller's transaction; the destinations' owner
receives it, pauses the destination and returns ``True`` when it paused it
(``False`` when it already was paused). The ``delivery.E001`` check fails
when nothing receives it.
"""

from django.dispatch import Signal

destination_pause_requested = Signal()

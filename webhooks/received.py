"""A callback as the door read it, the destinations it goes to, and what keeping it gave.

The values ``webhooks.services`` keeps and ``webhooks.group_write`` writes;
both import them from here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

from delivery.models import Delivery
from delivery.priority import Priority, PriorityDecision
from webhooks.models import Endpoint, Merchant
from webhooks.mpesa import CallbackFacts, CallbackKind, extract_facts
from webhooks.mpesa.kinds import C2B_KINDS
from webhooks.priorities import choose_priority


def read_facts(payload: dict[str, Any], *, kind_hint: str | None = None) -> CallbackFacts:
    """What the payload says. A C2B URL suffix (``c2b-validation``/``c2b-confirmation``) settles
    validation against confirmation, which the two payload shapes alone cannot always tell apart."""
    facts = extract_facts(payload)
    if kind_hint and facts.kind in C2B_KINDS:
        facts = dataclasses.replace(facts, kind=CallbackKind(kind_hint.replace("-", "_")))
    return facts


@dataclasses.dataclass(frozen=True)
class ReceivedCallback:
    """A callback as read from its request, ready to be kept.

    ``destinations`` are the merchant's destinations to consider: each whose
    callback kinds include this callback's kind gets a delivery (all of them
    when ``every_kind``, as for a test delivery sent to one destination).
    """

    merchant: Merchant
    destinations: Sequence[Endpoint]
    raw_body: bytes
    payload: dict[str, Any]
    headers: dict[str, str]
    source_ip: str | None
    facts: CallbackFacts
    priority_override: Priority | None = None
    every_kind: bool = False

    def routes(self) -> list[Route]:
        """Each destination that receives this callback, with the priority its delivery gets there."""
        kind = self.facts.kind.value
        return [
            Route(destination, _priority_decision(self, destination))
            for destination in self.destinations
            if self.every_kind or destination.receives(kind)
        ]


class Route(NamedTuple):
    """One destination a callback goes to, and its delivery's priority there."""

    destination: Endpoint
    decision: PriorityDecision


@dataclasses.dataclass(frozen=True)
class Kept:
    """What became of one received callback: its deliveries (one per matching destination), or the
    deliveries of the original it repeats. A callback no destination receives is kept with none."""

    callback_id: int
    deliveries: tuple[Delivery, ...] = ()
    repeat_of: int | None = None
    routes: tuple[Route, ...] = ()

    @property
    def delivery(self) -> Delivery | None:
        """The first delivery (to the merchant's first matching destination), if any."""
        return self.deliveries[0] if self.deliveries else None


def _priority_decision(item: ReceivedCallback, destination: Endpoint) -> PriorityDecision:
    override = item.priority_override if item.priority_override is not None else destination.priority_override
    return choose_priority(
        default=destination.default_priority,
        override=override,
        use_payment_rules=destination.use_payment_rules,
        high_value_threshold=destination.high_value_threshold,
        facts=item.facts,
    )

"""Delivery priorities: the levels, which rule chose one, and the pair the rules hand to delivery.

Which level a callback gets is decided by ``webhooks.priorities`` (the rules
read M-Pesa's payload); what a level means (its queue, its place in the
claim order) is delivery's, so the levels live here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Priority(models.IntegerChoices):
    """How soon a delivery goes: each level has its own RQ queue named after it, served most urgent first."""

    URGENT = 20, "Urgent"
    HIGH = 10, "High"
    NORMAL = 5, "Normal"
    LOW = 1, "Low"

    @property
    def queue_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_name(cls, name: str) -> Priority:
        """``"urgent"`` → ``Priority.URGENT``; raises ``ValueError`` naming the choices otherwise."""
        try:
            return cls[name.upper()]
        except KeyError:
            choices = ", ".join(p.name.lower() for p in cls)
            raise ValueError(f"unknown priority {name!r}: choose one of {choices}") from None


class PriorityReason(models.TextChoices):
    """Which rule chose a delivery's priority (shown on the delivery record)."""

    ENDPOINT_DEFAULT = "endpoint_default", "Endpoint default"
    OVERRIDE = "override", "Explicit override"
    FAILED_PAYMENT = "failed_payment", "Failed payment"
    HIGH_VALUE = "high_value", "High-value payment"
    INFORMATIONAL = "informational", "Informational callback"
    # Chosen by no rule: it labels the deliveries that recorded C2B validations before they had a
    # record of their own (ValidationExchange); those rows stay readable (docs/mpesa.md §5).
    C2B_VALIDATION = "c2b_validation", "C2B validation (answered at once)"


@dataclass(frozen=True)
class PriorityDecision:
    priority: Priority
    reason: PriorityReason

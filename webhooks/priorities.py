"""Delivery priorities and how a callback's priority is chosen."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Priority(models.IntegerChoices):
    """The original design's levels; each has its own RQ queue named after it."""

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


@dataclass(frozen=True)
class PriorityDecision:
    priority: Priority
    reason: PriorityReason


def choose_priority(*, default: int, override: Priority | None = None) -> PriorityDecision:
    """Pick a callback's priority: an explicit override wins, else the endpoint's default.

    M-Pesa-aware rules (failed payments, high values, informational kinds)
    slot in between the two.
    """
    if override is not None:
        return PriorityDecision(Priority(override), PriorityReason.OVERRIDE)
    return PriorityDecision(Priority(default), PriorityReason.ENDPOINT_DEFAULT)

"""Delivery priorities and how a callback's priority is chosen."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import models

from webhooks.mpesa import CallbackFacts, CallbackKind
from webhooks.mpesa.kinds import INFORMATIONAL_KINDS


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
    # Chosen by no rule: it labels the deliveries that recorded C2B validations before they had a
    # record of their own (ValidationExchange); those rows stay readable (docs/mpesa.md §5).
    C2B_VALIDATION = "c2b_validation", "C2B validation (answered at once)"


# Kinds that move money: a failure among these is what the original design calls critical.
PAYMENT_KINDS = frozenset(
    {
        CallbackKind.STK_CALLBACK,
        CallbackKind.C2B_CONFIRMATION,
        CallbackKind.B2C_RESULT,
        CallbackKind.B2B_RESULT,
        CallbackKind.B2B_EXPRESS_CHECKOUT,
        CallbackKind.B2C_ACCOUNT_TOPUP,
        CallbackKind.REVERSAL_RESULT,
    }
)


@dataclass(frozen=True)
class PriorityDecision:
    priority: Priority
    reason: PriorityReason


def choose_priority(
    *,
    default: int,
    override: int | None = None,
    use_payment_rules: bool = False,
    high_value_threshold: Decimal | None = None,
    facts: CallbackFacts | None = None,
) -> PriorityDecision:
    """Pick a callback's priority. The first rule that applies wins:

    1. an explicit override (the endpoint's, or a test endpoint's) → that priority;
    2. with payment rules on: a failed payment (a payment kind with a result
       that is not success) → URGENT;
    3. an amount at or above the high-value threshold → HIGH;
    4. an informational kind (account balance, transaction status) whose query
       succeeded → LOW (a failed one keeps the default: a failed result is never
       LOW, whatever kind it was read as);
    5. otherwise the endpoint's default.
    """
    if override is not None:
        return PriorityDecision(Priority(override), PriorityReason.OVERRIDE)
    if use_payment_rules and facts is not None:
        if facts.kind in PAYMENT_KINDS and facts.is_success is False:
            return PriorityDecision(Priority.URGENT, PriorityReason.FAILED_PAYMENT)
        if (
            high_value_threshold is not None
            and facts.amount is not None
            and facts.amount >= high_value_threshold
        ):
            return PriorityDecision(Priority.HIGH, PriorityReason.HIGH_VALUE)
        if facts.kind in INFORMATIONAL_KINDS and facts.is_success is True:
            return PriorityDecision(Priority.LOW, PriorityReason.INFORMATIONAL)
    return PriorityDecision(Priority(default), PriorityReason.ENDPOINT_DEFAULT)

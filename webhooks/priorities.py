"""How a callback's delivery priority is chosen (the levels themselves are ``delivery.priority``)."""

from __future__ import annotations

from decimal import Decimal

from delivery.priority import Priority, PriorityDecision, PriorityReason
from webhooks.mpesa import CallbackFacts, CallbackKind
from webhooks.mpesa.kinds import INFORMATIONAL_KINDS

# Kinds that move money: a failed one is a customer's payment that did not go through, which the merchant
# must hear of first (rule 2 of choose_priority).
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

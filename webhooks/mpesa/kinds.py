"""Which kind of M-Pesa (Daraja) callback a parsed JSON body is, from its shape alone.

``detect_kind(payload)`` never raises, whatever it is given. The rules, in order:

1. Not a JSON object → ``UNKNOWN``.
2. ``Body.stkCallback`` present → ``STK_CALLBACK`` (whatever is inside it).
3. ``Result`` is an object → one of the result kinds, or ``QUEUE_TIMEOUT`` (below).
4. Any of ``TransactionType``/``TransID``/``BillRefNumber``/``MSISDN`` at top level → C2B.
   ``OrgAccountBalance`` present and blank → ``C2B_VALIDATION``; anything else →
   ``C2B_CONFIRMATION``. This is only the payload's guess: Safaricom's own
   validation sample carries a balance, so the URL the body arrived on (or, on the
   generic path, ``webhooks.c2b_validation.inbound_facts``) decides where it can.
5. A flat camelCase object with ``resultCode`` and one of ``requestId``,
   ``conversationID``, ``transactionId``, ``paymentReference`` → ``B2B_EXPRESS_CHECKOUT``
   (the USSD-push-to-till callback, the only one Daraja sends in camelCase).
6. A flat object whose ``ResultDesc`` mentions a timeout → ``QUEUE_TIMEOUT``.
7. Anything else → ``UNKNOWN``.

Queue timeout (no sample is published; M-Pesa posts it to the ``QueueTimeOutURL``,
often the same URL as the ``ResultURL``): a ``Result`` object with **no**
``ResultParameters`` items whose ``ResultDesc`` says "timeout", "time out",
"time-out" or "timed out" (any case), or such a flat ``ResultDesc`` without the
``Result`` wrapper. A result carrying parameters was processed, so it is never a
timeout whatever its description.

Result kinds are decided on the structure Safaricom documents, with one aim above
the others: **a payment result is never taken for an informational one** (an
informational kind is delivered at LOW priority; a failed payment is URGENT).

1. An explicit ``CommandID`` (or ``ActionType``) — on the ``Result`` object, among
   its parameters or its reference items — settles it: ``BusinessPayToBulk`` → B2C
   account top-up; ``BusinessPayBill``/``BusinessBuyGoods``/``MerchantToMerchantTransfer``…
   → B2B; ``SalaryPayment``/``BusinessPayment``/``PromotionPayment`` → B2C;
   ``TransactionReversal`` → reversal; ``TransactionStatusQuery`` → transaction status;
   ``AccountBalance`` → account balance.
2. Otherwise marker keys score (each distinct key counts once). Parameters only one
   kind carries: ``AccountBalance`` → account balance; ``OriginalTransactionID`` →
   reversal; ``ReceiptNo``, ``TransactionStatus``, ``FinalisedTime``, ``InitiatedTime``,
   ``ReasonType`` → transaction status; ``TransactionReceipt``, ``TransactionAmount``,
   ``TransactionCompletedDateTime`` and every ``B2C…`` key → B2C;
   ``DebitPartyAffectedAccountBalance``, ``InitiatorAccountCurrentBalance``,
   ``DebitAccountCurrentBalance``, ``Currency`` and the reference item
   ``BillReferenceNumber`` → B2B. Weaker hints: ``CreditPartyPublicName``,
   ``DebitPartyPublicName``, ``Charge``, an ``R000001``-like ``ResultCode`` or a
   ``ResultDesc`` mentioning "revers" → reversal. ``BOCompletedTime``, ``Amount``,
   ``TransCompletedTime``, ``DebitAccountBalance`` and ``DebitPartyCharges`` are carried
   by several kinds (Safaricom's B2B *failure* sample has only ``BOCompletedTime``)
   and score nothing.
3. Words in the echoed ``QueueTimeoutURL``/``ResultURL`` are a hint only (1 point):
   ``b2c…`` → B2C, ``b2b…`` → B2B, ``reversal…`` → reversal; ``abresult…``/``balance…``
   and ``transactionstatus…``/``tsresult…`` → the query kinds; ``topup…``/``paytobulk…``
   turn a B2B-shaped result into a B2C account top-up (its documented result is
   otherwise the B2B result, key for key).
4. An informational kind (account balance, transaction status) is chosen only when
   a parameter that only it carries is present; URL words alone never make a result
   informational. Among the rest the highest score wins; ties go to the payments
   first (B2B, B2C, reversal), then transaction status, then account balance.
   With no marker at all (typically a failed result without parameters) the guess is
   ``B2C_RESULT``, a payment, the commonest result callback.
"""

from __future__ import annotations

import enum
import re

from ._shape import Params, key_value_params, text


class CallbackKind(enum.StrEnum):
    """The callback kinds a relay can receive from Daraja.

    A ``str`` enum (``enum.StrEnum``, i.e. ``str`` and ``enum.Enum``): members compare equal
    to, format as and ``str()`` to their values, so they can be stored as text directly.
    """

    STK_CALLBACK = "stk_callback"
    C2B_VALIDATION = "c2b_validation"
    C2B_CONFIRMATION = "c2b_confirmation"
    B2C_RESULT = "b2c_result"
    B2B_RESULT = "b2b_result"
    B2B_EXPRESS_CHECKOUT = "b2b_express_checkout"
    B2C_ACCOUNT_TOPUP = "b2c_account_topup"
    REVERSAL_RESULT = "reversal_result"
    TRANSACTION_STATUS_RESULT = "transaction_status_result"
    ACCOUNT_BALANCE_RESULT = "account_balance_result"
    QUEUE_TIMEOUT = "queue_timeout"
    UNKNOWN = "unknown"


#: What people call each kind: M-Pesa's (Daraja's) own names, for labels and lists.
KIND_LABELS: dict[str, str] = {
    CallbackKind.STK_CALLBACK: "STK Push result",
    CallbackKind.C2B_VALIDATION: "C2B validation",
    CallbackKind.C2B_CONFIRMATION: "C2B confirmation",
    CallbackKind.B2C_RESULT: "B2C result",
    CallbackKind.B2B_RESULT: "B2B result",
    CallbackKind.B2B_EXPRESS_CHECKOUT: "B2B Express Checkout result",
    CallbackKind.B2C_ACCOUNT_TOPUP: "B2C account top-up result",
    CallbackKind.REVERSAL_RESULT: "Reversal result",
    CallbackKind.TRANSACTION_STATUS_RESULT: "Transaction status result",
    CallbackKind.ACCOUNT_BALANCE_RESULT: "Account balance result",
    CallbackKind.QUEUE_TIMEOUT: "Queue timeout",
    CallbackKind.UNKNOWN: "Not recognised",
}


def kind_label(kind: str) -> str:
    """M-Pesa's name for a callback kind ("STK Push result"); an unknown value as it is."""
    return KIND_LABELS.get(kind, kind)


#: (value, M-Pesa's name) for choices people pick from (filters, the API's descriptions).
KIND_LABEL_CHOICES = [(kind.value, KIND_LABELS[kind]) for kind in CallbackKind]


#: Kinds carried in a top-level ``Result`` object and correlated by ``ConversationID``.
RESULT_KINDS = frozenset(
    {
        CallbackKind.B2C_RESULT,
        CallbackKind.B2B_RESULT,
        CallbackKind.B2C_ACCOUNT_TOPUP,
        CallbackKind.REVERSAL_RESULT,
        CallbackKind.TRANSACTION_STATUS_RESULT,
        CallbackKind.ACCOUNT_BALANCE_RESULT,
        CallbackKind.QUEUE_TIMEOUT,
    }
)
C2B_KINDS = frozenset({CallbackKind.C2B_VALIDATION, CallbackKind.C2B_CONFIRMATION})
#: Kinds that report on something rather than move money.
INFORMATIONAL_KINDS = frozenset({CallbackKind.ACCOUNT_BALANCE_RESULT, CallbackKind.TRANSACTION_STATUS_RESULT})

C2B_KEYS = ("TransactionType", "TransID", "BillRefNumber", "MSISDN")
EXPRESS_CHECKOUT_KEYS = ("requestId", "conversationID", "transactionId", "paymentReference")

_K = CallbackKind
# Parameters that only one kind carries (weight 3) and weaker hints (weight 1).
_PARAM_MARKERS: dict[str, tuple[CallbackKind, int]] = {
    "AccountBalance": (_K.ACCOUNT_BALANCE_RESULT, 3),
    "OriginalTransactionID": (_K.REVERSAL_RESULT, 3),
    "CreditPartyPublicName": (_K.REVERSAL_RESULT, 1),
    "DebitPartyPublicName": (_K.REVERSAL_RESULT, 1),
    "Charge": (_K.REVERSAL_RESULT, 1),
    "ReceiptNo": (_K.TRANSACTION_STATUS_RESULT, 3),
    "TransactionStatus": (_K.TRANSACTION_STATUS_RESULT, 3),
    "InitiatedTime": (_K.TRANSACTION_STATUS_RESULT, 3),
    "FinalisedTime": (_K.TRANSACTION_STATUS_RESULT, 3),
    "ReasonType": (_K.TRANSACTION_STATUS_RESULT, 3),
    "DebitPartyAffectedAccountBalance": (_K.B2B_RESULT, 3),
    "InitiatorAccountCurrentBalance": (_K.B2B_RESULT, 3),
    "DebitAccountCurrentBalance": (_K.B2B_RESULT, 3),
    "Currency": (_K.B2B_RESULT, 1),
    "TransactionAmount": (_K.B2C_RESULT, 3),
    "TransactionReceipt": (_K.B2C_RESULT, 3),
    "TransactionCompletedDateTime": (_K.B2C_RESULT, 3),
}
_REFERENCE_MARKERS: dict[str, tuple[CallbackKind, int]] = {
    "BillReferenceNumber": (_K.B2B_RESULT, 3),
}
#: Informational kinds need one of these to be chosen at all.
_DECISIVE_FOR_INFORMATIONAL: dict[CallbackKind, frozenset[str]] = {
    _K.ACCOUNT_BALANCE_RESULT: frozenset({"AccountBalance"}),
    _K.TRANSACTION_STATUS_RESULT: frozenset(
        {"ReceiptNo", "TransactionStatus", "InitiatedTime", "FinalisedTime", "ReasonType"}
    ),
}
_COMMANDS: dict[str, CallbackKind] = {
    "businesspaytobulk": _K.B2C_ACCOUNT_TOPUP,
    "businesspaybill": _K.B2B_RESULT,
    "businessbuygoods": _K.B2B_RESULT,
    "disbursefundstobusiness": _K.B2B_RESULT,
    "businesstobusinesstransfer": _K.B2B_RESULT,
    "merchanttomerchanttransfer": _K.B2B_RESULT,
    "merchanttransferfrommerchanttoworking": _K.B2B_RESULT,
    "merchantservicesmmfaccounttransfer": _K.B2B_RESULT,
    "agencyfloatadvance": _K.B2B_RESULT,
    "salarypayment": _K.B2C_RESULT,
    "businesspayment": _K.B2C_RESULT,
    "promotionpayment": _K.B2C_RESULT,
    "transactionreversal": _K.REVERSAL_RESULT,
    "transactionstatusquery": _K.TRANSACTION_STATUS_RESULT,
    "accountbalance": _K.ACCOUNT_BALANCE_RESULT,
}
_URL_WORDS: tuple[tuple[str, CallbackKind], ...] = (
    ("b2c", _K.B2C_RESULT),
    ("b2b", _K.B2B_RESULT),
    ("reversal", _K.REVERSAL_RESULT),
    ("abresult", _K.ACCOUNT_BALANCE_RESULT),
    ("accountbalance", _K.ACCOUNT_BALANCE_RESULT),
    ("balance", _K.ACCOUNT_BALANCE_RESULT),
    ("transactionstatus", _K.TRANSACTION_STATUS_RESULT),
    ("tsresult", _K.TRANSACTION_STATUS_RESULT),
)
_TOPUP_WORDS = ("topup", "paytobulk")
# Payments first: when two kinds stay possible, the payment is the safer reading.
_TIE_ORDER = (
    _K.B2B_RESULT,
    _K.B2C_RESULT,
    _K.REVERSAL_RESULT,
    _K.TRANSACTION_STATUS_RESULT,
    _K.ACCOUNT_BALANCE_RESULT,
)
_TIMEOUT_WORDS = re.compile(r"time[\s_-]*out|timed[\s_-]*out", re.IGNORECASE)
_REVERSAL_CODE = re.compile(r"R\d+", re.IGNORECASE)


def detect_kind(payload: object) -> CallbackKind:
    """The ``CallbackKind`` of a parsed JSON body (see the module docstring); never raises."""
    try:
        return _detect(payload)
    except Exception:  # a safety net only: _detect is written (and fuzzed) not to raise
        return CallbackKind.UNKNOWN


def _detect(payload: object) -> CallbackKind:
    if not isinstance(payload, dict):
        return CallbackKind.UNKNOWN
    body = payload.get("Body")
    if isinstance(body, dict) and "stkCallback" in body:
        return CallbackKind.STK_CALLBACK
    result = payload.get("Result")
    if isinstance(result, dict):
        return result_kind(result)
    if any(key in payload for key in C2B_KEYS):
        return c2b_kind(payload)
    if "resultCode" in payload and any(key in payload for key in EXPRESS_CHECKOUT_KEYS):
        return CallbackKind.B2B_EXPRESS_CHECKOUT
    if "Result" not in payload and is_timeout_notice(payload):
        return CallbackKind.QUEUE_TIMEOUT
    return CallbackKind.UNKNOWN


def c2b_kind(payload: dict) -> CallbackKind:
    """Validation when ``OrgAccountBalance`` is present and blank, else confirmation (a guess: see above)."""
    if "OrgAccountBalance" in payload and not text(payload.get("OrgAccountBalance")):
        return CallbackKind.C2B_VALIDATION
    return CallbackKind.C2B_CONFIRMATION


def result_parameters(result: dict) -> Params:
    return key_value_params(result.get("ResultParameters"), "ResultParameter")


def reference_items(result: dict) -> Params:
    return key_value_params(result.get("ReferenceData"), "ReferenceItem")


def is_timeout_notice(result: dict) -> bool:
    """True for a result-like object with no ``ResultParameters`` items and a timeout ``ResultDesc``."""
    if result_parameters(result):
        return False
    return bool(_TIMEOUT_WORDS.search(text(result.get("ResultDesc"))))


def result_kind(result: dict) -> CallbackKind:
    """Classify the contents of a top-level ``Result`` object (see the module docstring)."""
    if is_timeout_notice(result):
        return CallbackKind.QUEUE_TIMEOUT
    params = result_parameters(result)
    references = reference_items(result)
    if (commanded := _command_kind(result, params, references)) is not None:
        return commanded
    scores = dict.fromkeys(_TIE_ORDER, 0)
    for name in params.names:
        kind, weight = _PARAM_MARKERS.get(name) or (
            (_K.B2C_RESULT, 3) if name.startswith("B2C") else (None, 0)
        )
        if kind is not None:
            scores[kind] += weight
    for name in references.names:
        if name in _REFERENCE_MARKERS:
            kind, weight = _REFERENCE_MARKERS[name]
            scores[kind] += weight
    if _REVERSAL_CODE.fullmatch(text(result.get("ResultCode"))):
        scores[CallbackKind.REVERSAL_RESULT] += 1
    if "revers" in text(result.get("ResultDesc")).lower():
        scores[CallbackKind.REVERSAL_RESULT] += 1
    words = _url_tokens(references)
    for kind in _url_hints(words):
        scores[kind] += 1
    for kind, decisive in _DECISIVE_FOR_INFORMATIONAL.items():
        if not decisive & params.names:
            scores[kind] = 0  # never informational on URL words or shared keys alone
    best = max(_TIE_ORDER, key=lambda kind: scores[kind])  # max keeps the first of equal scores
    if scores[best] <= 0:
        return CallbackKind.B2C_RESULT
    if best is CallbackKind.B2B_RESULT and any(word in "".join(words) for word in _TOPUP_WORDS):
        return CallbackKind.B2C_ACCOUNT_TOPUP
    return best


def _command_kind(result: dict, params: Params, references: Params) -> CallbackKind | None:
    candidates = [result.get("CommandID"), result.get("ActionType")]
    for source in (params, references):
        candidates += source.all("CommandID") + source.all("ActionType")
    for value in candidates:
        if (kind := _COMMANDS.get(text(value).lower())) is not None:
            return kind
    return None


def _url_tokens(references: Params) -> list[str]:
    words = " ".join(text(v) for v in references.all("QueueTimeoutURL") + references.all("ResultURL"))
    return [token for token in re.split(r"[^a-z0-9]+", words.lower()) if token]


def _url_hints(tokens: list[str]) -> set[CallbackKind]:
    return {kind for prefix, kind in _URL_WORDS for token in tokens if token.startswith(prefix)}

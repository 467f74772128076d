"""Which kind of M-Pesa (Daraja) callback a parsed JSON body is, from its shape alone.

``detect_kind(payload)`` never raises, whatever it is given. The rules, in order:

1. Not a JSON object → ``UNKNOWN``.
2. ``Body.stkCallback`` present → ``STK_CALLBACK`` (whatever is inside it).
3. ``Result`` is an object → one of the result kinds, or ``QUEUE_TIMEOUT`` (below).
4. Any of ``TransactionType``/``TransID``/``BillRefNumber``/``MSISDN`` at top level → C2B.
   Validation and confirmation bodies have the same fields; the only difference in
   the published samples is ``OrgAccountBalance``: empty on validation, the
   shortcode's balance after the payment on confirmation. So: ``OrgAccountBalance``
   present and blank (``""``, whitespace, ``null``, or not a scalar) →
   ``C2B_VALIDATION``; a value (``"0.00"`` included) or no such key at all →
   ``C2B_CONFIRMATION``. The absent-key case leans to confirmation because a
   confirmation is the record that money moved, and losing one is the worse
   mistake. The URL the body arrived on is the authoritative signal where the
   caller has one.
5. A flat object whose ``ResultDesc`` mentions a timeout → ``QUEUE_TIMEOUT``.
6. Anything else → ``UNKNOWN``.

Queue timeout (no sample is published; M-Pesa posts it to the ``QueueTimeOutURL``,
often the same URL as the ``ResultURL``): a ``Result`` object with **no**
``ResultParameters`` items whose ``ResultDesc`` says "timeout", "time out",
"time-out" or "timed out" (any case), or such a flat ``ResultDesc`` without the
``Result`` wrapper. A result carrying parameters was processed, so it is never a
timeout whatever its description. ``ResultType`` is not used: Daraja documents it
as a resend marker (usually 0), not as a timeout flag.

Result kinds are told apart by scoring marker keys (each distinct key counts once):

- ``ResultParameters`` keys: ``AccountBalance`` (5) and ``BOCompletedTime`` (2) →
  account balance; ``OriginalTransactionID`` (5), ``CreditPartyPublicName``,
  ``DebitPartyPublicName``, ``Charge`` (1 each) → reversal; ``ReceiptNo``,
  ``TransactionStatus`` (3), ``InitiatedTime``, ``FinalisedTime``, ``ReasonType``
  (2), ``DebitPartyName``, ``CreditPartyName``, ``DebitAccountType``,
  ``TransactionReason``, ``DebitPartyCharges`` (1) → transaction status;
  ``DebitPartyAffectedAccountBalance``, ``InitiatorAccountCurrentBalance`` (3),
  ``DebitAccountCurrentBalance`` (2), ``Currency``, ``ReceiverPartyPublicName``,
  ``DebitPartyCharges`` (1) → B2B; ``TransactionAmount``, ``TransactionReceipt``,
  ``TransactionCompletedDateTime`` and every ``B2C…`` key (2), ``ReceiverPartyPublicName``
  (1) → B2C. Keys shared by several kinds (``Amount``, ``TransCompletedTime``,
  ``DebitAccountBalance``) score nothing.
- ``ReferenceData`` keys: ``BillReferenceNumber`` (3) → B2B; ``Occasion`` (1) →
  transaction status.
- A ``ResultCode`` like ``R000001`` (2) or a ``ResultDesc`` mentioning "revers" (2) → reversal.
- Words in the echoed ``QueueTimeoutURL``/``ResultURL`` reference value (1 each):
  ``b2c…`` → B2C, ``b2b…`` → B2B, ``reversal…`` → reversal, ``abresult…``/
  ``accountbalance…``/``balance…`` → account balance, ``transactionstatus…``/
  ``tsresult…`` → transaction status.

The highest score wins; ties go to account balance, reversal, transaction status,
B2B, B2C in that order. With no marker at all (typically a failed result without
parameters) the best generic guess is ``B2C_RESULT``, the commonest result callback
and the shape of the published failure sample.
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
    REVERSAL_RESULT = "reversal_result"
    TRANSACTION_STATUS_RESULT = "transaction_status_result"
    ACCOUNT_BALANCE_RESULT = "account_balance_result"
    QUEUE_TIMEOUT = "queue_timeout"
    UNKNOWN = "unknown"


#: Kinds carried in a top-level ``Result`` object and correlated by ``ConversationID``.
RESULT_KINDS = frozenset(
    {
        CallbackKind.B2C_RESULT,
        CallbackKind.B2B_RESULT,
        CallbackKind.REVERSAL_RESULT,
        CallbackKind.TRANSACTION_STATUS_RESULT,
        CallbackKind.ACCOUNT_BALANCE_RESULT,
        CallbackKind.QUEUE_TIMEOUT,
    }
)

C2B_KEYS = ("TransactionType", "TransID", "BillRefNumber", "MSISDN")

_K = CallbackKind
_PARAM_MARKERS: dict[str, tuple[tuple[CallbackKind, int], ...]] = {
    "AccountBalance": ((_K.ACCOUNT_BALANCE_RESULT, 5),),
    "BOCompletedTime": ((_K.ACCOUNT_BALANCE_RESULT, 2),),
    "OriginalTransactionID": ((_K.REVERSAL_RESULT, 5),),
    "CreditPartyPublicName": ((_K.REVERSAL_RESULT, 1),),
    "DebitPartyPublicName": ((_K.REVERSAL_RESULT, 1),),
    "Charge": ((_K.REVERSAL_RESULT, 1),),
    "ReceiptNo": ((_K.TRANSACTION_STATUS_RESULT, 3),),
    "TransactionStatus": ((_K.TRANSACTION_STATUS_RESULT, 3),),
    "InitiatedTime": ((_K.TRANSACTION_STATUS_RESULT, 2),),
    "FinalisedTime": ((_K.TRANSACTION_STATUS_RESULT, 2),),
    "ReasonType": ((_K.TRANSACTION_STATUS_RESULT, 2),),
    "DebitPartyName": ((_K.TRANSACTION_STATUS_RESULT, 1),),
    "CreditPartyName": ((_K.TRANSACTION_STATUS_RESULT, 1),),
    "DebitAccountType": ((_K.TRANSACTION_STATUS_RESULT, 1),),
    "TransactionReason": ((_K.TRANSACTION_STATUS_RESULT, 1),),
    "DebitPartyCharges": ((_K.TRANSACTION_STATUS_RESULT, 1), (_K.B2B_RESULT, 1)),
    "DebitPartyAffectedAccountBalance": ((_K.B2B_RESULT, 3),),
    "InitiatorAccountCurrentBalance": ((_K.B2B_RESULT, 3),),
    "DebitAccountCurrentBalance": ((_K.B2B_RESULT, 2),),
    "Currency": ((_K.B2B_RESULT, 1),),
    "ReceiverPartyPublicName": ((_K.B2B_RESULT, 1), (_K.B2C_RESULT, 1)),
    "TransactionAmount": ((_K.B2C_RESULT, 2),),
    "TransactionReceipt": ((_K.B2C_RESULT, 2),),
    "TransactionCompletedDateTime": ((_K.B2C_RESULT, 2),),
}
_REFERENCE_MARKERS: dict[str, tuple[CallbackKind, int]] = {
    "BillReferenceNumber": (_K.B2B_RESULT, 3),
    "Occasion": (_K.TRANSACTION_STATUS_RESULT, 1),
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
_TIE_ORDER = (
    _K.ACCOUNT_BALANCE_RESULT,
    _K.REVERSAL_RESULT,
    _K.TRANSACTION_STATUS_RESULT,
    _K.B2B_RESULT,
    _K.B2C_RESULT,
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
    if "Result" not in payload and is_timeout_notice(payload):
        return CallbackKind.QUEUE_TIMEOUT
    return CallbackKind.UNKNOWN


def c2b_kind(payload: dict) -> CallbackKind:
    """Validation when ``OrgAccountBalance`` is present and blank, else confirmation."""
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
    scores = dict.fromkeys(_TIE_ORDER, 0)
    for name in result_parameters(result).names:
        markers = _PARAM_MARKERS.get(name, ())
        if not markers and name.startswith("B2C"):
            markers = ((CallbackKind.B2C_RESULT, 2),)
        for kind, weight in markers:
            scores[kind] += weight
    references = reference_items(result)
    for name in references.names:
        if name in _REFERENCE_MARKERS:
            kind, weight = _REFERENCE_MARKERS[name]
            scores[kind] += weight
    if _REVERSAL_CODE.fullmatch(text(result.get("ResultCode"))):
        scores[CallbackKind.REVERSAL_RESULT] += 2
    if "revers" in text(result.get("ResultDesc")).lower():
        scores[CallbackKind.REVERSAL_RESULT] += 2
    for kind in _url_hints(references):
        scores[kind] += 1
    best = max(_TIE_ORDER, key=lambda kind: scores[kind])  # max keeps the first of equal scores
    return best if scores[best] > 0 else CallbackKind.B2C_RESULT


def _url_hints(references: Params) -> set[CallbackKind]:
    words = " ".join(text(v) for v in references.all("QueueTimeoutURL") + references.all("ResultURL"))
    tokens = [token for token in re.split(r"[^a-z0-9]+", words.lower()) if token]
    return {kind for prefix, kind in _URL_WORDS for token in tokens if token.startswith(prefix)}

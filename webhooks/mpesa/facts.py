"""The facts a relay needs from an M-Pesa callback, extracted without ever rejecting it.

``extract_facts(payload)`` never raises: whatever could be read is returned, and
anything missing, of the wrong type or unparseable is left at its default
(``""``/``None``). Where a field comes from, per kind:

============================ ===========================================================
STK callback                 ``Body.stkCallback``: ``ResultCode``/``ResultDesc``,
                             ``MerchantRequestID``, ``CheckoutRequestID``; from
                             ``CallbackMetadata.Item`` (success only): ``Amount``,
                             ``MpesaReceiptNumber``, ``TransactionDate``, ``PhoneNumber``.
C2B validation/confirmation  ``TransAmount``, ``TransID`` (trans id; the receipt of a
                             confirmation only), ``TransTime``, ``BillRefNumber``,
                             ``MSISDN``. No result code; ``is_success`` is ``True`` for a
                             confirmation (the money moved) and ``None`` for a
                             validation (it has not, and may never). The caller's
                             ``c2b_kind`` (from the URL) overrides the payload's guess.
B2B Express Checkout         the flat camelCase body: ``resultCode``/``resultDesc``,
                             ``amount``, ``transactionId`` (receipt, on success),
                             ``conversationID``, ``requestId`` (kept as the originator
                             id; the correlation id), ``paymentReference``.
Result kinds                 ``Result``: ``ResultCode``/``ResultDesc``, ``ConversationID``,
                             ``OriginatorConversationID``, ``TransactionID`` (trans id);
                             amount from ``TransactionAmount``/``Amount``; receipt from
                             ``TransactionReceipt``/``ReceiptNo``, else ``TransactionID``
                             unless it is a zero-filled placeholder (``NLJ0000000``); time
                             from ``TransactionCompletedDateTime``/``TransCompletedTime``/
                             ``FinalisedTime``/``InitiatedTime``/``BOCompletedTime``;
                             account reference from ``BillReferenceNumber``; phone from the
                             first party name (``ReceiverPartyPublicName``, ``CreditParty…``,
                             ``DebitParty…``) that is a phone number. Account balance results
                             carry no amount (the balance is not a transaction amount).
Queue timeout                ``ResultCode``/``ResultDesc`` and the ids, from ``Result`` or
                             the flat body; ``is_success`` is ``None``: the outcome is
                             unknown and must be reconciled (transaction status query).
============================ ===========================================================

``is_success`` for STK and result kinds is ``True`` when the result code is zero
(``0``, ``"0"``, ``0.0``), ``False`` for any other code and ``None`` when no code
could be read; for the query kinds (account balance, transaction status) it says
whether the query succeeded. Repeated parameter keys yield their first usable value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal

from ._shape import Params, as_dict, item_list, text
from ._values import mask_phone, parse_amount, parse_time, party_phone, receipt_or_blank
from .kinds import C2B_KINDS, RESULT_KINDS, CallbackKind, detect_kind, reference_items, result_parameters


@dataclasses.dataclass(frozen=True)
class CallbackFacts:
    """What a callback says, as far as it could be read. Phone numbers are never kept raw."""

    kind: CallbackKind
    result_code: str = ""
    result_description: str = ""
    is_success: bool | None = None
    amount: Decimal | None = None
    receipt_number: str = ""
    checkout_request_id: str = ""
    merchant_request_id: str = ""
    trans_id: str = ""
    conversation_id: str = ""
    originator_conversation_id: str = ""
    transaction_time: dt.datetime | None = None
    account_reference: str = ""
    phone_number_masked: str = ""

    @property
    def correlation_id(self) -> str:
        """The de-duplication id of the kind: CheckoutRequestID (STK), TransID (C2B),
        ConversationID or else OriginatorConversationID (result kinds, queue timeout), requestId
        (B2B Express Checkout: the one id its failures carry too); ``""`` otherwise."""
        if self.kind is CallbackKind.STK_CALLBACK:
            return self.checkout_request_id
        if self.kind in C2B_KINDS:
            return self.trans_id
        if self.kind is CallbackKind.B2B_EXPRESS_CHECKOUT:
            return self.originator_conversation_id or self.conversation_id
        if self.kind in RESULT_KINDS:
            return self.conversation_id or self.originator_conversation_id
        return ""


def extract_facts(payload: object, *, c2b_kind: CallbackKind | None = None) -> CallbackFacts:
    """The ``CallbackFacts`` of a parsed JSON body; never raises (see the module docstring).

    ``c2b_kind`` (validation or confirmation, known from the URL the body came to)
    overrides the payload's guess for a C2B-shaped body, and so decides ``is_success``
    and the receipt too; for any other shape it is ignored.
    """
    kind = detect_kind(payload)
    if c2b_kind in C2B_KINDS and kind in C2B_KINDS:
        kind = c2b_kind
    try:
        return _extract(kind, payload)
    except Exception:  # a safety net only: _extract is written (and fuzzed) not to raise
        return CallbackFacts(kind=kind)


def _extract(kind: CallbackKind, payload: object) -> CallbackFacts:
    body = as_dict(payload)
    if kind is CallbackKind.STK_CALLBACK:
        return _stk_facts(as_dict(as_dict(body.get("Body")).get("stkCallback")))
    if kind in C2B_KINDS:
        return _c2b_facts(kind, body)
    if kind is CallbackKind.B2B_EXPRESS_CHECKOUT:
        return _express_checkout_facts(body)
    if kind in RESULT_KINDS:
        result = body.get("Result")
        return _result_facts(kind, result if isinstance(result, dict) else body)
    return CallbackFacts(kind=kind)


def _success(code: str) -> bool | None:
    if not code:
        return None
    return re.fullmatch(r"[+-]?0+(?:\.0*)?", code) is not None


def _stk_facts(callback: dict) -> CallbackFacts:
    code = text(callback.get("ResultCode"))
    items = Params(item_list(as_dict(callback.get("CallbackMetadata")).get("Item")), name_field="Name")
    return CallbackFacts(
        kind=CallbackKind.STK_CALLBACK,
        result_code=code,
        result_description=text(callback.get("ResultDesc")),
        is_success=_success(code),
        amount=_first_amount(items, "Amount"),
        receipt_number=items.first_text("MpesaReceiptNumber"),
        checkout_request_id=text(callback.get("CheckoutRequestID")),
        merchant_request_id=text(callback.get("MerchantRequestID")),
        transaction_time=_first_time(items, "TransactionDate"),
        account_reference=items.first_text("AccountReference"),
        phone_number_masked=mask_phone(items.first("PhoneNumber")),
    )


def _c2b_facts(kind: CallbackKind, body: dict) -> CallbackFacts:
    trans_id = text(body.get("TransID"))
    confirmed = kind is CallbackKind.C2B_CONFIRMATION
    return CallbackFacts(
        kind=kind,
        is_success=True if confirmed else None,
        amount=parse_amount(body.get("TransAmount")),
        receipt_number=trans_id if confirmed else "",
        trans_id=trans_id,
        transaction_time=parse_time(body.get("TransTime")),
        account_reference=text(body.get("BillRefNumber")),
        phone_number_masked=mask_phone(body.get("MSISDN")),
    )


_AMOUNT_KEYS = ("TransactionAmount", "Amount")
_RECEIPT_KEYS = ("TransactionReceipt", "ReceiptNo", "MpesaReceiptNumber")
_TIME_KEYS = (
    "TransactionCompletedDateTime",
    "TransCompletedTime",
    "FinalisedTime",
    "InitiatedTime",
    "BOCompletedTime",
)
_PARTY_KEYS = (
    "ReceiverPartyPublicName",
    "CreditPartyName",
    "CreditPartyPublicName",
    "DebitPartyName",
    "DebitPartyPublicName",
)


def _result_facts(kind: CallbackKind, result: dict) -> CallbackFacts:
    code = text(result.get("ResultCode"))
    params = result_parameters(result)
    references = reference_items(result)
    transaction_id = text(result.get("TransactionID"))
    success = None if kind is CallbackKind.QUEUE_TIMEOUT else _success(code)
    receipt = params.first_text(*_RECEIPT_KEYS) or receipt_or_blank(transaction_id)
    has_amount = kind not in (CallbackKind.ACCOUNT_BALANCE_RESULT, CallbackKind.QUEUE_TIMEOUT)
    return CallbackFacts(
        kind=kind,
        result_code=code,
        result_description=text(result.get("ResultDesc")),
        is_success=success,
        amount=_first_amount(params, *_AMOUNT_KEYS) if has_amount else None,
        receipt_number="" if success is False else receipt,
        trans_id=transaction_id,
        conversation_id=text(result.get("ConversationID")),
        originator_conversation_id=text(result.get("OriginatorConversationID")),
        transaction_time=_first_time(params, *_TIME_KEYS),
        account_reference=references.first_text("BillReferenceNumber")
        or params.first_text("BillReferenceNumber"),
        phone_number_masked=_party_phone(params),
    )


def _express_checkout_facts(body: dict) -> CallbackFacts:
    code = text(body.get("resultCode"))
    success = _success(code)
    transaction_id = text(body.get("transactionId"))
    return CallbackFacts(
        kind=CallbackKind.B2B_EXPRESS_CHECKOUT,
        result_code=code,
        result_description=text(body.get("resultDesc")),
        is_success=success,
        amount=parse_amount(body.get("amount")),
        receipt_number=receipt_or_blank(transaction_id) if success else "",
        trans_id=transaction_id,
        conversation_id=text(body.get("conversationID")),
        originator_conversation_id=text(body.get("requestId")),
        account_reference=text(body.get("paymentReference")),
    )


def _first_amount(params: Params, *names: str) -> Decimal | None:
    for name in names:
        for value in params.all(name):
            if (amount := parse_amount(value)) is not None:
                return amount
    return None


def _first_time(params: Params, *names: str) -> dt.datetime | None:
    for name in names:
        for value in params.all(name):
            if (moment := parse_time(value)) is not None:
                return moment
    return None


def _party_phone(params: Params) -> str:
    for name in _PARTY_KEYS:
        for value in params.all(name):
            if phone := party_phone(value):
                return phone
    return ""

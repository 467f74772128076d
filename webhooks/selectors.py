"""Reads on endpoints and callbacks."""

from __future__ import annotations

import hmac

from django.db.models import Q, QuerySet

from webhooks.models import Callback, Endpoint


def endpoint_for_inbound(user_id: str, token: str | None) -> Endpoint | None:
    """The endpoint a callback may be accepted for, or ``None`` (refuse, without saying why).

    With a token: the user's endpoint when the token matches (compared in
    constant time). Without one (the bare legacy path): the endpoint only if
    it is explicitly marked as allowing the legacy path.
    """
    endpoint = Endpoint.objects.filter(user_id=user_id).first()
    if endpoint is None:
        return None
    if token is None:
        return endpoint if endpoint.allow_legacy_path else None
    if hmac.compare_digest(endpoint.inbound_token.encode(), token.encode()):
        return endpoint
    return None


def endpoint_by_user_id(user_id: str) -> Endpoint | None:
    return Endpoint.objects.filter(user_id=user_id).first()


def callbacks_matching(query: str) -> QuerySet[Callback]:
    """Callbacks a person is asking about, by the ids people quote.

    ``query`` is matched exactly against the receipt number (as typed or
    upper-cased, M-Pesa's receipts being upper case: an index serves both, where
    a case-insensitive match would scan),
    CheckoutRequestID, MerchantRequestID, TransID, ConversationID and
    OriginatorConversationID; three or four digits also match the last digits of
    the (masked) phone number. Newest first; an empty query matches nothing.
    """
    query = query.strip()
    if not query:
        return Callback.objects.none()
    condition = (
        Q(receipt_number__in={query, query.upper()})
        | Q(checkout_request_id=query)
        | Q(merchant_request_id=query)
        | Q(trans_id=query)
        | Q(conversation_id=query)
        | Q(originator_conversation_id=query)
    )
    if query.isdigit() and 3 <= len(query) <= 4:
        condition |= Q(phone_number_masked__endswith=query[-3:])
    return Callback.objects.filter(condition).order_by("-received_at")

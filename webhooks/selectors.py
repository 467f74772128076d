"""Reads on endpoints and callbacks."""

from __future__ import annotations

import hmac
from functools import cache

from django.db import connection
from django.db.models import Q, QuerySet

from daraja.bound_sql import fetchone_checked
from webhooks.models import Callback, Endpoint


def endpoint_for_inbound(user_id: str, token: str | None) -> Endpoint | None:
    """The endpoint a callback may be accepted for, or ``None`` (refuse, without saying why).

    With a token: the user's endpoint when the token matches (compared in
    constant time). Without one (the bare legacy path): the endpoint only if
    it is explicitly marked as allowing the legacy path.
    """
    endpoint = endpoint_by_user_id(user_id)
    if endpoint is None:
        return None
    if token is None:
        return endpoint if endpoint.allow_legacy_path else None
    if hmac.compare_digest(endpoint.inbound_token.encode(), token.encode()):
        return endpoint
    return None


def endpoint_by_user_id(user_id: str) -> Endpoint | None:
    """The endpoint of ``user_id``, read from the database on every call (no cache to invalidate).

    On Postgres one fixed statement, the row made into an ``Endpoint`` as the
    ORM would (every inbound request makes this lookup; the ORM spent several
    times the query's own cost building it). Elsewhere the ORM.
    """
    if connection.vendor != "postgresql":
        return Endpoint.objects.filter(user_id=user_id).first()
    # The lookup is the inbound request's first statement: it doubles as the connection's health check.
    row = fetchone_checked(connection, _endpoint_statement(), [user_id])
    if row is None:
        return None
    # psycopg returns every column of an endpoint as the model's Python type: no converter is needed.
    return Endpoint.from_db(connection.alias, None, row)


@cache
def _endpoint_statement() -> str:
    fields = Endpoint._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    user_id = connection.ops.quote_name(Endpoint._meta.get_field("user_id").column)
    return f"SELECT {columns} FROM {Endpoint._meta.db_table} WHERE {user_id} = %s"  # noqa: S608 - names only


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

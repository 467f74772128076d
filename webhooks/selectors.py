"""Reads on merchants, their destinations and callbacks."""

from __future__ import annotations

import hmac
from functools import cache

from django.db import connection
from django.db.models import JSONField, Q, QuerySet

from daraja.core.bound_sql import fetchall_checked
from webhooks.models import MAIN_DESTINATION, Callback, Endpoint, Merchant


def merchant_for_inbound(user_id: str, token: str | None) -> Merchant | None:
    """The merchant a callback may be accepted for, with its destinations, or ``None`` (refuse, without
    saying why).

    With a token: the merchant when the token matches (compared in constant
    time). Without one (the bare legacy path): the merchant only if it is
    explicitly marked as allowing the legacy path.
    """
    merchant = merchant_by_user_id(user_id)
    if merchant is None:
        return None
    if token is None:
        return merchant if merchant.allow_legacy_path else None
    if hmac.compare_digest(merchant.inbound_token.encode(), token.encode()):
        return merchant
    return None


def merchant_by_user_id(user_id: str) -> Merchant | None:
    """The merchant of ``user_id`` with its destinations loaded (``merchant.destination_list``, oldest
    first), read from the database on every call (no cache to invalidate).

    On Postgres one fixed statement (the merchant joined to its destinations),
    the rows made into model instances as the ORM would: every inbound request
    makes this lookup, and the ORM spent several times the query's own cost
    building it. Elsewhere the ORM, in two queries.
    """
    if connection.vendor != "postgresql":
        merchant = Merchant.objects.filter(user_id=user_id).first()
        if merchant is not None:
            _attach(merchant, list(merchant.destinations.order_by("pk")))
        return merchant
    # The lookup is the inbound request's first statement: it doubles as the connection's health check.
    rows = fetchall_checked(connection, _merchant_statement(), [user_id])
    if not rows:
        return None
    split = len(Merchant._meta.concrete_fields)
    # psycopg returns every column as the model's Python type but JSON, which Django decodes itself.
    merchant = Merchant.from_db(connection.alias, None, rows[0][:split])
    _attach(
        merchant,
        [
            Endpoint.from_db(connection.alias, None, _converted(row[split:]))
            for row in rows
            if row[split] is not None
        ],
    )
    return merchant


def _converted(values: tuple) -> list:
    values = list(values)
    for position, field in _endpoint_json_fields():
        values[position] = field.from_db_value(values[position], None, connection)
    return values


@cache
def _endpoint_json_fields() -> tuple:
    return tuple(
        (position, field)
        for position, field in enumerate(Endpoint._meta.concrete_fields)
        if isinstance(field, JSONField)
    )


def destination_of(user_id: str, name: str = MAIN_DESTINATION) -> Endpoint | None:
    """One destination of a merchant, by name (the main one unless named), with its merchant."""
    return Endpoint.objects.select_related("merchant").filter(user_id=user_id, name=name).first()


def main_destination(merchant: Merchant) -> Endpoint | None:
    """The merchant's first destination: the one the single-endpoint API and commands speak of."""
    destination = merchant.destinations.order_by("pk").first()
    if destination is not None:
        Endpoint.merchant.field.set_cached_value(destination, merchant)
    return destination


def _attach(merchant: Merchant, destinations: list[Endpoint]) -> None:
    for destination in destinations:
        Endpoint.merchant.field.set_cached_value(destination, merchant)
    merchant.destination_list = destinations


@cache
def _merchant_statement() -> str:
    quote = connection.ops.quote_name
    merchant_columns = ", ".join(f"m.{quote(f.column)}" for f in Merchant._meta.concrete_fields)
    endpoint_columns = ", ".join(f"e.{quote(f.column)}" for f in Endpoint._meta.concrete_fields)
    merchant_key = quote(Endpoint._meta.get_field("merchant").column)
    user_id = quote(Merchant._meta.get_field("user_id").column)
    return (
        f"SELECT {merchant_columns}, {endpoint_columns} FROM {Merchant._meta.db_table} m "  # noqa: S608
        f"LEFT JOIN {Endpoint._meta.db_table} e ON e.{merchant_key} = m.id "
        f"WHERE m.{user_id} = %s ORDER BY e.id"
    )


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

"""A group of callbacks written in one statement on Postgres: repeat check, callback rows, delivery rows.

``webhooks.services.callbacks_keep`` calls this on Postgres (the ORM path
serves every other database). One statement takes the group as arrays
(``unnest``) and, in one round trip and one parse:

1. finds, for each callback that has a repeat key (``webhooks.duplicates``),
   the earliest callback with that key received within the window (the
   ``callback_duplicate_idx`` lookup the ORM path makes);
2. inserts one callback row for each callback that repeats nothing, the
   first of its key in the group, with the group's later copies already
   counted on it (``duplicate_count``);
3. inserts a pending delivery for each of those rows and each of its
   routes (the merchant's destinations that receive its kind: none, one or
   several);
4. counts repeats of earlier callbacks on those callbacks;

and returns, per callback in group order, what became of it. The workers
are woken for the new deliveries of active destinations when the transaction
commits (``delivery.wakeup.wake_on_commit``, coalesced: no Redis command
per callback). An earlier callback's deliveries are read only when the
group holds a repeat of one.

Every delivery column the statement does not set itself gets its model
default, so a column added to ``Delivery`` with a default needs no change
here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connection
from django.utils import timezone

from daraja.core.bound_sql import bound_cursor
from delivery.models import Delivery, new_webhook_id
from delivery.wakeup import wake_on_commit
from webhooks.duplicates import RepeatKey
from webhooks.models import Callback, storable_amount
from webhooks.received import ReceivedCallback, Route

# Per callback: the array each column travels in, and its SQL type.
_ITEM_COLUMNS = (
    ("ord", "int"),
    ("merchant_id", "bigint"),
    ("keyed", "boolean"),
    ("raw_body", "bytea"),
    ("payload", "text"),
    ("headers", "text"),
    ("source_ip", "text"),
    ("kind", "text"),
    ("result_code", "text"),
    ("result_description", "text"),
    ("is_success", "boolean"),
    ("amount", "numeric"),
    ("receipt_number", "text"),
    ("checkout_request_id", "text"),
    ("merchant_request_id", "text"),
    ("trans_id", "text"),
    ("conversation_id", "text"),
    ("originator_conversation_id", "text"),
    ("transaction_time", "timestamptz"),
    ("account_reference", "text"),
    ("phone_number_masked", "text"),
    ("correlation_id", "text"),
)
# Per delivery (a callback and one of its routes): the same, for the second set of arrays.
_ROUTE_COLUMNS = (
    ("ord", "int"),
    ("endpoint_id", "bigint"),
    ("webhook_id", "text"),
    ("priority", "int"),
    ("priority_reason", "text"),
)
# Callback columns copied from the arrays as they are (the others are computed in the statement).
_COPIED = [name for name, _ in _ITEM_COLUMNS[3:22] if name not in ("payload", "headers", "source_ip")]
# Delivery columns the statement sets itself; every other one gets its model default.
_DELIVERY_SET = {
    "id",
    "callback_id",
    "endpoint_id",
    "webhook_id",
    "status",
    "priority",
    "priority_reason",
    "attempt_count",
    "cycle",
    "cycle_attempt_count",
    "lease_token",
    "created_at",
    "updated_at",
}


@cache
def _delivery_defaults() -> tuple[tuple[str, str, object], ...]:
    """(column, SQL type, value) of the delivery columns left to their defaults (the same for every row)."""
    defaults = []
    for field in Delivery._meta.concrete_fields:
        if field.attname in _DELIVERY_SET:
            continue
        value = field.get_db_prep_save(field.get_default(), connection)
        defaults.append((field.column, field.db_type(connection), value))
    return tuple(defaults)


@cache
def _statement() -> str:
    callbacks, deliveries = Callback._meta.db_table, Delivery._meta.db_table
    arrays = ", ".join(f"%(a{number})b::{kind}[]" for number, (_, kind) in enumerate(_ITEM_COLUMNS))
    names = ", ".join(name for name, _ in _ITEM_COLUMNS)
    route_arrays = ", ".join(f"%(r{number})b::{kind}[]" for number, (_, kind) in enumerate(_ROUTE_COLUMNS))
    route_names = ", ".join(name for name, _ in _ROUTE_COLUMNS)
    defaults = _delivery_defaults()
    default_columns = "".join(f", {column}" for column, _, _ in defaults)
    default_values = "".join(f", %(d{number})s::{kind}" for number, (_, kind, _) in enumerate(defaults))
    copied = ", ".join(_COPIED)
    # Only names from the models' metadata go into the text; every value is a parameter.
    # psycopg parses a statement's placeholders once and reuses that while it is under 4096 characters.
    return _collapsed(f"""
WITH item AS (
    SELECT * FROM unnest({arrays}) AS item({names})
),
route AS (
    SELECT * FROM unnest({route_arrays}) AS route({route_names})
),
placed AS (
    SELECT item.*, original.id AS original_id,
        CASE WHEN item.keyed THEN min(item.ord) OVER same_key ELSE item.ord END AS first_ord,
        CASE WHEN item.keyed THEN count(*) OVER same_key ELSE 1 END AS arrivals
    FROM item
    LEFT JOIN LATERAL (
        SELECT earlier.id FROM {callbacks} earlier
        WHERE item.keyed
            AND earlier.merchant_id = item.merchant_id
            AND earlier.kind = item.kind
            AND earlier.correlation_id = item.correlation_id
            AND earlier.result_code = item.result_code
            AND earlier.received_at >= %(since)s
        ORDER BY earlier.received_at, earlier.id
        LIMIT 1
    ) original ON true
    WINDOW same_key AS (PARTITION BY item.keyed, item.merchant_id, item.kind, item.correlation_id,
                                     item.result_code)
),
fresh AS (
    SELECT first.*, nextval(pg_get_serial_sequence('{callbacks}', 'id')) AS callback_id
    FROM (SELECT * FROM placed WHERE original_id IS NULL AND first_ord = ord ORDER BY ord) first
),
new_callback AS (
    INSERT INTO {callbacks} (id, merchant_id, payload, headers, source_ip, received_at, {copied},
                             duplicate_count, last_duplicate_at, created_at, updated_at)
    SELECT callback_id, merchant_id, payload::jsonb, headers::jsonb, source_ip::inet, %(now)s, {copied},
           arrivals - 1, CASE WHEN arrivals > 1 THEN %(now)s::timestamptz END, %(now)s, %(now)s
    FROM fresh
),
new_delivery AS (
    INSERT INTO {deliveries} (callback_id, endpoint_id, webhook_id, status, priority, priority_reason,
                              attempt_count, cycle, cycle_attempt_count, lease_token, created_at,
                              updated_at{default_columns})
    SELECT fresh.callback_id, route.endpoint_id, route.webhook_id, %(status)s, route.priority,
           route.priority_reason, 0, 1, 0, '', %(now)s, %(now)s{default_values}
    FROM fresh JOIN route ON route.ord = fresh.ord
    RETURNING id, callback_id, endpoint_id
),
counted AS (
    UPDATE {callbacks} original
    SET duplicate_count = original.duplicate_count + repeated.arrivals,
        last_duplicate_at = %(now)s, updated_at = %(now)s
    FROM (SELECT original_id, count(*) AS arrivals FROM placed WHERE original_id IS NOT NULL
          GROUP BY original_id) repeated
    WHERE original.id = repeated.original_id
)
SELECT placed.ord, placed.first_ord, placed.original_id, fresh.callback_id, new_delivery.id,
       new_delivery.endpoint_id
FROM placed
LEFT JOIN fresh ON fresh.ord = placed.first_ord AND placed.original_id IS NULL
LEFT JOIN new_delivery ON new_delivery.callback_id = fresh.callback_id AND placed.ord = fresh.ord
ORDER BY placed.ord
""")  # noqa: S608


def _collapsed(statement: str) -> str:
    """The statement on one line, each run of white space made one space (it has no such literal)."""
    return " ".join(statement.split())


def callbacks_write(
    received: Sequence[ReceivedCallback],
    keys: Sequence[RepeatKey | None],
    routes: Sequence[Sequence[Route]],
) -> list[tuple[list[Delivery], int, int | None]]:
    """Write a group (in a transaction, on Postgres); per callback ``(deliveries, callback id, repeat of)``.

    ``keys`` and ``routes`` are the callbacks' repeat keys and routes, in the
    same order. A new callback answers with its own id and one delivery per
    route, in route order; a repeat with the id and the deliveries of the
    callback it repeats.
    """
    now = timezone.now()
    params = _arrays(received, keys)
    webhook_ids = [[new_webhook_id() for _ in item_routes] for item_routes in routes]
    params.update(_route_arrays(routes, webhook_ids))
    params["since"] = now - timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    params["now"] = now
    params["status"] = Delivery.Status.PENDING
    for number, (_, _, value) in enumerate(_delivery_defaults()):
        params[f"d{number}"] = value
    with bound_cursor(connection) as cursor:
        cursor.execute(_statement(), params)
        rows = cursor.fetchall()

    placed: dict[int, tuple[int, int | None, int | None]] = {}  # ord → (first ord, original, callback id)
    inserted: dict[int, dict[int, int]] = {}  # ord of a new callback → {destination id: delivery id}
    for ord_, first, original_id, callback_id, delivery_id, endpoint_id in rows:
        placed[ord_] = (first, original_id, callback_id)
        if delivery_id is not None:
            inserted.setdefault(ord_, {})[endpoint_id] = delivery_id
    deliveries: dict[int, list[Delivery]] = {}  # ord of a new callback → its deliveries, in route order
    for ord_, (first, original_id, callback_id) in placed.items():
        if ord_ == first and original_id is None:
            ids = inserted.get(ord_, {})
            deliveries[ord_] = [
                _delivery(route, ids[route.destination.pk], callback_id, webhook_id, now)
                for route, webhook_id in zip(routes[ord_], webhook_ids[ord_], strict=True)
            ]
    earlier = deliveries_of({original for _, original, _ in placed.values() if original is not None})
    written = []
    for ord_ in range(len(received)):
        first, original_id, callback_id = placed[ord_]
        if original_id is not None:
            written.append((earlier.get(original_id, []), original_id, original_id))
        elif ord_ != first:
            written.append((deliveries[first], callback_id, callback_id))
        else:
            written.append((deliveries[ord_], callback_id, None))
    wake_on_commit(
        delivery.priority
        for item_deliveries in deliveries.values()
        for delivery in item_deliveries
        if delivery.endpoint.is_active
    )
    return written


def _arrays(received, keys) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name, _ in _ITEM_COLUMNS}
    for position, (item, key) in enumerate(zip(received, keys, strict=True)):
        facts = item.facts
        row = {
            "ord": position,
            "merchant_id": item.merchant.pk,
            "keyed": key is not None,
            "raw_body": bytes(item.raw_body),
            "payload": json.dumps(item.payload),
            "headers": json.dumps(item.headers),
            "source_ip": item.source_ip,
            "kind": facts.kind.value,
            "result_code": facts.result_code[:32],
            "result_description": facts.result_description,
            "is_success": facts.is_success,
            "amount": storable_amount(facts.amount),
            "receipt_number": facts.receipt_number[:64],
            "checkout_request_id": facts.checkout_request_id[:128],
            "merchant_request_id": facts.merchant_request_id[:128],
            "trans_id": facts.trans_id[:64],
            "conversation_id": facts.conversation_id[:128],
            "originator_conversation_id": facts.originator_conversation_id[:128],
            "transaction_time": facts.transaction_time,
            "account_reference": facts.account_reference[:128],
            "phone_number_masked": facts.phone_number_masked[:80],
            "correlation_id": facts.correlation_id[:128],
        }
        for name, values in columns.items():
            values.append(row[name])
    return {f"a{number}": columns[name] for number, (name, _) in enumerate(_ITEM_COLUMNS)}


def _route_arrays(routes, webhook_ids) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name, _ in _ROUTE_COLUMNS}
    for position, (item_routes, item_webhook_ids) in enumerate(zip(routes, webhook_ids, strict=True)):
        for route, webhook_id in zip(item_routes, item_webhook_ids, strict=True):
            columns["ord"].append(position)
            columns["endpoint_id"].append(route.destination.pk)
            columns["webhook_id"].append(webhook_id)
            columns["priority"].append(int(route.decision.priority))
            columns["priority_reason"].append(route.decision.reason)
    return {f"r{number}": columns[name] for number, (name, _) in enumerate(_ROUTE_COLUMNS)}


def _delivery(route, delivery_id, callback_id, webhook_id, now: datetime) -> Delivery:
    """The delivery row just inserted, as the ORM would have loaded it."""
    delivery = Delivery(
        id=delivery_id,
        callback_id=callback_id,
        endpoint=route.destination,
        webhook_id=webhook_id,
        status=Delivery.Status.PENDING,
        priority=route.decision.priority,
        priority_reason=route.decision.reason,
        created_at=now,
        updated_at=now,
    )
    delivery._state.adding = False
    delivery._state.db = connection.alias
    return delivery


def deliveries_of(callback_ids: set[int]) -> dict[int, list[Delivery]]:
    """Each callback's deliveries, oldest first (what a repeat of it answers with); no query for none."""
    found: dict[int, list[Delivery]] = {}
    if not callback_ids:
        return found
    for delivery in Delivery.objects.filter(callback_id__in=callback_ids).order_by("pk"):
        found.setdefault(delivery.callback_id, []).append(delivery)
    return found

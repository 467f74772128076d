"""A group of callbacks kept at once (webhooks.services.callbacks_keep): one statement on Postgres.

Whatever the database, a group keeps each new callback once with one pending
delivery, answers a repeat with its original's delivery and counts it there,
and wakes the workers for active endpoints only. On Postgres all of it is one
statement (webhooks.group_write), whose rows must be the rows the ORM path
writes.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import DataError, IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from delivery.models import Delivery
from delivery.priority import Priority
from tests.helpers import stk_body
from tests.webhooks.test_group_commit import held_committer, on_own_connection, received, submit_all
from webhooks import group_write
from webhooks.duplicates import repeat_key
from webhooks.models import Callback
from webhooks.received import ReceivedCallback, read_facts
from webhooks.services import _callbacks_keep_orm, callbacks_keep


def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement group write is Postgres's")


def unkeyed(endpoint) -> ReceivedCallback:
    """A callback of a shape the relay does not know: never taken as a repeat."""
    payload = {"Something": {"Else": uuid.uuid4().hex}}
    return ReceivedCallback(
        merchant=endpoint.merchant,
        destinations=[endpoint],
        raw_body=json.dumps(payload).encode(),
        payload=payload,
        headers={},
        source_ip=None,
        facts=read_facts(payload),
    )


@pytest.mark.django_db(transaction=True)
def test_repeats_inside_one_group_and_of_earlier_callbacks_are_absorbed_and_counted(endpoint_factory):
    # given a payment kept earlier, and a group holding two new payments, repeats of both kinds,
    # and two identical callbacks of an unknown shape
    endpoint = endpoint_factory(user_id="shop-mixed")
    earlier = callbacks_keep([received(endpoint, "ws_CO_earlier")])[0]
    odd = unkeyed(endpoint)
    group = [
        received(endpoint, "ws_CO_a"),
        received(endpoint, "ws_CO_b"),
        received(endpoint, "ws_CO_a"),
        received(endpoint, "ws_CO_earlier"),
        received(endpoint, "ws_CO_earlier"),
        odd,
        odd,
        received(endpoint, "ws_CO_a"),
    ]

    # when the group is kept at once
    kept = callbacks_keep(group)

    # then each new payment is one callback with one delivery, repeats answer with their original's
    a, b, again_a, e1, e2, odd1, odd2, third_a = kept
    assert a.repeat_of is None and b.repeat_of is None
    assert again_a.repeat_of == third_a.repeat_of == a.callback_id
    assert again_a.delivery.pk == third_a.delivery.pk == a.delivery.pk
    assert e1.repeat_of == e2.repeat_of == earlier.callback_id
    assert e1.delivery.pk == e2.delivery.pk == earlier.delivery.pk
    # an unknown shape is never a repeat: both are kept
    assert odd1.repeat_of is None and odd2.repeat_of is None and odd1.callback_id != odd2.callback_id
    assert Callback.objects.count() == 5  # earlier, a, b and the two unknown ones
    assert Delivery.objects.count() == 5
    assert set(Delivery.objects.values_list("callback_id", flat=True)) == set(
        Callback.objects.values_list("pk", flat=True)
    )
    counts = dict(Callback.objects.values_list("checkout_request_id", "duplicate_count"))
    assert counts["ws_CO_a"] == 2
    assert counts["ws_CO_b"] == 0
    assert counts["ws_CO_earlier"] == 2
    assert Callback.objects.get(pk=a.callback_id).last_duplicate_at is not None
    assert Callback.objects.get(pk=b.callback_id).last_duplicate_at is None
    for outcome, item in zip(kept, group, strict=True):
        stored = Callback.objects.get(pk=outcome.callback_id)
        assert bytes(stored.raw_body) == item.raw_body
        assert outcome.delivery.callback_id == stored.pk


@pytest.mark.django_db(transaction=True)
def test_on_postgres_a_group_is_written_in_one_statement(endpoint_factory):
    postgres_only()
    # given a group of eight, one a repeat of another
    endpoint = endpoint_factory(user_id="shop-one-statement")
    group = [received(endpoint, f"ws_CO_one_{n}") for n in range(7)] + [received(endpoint, "ws_CO_one_0")]

    # when it is kept
    with CaptureQueriesContext(connection) as queries:
        kept = callbacks_keep(group)

    # then the database saw one statement (and the transaction around it)
    statements = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].split()[0].upper() not in {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"}
    ]
    assert len(statements) == 1, statements
    assert kept[7].repeat_of == kept[0].callback_id
    assert Delivery.objects.count() == 7


@pytest.mark.django_db(transaction=True)
def test_the_statement_writes_the_rows_the_orm_writes(endpoint_factory):
    postgres_only()
    # given the same kind of callback kept once by the statement and once by the ORM path
    endpoint = endpoint_factory(user_id="shop-same-rows", default_priority=Priority.HIGH)
    by_statement = callbacks_keep([received(endpoint, "ws_CO_statement")])[0]
    item = received(endpoint, "ws_CO_orm")
    deliveries, callback_id, _ = _callbacks_keep_orm(
        [item], [repeat_key(endpoint.merchant_id, item.facts)], [item.routes()]
    )[0]

    # then the two deliveries differ only in what is unique to each row
    unique = {"id", "callback_id", "webhook_id", "created_at", "updated_at"}
    columns = [field.attname for field in Delivery._meta.concrete_fields if field.attname not in unique]
    statement_row = Delivery.objects.filter(pk=by_statement.delivery.pk).values(*columns).get()
    orm_row = Delivery.objects.filter(pk=deliveries[0].pk).values(*columns).get()
    assert statement_row == orm_row
    assert statement_row["status"] == Delivery.Status.PENDING
    assert statement_row["priority"] == Priority.HIGH
    assert (statement_row["attempt_count"], statement_row["cycle"], statement_row["cycle_attempt_count"]) == (
        0,
        1,
        0,
    )
    assert statement_row["lease_token"] == "" and statement_row["next_attempt_at"] is None
    stored = Delivery.objects.get(pk=by_statement.delivery.pk)
    assert stored.webhook_id == by_statement.delivery.webhook_id and stored.webhook_id.startswith("msg_")
    assert stored.created_at == by_statement.delivery.created_at

    # and so do the two callbacks, but for the ids they carry
    unique = {"id", "received_at", "created_at", "updated_at", "checkout_request_id", "correlation_id"}
    unique |= {"merchant_request_id", "raw_body", "payload"}
    columns = [field.attname for field in Callback._meta.concrete_fields if field.attname not in unique]
    statement_callback = Callback.objects.filter(pk=by_statement.callback_id).values(*columns).get()
    orm_callback = Callback.objects.filter(pk=callback_id).values(*columns).get()
    assert statement_callback == orm_callback
    assert Callback.objects.get(pk=by_statement.callback_id).payload == json.loads(
        stk_body("ws_CO_statement")
    )


@pytest.mark.django_db(transaction=True)
def test_workers_are_woken_once_per_group_for_active_endpoints_only(endpoint_factory, monkeypatch):
    # given one active and one paused endpoint
    woken = []
    monkeypatch.setattr(group_write, "wake_on_commit", lambda priorities: woken.append(set(priorities)))
    monkeypatch.setattr("delivery.services.wake_on_commit", lambda priorities: woken.append(set(priorities)))
    active = endpoint_factory(user_id="shop-awake", default_priority=Priority.HIGH)
    paused = endpoint_factory(user_id="shop-asleep", default_priority=Priority.LOW, is_active=False)

    # when a group holds callbacks for both
    callbacks_keep([received(active, "ws_CO_w1"), received(paused, "ws_CO_w2"), received(active, "ws_CO_w3")])

    # then one wake-up is asked for, for the active endpoint's priority
    assert woken == [{Priority.HIGH}]


@pytest.mark.django_db(transaction=True)
def test_a_callback_postgres_refuses_inside_a_group_fails_alone(endpoint_factory):
    postgres_only()
    # given a group where one payload holds a NUL character, which jsonb refuses
    endpoint = endpoint_factory(user_id="shop-nul")
    bad_payload = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_nul", "ResultDesc": "a\u0000b"}}}
    bad = ReceivedCallback(
        merchant=endpoint.merchant,
        destinations=[endpoint],
        raw_body=json.dumps(bad_payload).encode(),
        payload=bad_payload,
        headers={},
        source_ip=None,
        facts=read_facts(bad_payload),
    )
    items = [received(endpoint, "ws_CO_lead_nul"), received(endpoint, "ws_CO_ok1"), bad]
    items.append(received(endpoint, "ws_CO_ok2"))
    committer, held = held_committer(
        on_own_connection(callbacks_keep), queued=3, retry_alone_on=(IntegrityError, DataError)
    )

    # when they arrive together
    outcomes = submit_all(committer, items)

    # then the group was refused, each was tried alone, and only the bad one failed
    assert isinstance(outcomes[2], DataError)
    assert sorted(map(len, held.groups)) == [1, 1, 1, 1, 3]
    assert set(Callback.objects.values_list("checkout_request_id", flat=True)) == {
        "ws_CO_lead_nul",
        "ws_CO_ok1",
        "ws_CO_ok2",
    }
    assert Delivery.objects.count() == 3


def test_the_statement_stays_within_what_psycopg_parses_once():
    """psycopg caches a statement's parsed placeholders only under these limits: past them, every
    group would pay the parse again."""
    if connection.vendor != "postgresql":
        pytest.skip("Postgres only")
    from psycopg import _queries

    assert len(group_write._statement()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    parameters = len(group_write._ITEM_COLUMNS) + 3 + len(group_write._delivery_defaults())
    assert parameters <= _queries.MAX_CACHED_STATEMENT_PARAMS

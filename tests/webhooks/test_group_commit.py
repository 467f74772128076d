"""Group commit at ingest (webhooks.group_commit): callbacks arriving together share one transaction.

The committer is exercised with real threads; the callbacks' tests run them
against the real test database (SQLite or Postgres), on threads of their own.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction

from delivery.models import Delivery
from tests.helpers import stk_body
from webhooks import services
from webhooks.group_commit import GroupCommitter
from webhooks.models import Callback, Endpoint, Merchant
from webhooks.received import ReceivedCallback, read_facts
from webhooks.services import callback_receive, callbacks_keep


class FirstGroupHeld:
    """A ``store_many`` that holds the first group until ``queued`` more submits are waiting behind it.

    That is the situation group commit is for (requests arriving while a
    commit is in progress), made certain instead of left to timing.
    """

    def __init__(self, store_many, *, queued: int, hold_seconds: float = 10) -> None:
        self.store_many = store_many
        self.queued = queued
        self.hold_seconds = hold_seconds
        self.groups: list[list] = []
        self.committer: GroupCommitter | None = None

    def __call__(self, items):
        if not self.groups:
            deadline = time.monotonic() + self.hold_seconds
            while len(self.committer._waiting) < self.queued and time.monotonic() < deadline:
                time.sleep(0.005)
        self.groups.append(list(items))
        return self.store_many(items)


def held_committer(
    store_many, *, queued: int, max_group: int = 32, hold_seconds: float = 10, retry_alone_on=()
) -> tuple[GroupCommitter, FirstGroupHeld]:
    held = FirstGroupHeld(store_many, queued=queued, hold_seconds=hold_seconds)
    held.committer = GroupCommitter(held, max_group=max_group, retry_alone_on=retry_alone_on)
    return held.committer, held


def submit_all(committer: GroupCommitter, items: list, *, first_alone: bool = True) -> list:
    """Submit each item on its own thread (the first one first, so it leads); outcomes in item order."""
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(committer.submit, items[0])]
        if first_alone:
            time.sleep(0.05)
        futures += [pool.submit(committer.submit, item) for item in items[1:]]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=30))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def doubled(items):
    return [item * 2 for item in items]


# --- the committer ------------------------------------------------------------------------


def test_a_lone_item_is_stored_at_once_in_a_group_of_its_own():
    groups = []
    committer = GroupCommitter(lambda items: groups.append(list(items)) or doubled(items), max_group=8)
    assert committer.submit(21) == 42
    assert committer.submit(5) == 10
    assert groups == [[21], [5]]


def test_items_arriving_during_a_commit_are_stored_together_and_each_gets_its_own_result():
    committer, held = held_committer(doubled, queued=6)
    outcomes = submit_all(committer, list(range(1, 8)))
    assert outcomes == [2, 4, 6, 8, 10, 12, 14]
    assert held.groups[0] == [1]
    assert sorted(held.groups[1]) == [2, 3, 4, 5, 6, 7]  # one transaction for the six that waited
    assert len(held.groups) == 2


def test_a_group_is_never_larger_than_the_maximum():
    committer, held = held_committer(doubled, queued=9, max_group=4)
    outcomes = submit_all(committer, list(range(10)))
    assert outcomes == [2 * n for n in range(10)]
    assert [len(group) for group in held.groups] == [1, 4, 4, 1]


def test_when_a_group_fails_each_item_is_tried_alone_and_only_the_bad_one_fails():
    def refuse_bad(items):
        if "bad" in items:
            raise ValueError("bad item in this group")
        return [item.upper() for item in items]

    committer, held = held_committer(refuse_bad, queued=3, retry_alone_on=(ValueError,))
    outcomes = submit_all(committer, ["first", "good", "bad", "fine"])
    assert outcomes[0] == "FIRST"
    by_item = dict(zip(["first", "good", "bad", "fine"], outcomes, strict=True))
    assert by_item["good"] == "GOOD" and by_item["fine"] == "FINE"
    assert isinstance(by_item["bad"], ValueError)
    assert sorted(map(len, held.groups)) == [1, 1, 1, 1, 3]  # the group of three, then each alone


def test_any_other_error_fails_the_whole_group_at_once_without_storing_again():
    """The database away, or a failure after the commit: storing each item again would wait N times,
    or store twice."""

    def away(items):
        if len(items) > 1 or items == ["first"]:
            raise ConnectionError("database unreachable")
        return items

    committer, held = held_committer(away, queued=3, retry_alone_on=(ValueError,))
    outcomes = submit_all(committer, ["first", "a", "b", "c"])
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert [len(group) for group in held.groups] == [1, 3]  # no third round, one by one


def test_the_committer_keeps_working_after_a_failure():
    def flaky(items):
        if items == ["boom"]:
            raise RuntimeError("boom")
        return doubled(items)

    committer = GroupCommitter(flaky, max_group=4)
    with pytest.raises(RuntimeError):
        committer.submit("boom")
    assert committer.submit(3) == 6


# --- callbacks through it, on the real database ---------------------------------------------


def received(endpoint: Endpoint, checkout_id: str) -> ReceivedCallback:
    import json

    raw = stk_body(checkout_id)
    payload = json.loads(raw)
    return ReceivedCallback(
        merchant=endpoint.merchant,
        destinations=[endpoint],
        raw_body=raw,
        payload=payload,
        headers={"Content-Type": "application/json"},
        source_ip="127.0.0.1",
        facts=read_facts(payload),
    )


def on_own_connection(function):
    """Run ``function`` as a web thread would: its own database connection, closed at the end."""

    def run(*args):
        try:
            return function(*args)
        finally:
            connection.close()

    return run


@pytest.mark.django_db(transaction=True)
def test_callbacks_stored_as_a_group_are_each_kept_once_with_repeats_counted(endpoint_factory):
    endpoint = endpoint_factory(user_id="shop-group")
    ids = [f"ws_CO_{uuid.uuid4().hex[:16]}" for _ in range(12)]
    items = [received(endpoint, checkout_id) for checkout_id in ids]
    items += [received(endpoint, ids[3]) for _ in range(3)]  # three repeats of one payment, same group
    committer, held = held_committer(on_own_connection(callbacks_keep), queued=len(items) - 1)

    kept = submit_all(committer, items)

    assert [len(group) for group in held.groups] == [1, len(items) - 1]
    assert Callback.objects.count() == 12
    assert Delivery.objects.count() == 12
    assert Callback.objects.get(checkout_request_id=ids[3]).duplicate_count == 3
    for item, outcome in zip(items, kept, strict=True):
        stored = Callback.objects.get(pk=outcome.callback_id)
        assert stored.checkout_request_id == item.facts.checkout_request_id
        assert outcome.delivery.callback_id == stored.pk
    repeats = kept[12:]
    assert {outcome.repeat_of for outcome in repeats} == {kept[3].callback_id}
    assert {outcome.delivery.pk for outcome in repeats} == {kept[3].delivery.pk}


@pytest.mark.django_db(transaction=True)
def test_a_repeat_of_an_earlier_transaction_is_found_by_the_groups_one_query(endpoint_factory):
    endpoint = endpoint_factory(user_id="shop-earlier")
    first = callbacks_keep([received(endpoint, "ws_CO_earlier")])[0]
    again = callbacks_keep([received(endpoint, "ws_CO_earlier"), received(endpoint, "ws_CO_other")])
    assert again[0].repeat_of == first.callback_id
    assert again[0].delivery.pk == first.delivery.pk
    assert again[1].repeat_of is None
    assert Callback.objects.get(pk=first.callback_id).duplicate_count == 1
    assert Delivery.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_callback_the_database_refuses_fails_its_own_request_only(endpoint_factory):
    endpoint = endpoint_factory(user_id="shop-good")
    gone = Endpoint.objects.select_related("merchant").get(pk=endpoint_factory(user_id="shop-gone").pk)
    Endpoint.objects.filter(pk=gone.pk).delete()  # its rows are gone; the objects still name them
    Merchant.objects.filter(pk=gone.merchant_id).delete()
    items = [received(endpoint, "ws_CO_lead"), received(endpoint, "ws_CO_a"), received(gone, "ws_CO_x")]
    items.append(received(endpoint, "ws_CO_b"))
    committer, _ = held_committer(
        on_own_connection(callbacks_keep), queued=3, retry_alone_on=(IntegrityError,)
    )

    outcomes = submit_all(committer, items)

    assert isinstance(outcomes[2], IntegrityError)
    assert [o.delivery.callback.checkout_request_id for o in (outcomes[0], outcomes[1], outcomes[3])] == [
        "ws_CO_lead",
        "ws_CO_a",
        "ws_CO_b",
    ]
    assert set(Callback.objects.values_list("checkout_request_id", flat=True)) == {
        "ws_CO_lead",
        "ws_CO_a",
        "ws_CO_b",
    }
    assert Delivery.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_many_web_threads_at_once_lose_nothing_and_double_nothing(endpoint_factory):
    """The process's own committer under real contention: 40 threads, 30 payments, 10 repeats."""
    endpoint = endpoint_factory(user_id="shop-busy")
    ids = [f"ws_CO_{uuid.uuid4().hex[:16]}" for _ in range(30)]
    bodies = [stk_body(checkout_id) for checkout_id in ids] + [stk_body(ids[0])] * 10
    start = threading.Barrier(len(bodies))

    @on_own_connection
    def post(raw: bytes):
        import json

        start.wait(timeout=10)
        payload = json.loads(raw)
        return callback_receive(
            ReceivedCallback(
                merchant=endpoint.merchant,
                destinations=[endpoint],
                raw_body=raw,
                payload=payload,
                headers={},
                source_ip=None,
                facts=read_facts(payload),
            )
        ).delivery.pk

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        delivery_ids = list(pool.map(post, bodies, timeout=60))

    assert Callback.objects.count() == 30
    assert Delivery.objects.count() == 30
    assert set(delivery_ids) == set(Delivery.objects.values_list("pk", flat=True))
    assert Callback.objects.get(checkout_request_id=ids[0]).duplicate_count == 10


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_a_callback_is_kept_alone_and_never_leads_others(endpoint_factory):
    """A caller's transaction commits after we return: leading a group from it would answer others
    before their callbacks are durable (and lose them if the caller rolls back)."""
    endpoint = endpoint_factory(user_id="shop-outer")
    # The first request's commit is held until two more wait behind it (or 1.5 s pass).
    committer, _ = held_committer(on_own_connection(callbacks_keep), queued=2, hold_seconds=1.5)
    services.inbound_committer.replace(committer)  # forgotten after the test (tests/conftest.py)

    def request(checkout_id: str, delay: float):
        @on_own_connection
        def post():
            time.sleep(delay)
            item = received(endpoint, checkout_id)
            return callback_receive(dataclasses.replace(item, headers={}, source_ip=None))

        return post

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(request("ws_CO_first", 0))
        time.sleep(0.1)
        with pytest.raises(RuntimeError), transaction.atomic():
            later = pool.submit(request("ws_CO_later", 0.3))  # queues behind the caller below
            request("ws_CO_in_callers_transaction", 0)()
            raise RuntimeError("the caller rolls back")
        kept = [first.result(timeout=60), later.result(timeout=60)]

    assert not Callback.objects.filter(checkout_request_id="ws_CO_in_callers_transaction").exists()
    assert set(Callback.objects.values_list("checkout_request_id", flat=True)) == {
        "ws_CO_first",
        "ws_CO_later",
    }
    assert {delivery.callback_id for delivery in kept} == set(Callback.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_databases_that_cannot_return_new_keys_get_one_insert_per_row(endpoint_factory, monkeypatch):
    """SQLite before 3.35 (still supported by Django 5.2) returns no keys from a multi-row INSERT."""
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    endpoint = endpoint_factory(user_id="shop-old-sqlite")
    kept = callbacks_keep([received(endpoint, "ws_CO_old_1"), received(endpoint, "ws_CO_old_2")])
    assert [Callback.objects.get(pk=k.callback_id).checkout_request_id for k in kept] == [
        "ws_CO_old_1",
        "ws_CO_old_2",
    ]
    assert [k.delivery.callback_id for k in kept] == [k.callback_id for k in kept]
    assert Delivery.objects.count() == 2

"""Group commit: callbacks that arrive together are stored in one transaction.

A callback stored in a transaction of its own pays a duplicate check, two
INSERTs and a COMMIT, each a round trip through the ORM and the driver
(docs/performance.md). Under load a web process has several requests in
hand at once; ``GroupCommitter`` lets one of them (the leader) store the whole
group (on Postgres one statement, ``webhooks.group_write``; elsewhere one
duplicate query and multi-row INSERTs; then one COMMIT) while the others wait,
then wakes each with its own result. Each process has one committer for its
web threads (``webhooks.services.inbound_committer``).

A request returns only after the transaction holding its callback has
committed, so M-Pesa is answered only once the callback is durable. Nothing
waits for a group to fill: a request that finds no commit in progress leads at
once (a quiet relay commits one callback at a time); only requests arriving
while a commit is in progress wait, for the end of that commit, and are then
stored together by the next leader.
Groups of one process are committed one after the other, which also means two
identical callbacks reaching the same process at the same instant cannot both
be taken as new.

The leader works on its own thread and database connection (in tests: the
test's transaction). If the database refuses a group's rows (an integrity or
data error, which rolls the transaction back), each callback of the group is
tried again on its own, so one callback the database refuses fails its own
request only; any other error fails the whole group at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Waiter(Generic[Item, Result]):
    """One request's item, and where the leader leaves its result (or error)."""

    __slots__ = ("done", "error", "item", "leads", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = threading.Event()
        self.leads = False
        self.result: Result | None = None
        self.error: BaseException | None = None

    def outcome(self) -> Result:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommitter(Generic[Item, Result]):
    """Leader/follower group commit around ``store_many`` (items → results, in order, one transaction).

    ``submit(item)`` returns ``item``'s result once the group holding it is
    committed, or raises the exception storing it raised. At most
    ``max_group`` items are stored per transaction. When a group fails with
    one of ``retry_alone_on`` (errors one item can cause, which roll the
    transaction back), each item is stored again on its own; any other error
    fails the whole group at once: it may be the database being away (no
    point waiting N more times) or a failure after the commit (storing again
    would store twice).
    """

    def __init__(
        self,
        store_many: Callable[[Sequence[Item]], list[Result]],
        *,
        max_group: int,
        retry_alone_on: tuple[type[Exception], ...] = (),
    ) -> None:
        self._store_many = store_many
        self._max_group = max(1, max_group)
        self._retry_alone_on = retry_alone_on
        self._lock = threading.Lock()
        self._waiting: list[_Waiter[Item, Result]] = []
        self._leader_active = False

    def submit(self, item: Item) -> Result:
        waiter: _Waiter[Item, Result] = _Waiter(item)
        with self._lock:
            self._waiting.append(waiter)
            # Invariant: with no leader, nothing waits; so a new leader is first in line.
            waiter.leads = not self._leader_active
            self._leader_active = True
        if not waiter.leads:
            waiter.done.wait()
            if not waiter.leads:  # stored by a leader
                return waiter.outcome()
            # else: promoted by the previous leader to store the next group (its own item first)
        self._lead()
        return waiter.outcome()

    def _lead(self) -> None:
        with self._lock:
            group = self._waiting[: self._max_group]
            del self._waiting[: self._max_group]
        try:
            self._store(group)
        except (
            BaseException
        ) as exc:  # an interrupt mid-commit: nobody in the group may go on without an answer
            for waiter in group:
                if waiter.result is None and waiter.error is None:
                    waiter.error = exc
            raise
        finally:
            with self._lock:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.leads = True
                    successor.done.set()
                else:
                    self._leader_active = False
            for waiter in group:
                waiter.leads = False
                waiter.done.set()

    def _store(self, group: list[_Waiter[Item, Result]]) -> None:
        try:
            results = self._store_many([waiter.item for waiter in group])
        except Exception as exc:
            if len(group) == 1 or not isinstance(exc, self._retry_alone_on):
                for waiter in group:
                    waiter.error = exc
                return
            logger.warning("Group of %d callbacks not stored (%s); storing each on its own", len(group), exc)
            for waiter in group:
                try:
                    (waiter.result,) = self._store_many([waiter.item])
                except Exception as single_exc:
                    waiter.error = single_exc
            return
        for waiter, result in zip(group, results, strict=True):
            waiter.result = result

"""The per-process runtime: built on first use; forgotten in a forked child, on a setting change, on reset."""

from __future__ import annotations

import os
import threading
import time

import pytest

from daraja.core.runtime import PerProcess, reset_runtime
from delivery.queues import redis_connection
from delivery.sender import process_sender
from delivery.wakeup import process_waker
from webhooks import services


class Counted:
    """A per-process object that counts how often it is built and closed."""

    def __init__(self) -> None:
        self.built = 0
        self.closed: list[object] = []

    def build(self) -> object:
        self.built += 1
        time.sleep(0.01)  # wide enough for racing threads to meet inside the first build
        return object()

    def close(self, value: object) -> None:
        self.closed.append(value)


@pytest.fixture
def counted():
    made = Counted()
    item = PerProcess("counted", made.build, close=made.close, rebuilt_when=("DAR_TEST_KNOB",))
    yield made, item
    item.reset()


def test_threads_asking_at_once_share_one_object_built_once(counted):
    made, item = counted
    start = threading.Barrier(8)
    seen = []

    def ask():
        start.wait(timeout=5)
        seen.append(item.get())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert made.built == 1
    assert len({id(value) for value in seen}) == 1
    assert item.get() is seen[0]


def test_nothing_is_built_before_the_first_use_and_reset_closes_what_was(counted):
    made, item = counted
    assert item.built() is None
    first = item.get()
    reset_runtime()
    assert made.closed == [first]
    assert item.built() is None
    assert item.get() is not first


def test_a_change_of_a_setting_it_is_built_from_rebuilds_it(counted, settings):
    made, item = counted
    first = item.get()
    settings.DAR_TEST_KNOB = 2
    assert item.get() is not first
    assert made.built == 2


def test_the_inbound_committer_follows_its_setting(settings):
    settings.INBOUND_COMMIT_GROUP_MAX = 3
    assert services.inbound_committer.get()._max_group == 3
    settings.INBOUND_COMMIT_GROUP_MAX = 5
    assert services.inbound_committer.get()._max_group == 5


def test_a_forked_child_builds_its_own_objects_and_leaves_its_parents_alone():
    # given a process that built its Redis client, sender and waker
    parent_objects = [redis_connection(), process_sender(), process_waker()]
    assert redis_connection().ping()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's exit hooks
        try:
            fresh = [redis_connection(), process_waker()]
            answer = (
                b"ok" if all(a is not b for a, b in zip(fresh, parent_objects, strict=False)) else b"shared"
            )
            answer += b" ping" if redis_connection().ping() else b""
        except BaseException as exc:  # anything goes back to the parent, as text
            answer = repr(exc).encode()
        os.write(write, answer)
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1000)
    os.close(read)
    os.waitpid(pid, 0)
    # then the child made its own, which work, and the parent's are still its own and still work
    assert answer == b"ok ping"
    assert [redis_connection(), process_sender(), process_waker()] == parent_objects
    assert redis_connection().ping()

"""The per-process runtime: objects a process builds once, on first use, and shares between its threads.

A Redis client with its connection pool, the delivery sender's event loop,
the waker that gathers wake-ups, the inbound group committer: each is a
``PerProcess`` declared by the module that owns it and built by its first
``get()``, never at import. After the first call ``get()`` is one attribute
read, so the hot paths (the inbound door, the engine) call it per request.

Every ``PerProcess`` is forgotten, and built again when next asked for:

* in a forked child (gunicorn's workers), which must not share its parent's
  sockets, threads or locks: the parent's objects are dropped unclosed,
  since closing them from the child would cut the parent's connections;
* when a setting it is built from changes (``rebuilt_when``; Django's
  ``setting_changed``, which tests' setting overrides send);
* on ``reset_runtime()``, which the test suite calls after every test; each
  object's ``close`` runs then.

At a clean exit each built object's ``at_exit`` runs (the waker sends what is
still marked), in the process that built it only.

This module imports no app: the apps declare their objects here.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.signals import setting_changed

T = TypeVar("T")

_UNBUILT = object()
_every: list[PerProcess] = []


class PerProcess(Generic[T]):
    """One ``build()`` result per process, made on the first ``get()`` and shared by every thread."""

    def __init__(
        self,
        name: str,
        build: Callable[[], T],
        *,
        rebuilt_when: tuple[str, ...] = (),
        close: Callable[[T], None] | None = None,
        at_exit: Callable[[T], None] | None = None,
    ) -> None:
        self.name = name
        self._build = build
        self.rebuilt_when = frozenset(rebuilt_when)
        self._close = close
        self._at_exit = at_exit
        self._lock = threading.Lock()
        self._value: object = _UNBUILT
        _every.append(self)

    def __repr__(self) -> str:
        state = "unbuilt" if self._value is _UNBUILT else "built"
        return f"<PerProcess {self.name} ({state})>"

    def get(self) -> T:
        """This process's object, built on the first call (once, whichever threads ask at the same time)."""
        value = self._value
        if value is _UNBUILT:
            with self._lock:
                if self._value is _UNBUILT:
                    self._value = self._build()
                value = self._value
        return value  # type: ignore[return-value]

    def built(self) -> T | None:
        """The object if this process has built it, else ``None`` (builds nothing)."""
        value = self._value
        return None if value is _UNBUILT else value  # type: ignore[return-value]

    def reset(self) -> None:
        """Forget the object (closing it when a ``close`` was given); the next ``get()`` builds another."""
        with self._lock:
            value, self._value = self._value, _UNBUILT
        if value is not _UNBUILT and self._close is not None:
            self._close(value)  # type: ignore[arg-type]

    def replace(self, value: T) -> None:
        """Use ``value`` from now on (tests: a committer or sender of their own); ``reset()`` forgets it."""
        self.reset()
        with self._lock:
            self._value = value

    def _forget_in_child(self) -> None:
        # The parent's lock may have been held by one of its threads at the fork: the child gets its own.
        self._lock = threading.Lock()
        self._value = _UNBUILT

    def _exit(self) -> None:
        value = self._value
        if value is not _UNBUILT and self._at_exit is not None:
            self._at_exit(value)  # type: ignore[arg-type]


def reset_runtime() -> None:
    """Close and forget every per-process object: the next use of each builds a fresh one."""
    for item in _every:
        item.reset()


def _forget_all_in_child() -> None:
    for item in _every:
        item._forget_in_child()


def _exit_all() -> None:
    for item in reversed(_every):
        item._exit()


def _rebuild_on_setting_change(*, setting: str, **kwargs) -> None:
    for item in _every:
        if setting in item.rebuilt_when:
            item.reset()


os.register_at_fork(after_in_child=_forget_all_in_child)
atexit.register(_exit_all)
setting_changed.connect(_rebuild_on_setting_change, dispatch_uid="daraja.core.runtime")

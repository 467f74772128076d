"""Tolerant readers for the loose JSON shapes M-Pesa sends.

Nothing here raises for any JSON value (or any other Python object built of
dicts, lists and scalars): a wrong type anywhere reads as "absent".

- ``as_dict``/``item_list`` treat a list-or-single-object field uniformly
  (``ResultParameter``, ``ReferenceItem`` and ``Item`` arrive either way).
- ``text`` renders a scalar as the text M-Pesa meant: ``0`` → ``"0"``,
  ``1032.0`` → ``"1032"``, ``" R000002 "`` → ``"R000002"``; booleans, ``null``,
  objects and lists read as ``""``.
- ``Params`` keeps Key/Value (or Name/Value) pairs in order without building a
  dict, so repeated keys and keys without a value survive; look-ups return the
  first *usable* value (a non-blank string or a number).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

_MISSING = object()


def as_dict(value: object) -> dict[Any, Any]:
    """``value`` if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def item_list(value: object) -> list[dict[Any, Any]]:
    """A list of the dict items in ``value`` (a list, or a single object standing for a list of one)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def text(value: object) -> str:
    """The stripped text of a scalar; ``""`` for booleans, ``None``, containers and non-finite floats."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than int -> str allows: not a value anyone sent on purpose
            return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        return repr(value)
    return ""


def usable(value: object) -> bool:
    """True for a non-blank string or a (non-boolean) number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int | float)


class Params:
    """An ordered, duplicate-preserving view of ``[{"Key": k, "Value": v}, ...]`` items.

    Items whose name is not a string are ignored; an item without a value is
    still listed in ``names`` (its key is a marker of the payload's kind) but
    never returned as a value.
    """

    def __init__(self, items: Iterable[dict[Any, Any]], name_field: str = "Key") -> None:
        self.pairs: list[tuple[str, object]] = []
        for item in items:
            name = item.get(name_field)
            if isinstance(name, str) and name.strip():
                self.pairs.append((name.strip(), item.get("Value", _MISSING)))

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.pairs}

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def all(self, name: str) -> list[object]:
        """Every usable value under ``name``, in order."""
        return [value for key, value in self.pairs if key == name and usable(value)]

    def first(self, *names: str) -> object:
        """The first usable value under the first of ``names`` that has one; ``None`` if none does."""
        for name in names:
            values = self.all(name)
            if values:
                return values[0]
        return None

    def first_text(self, *names: str) -> str:
        return text(self.first(*names))


def key_value_params(container: object, inner_key: str) -> Params:
    """Params from ``{"ResultParameter": [...]}``-style containers (also a bare list or single object)."""
    if isinstance(container, dict) and inner_key in container:
        return Params(item_list(container.get(inner_key)))
    if isinstance(container, list) or (isinstance(container, dict) and "Key" in container):
        return Params(item_list(container))
    return Params(())

"""``RQ_QUEUES`` read from ``REDIS_URL`` whenever it is used: the one Redis configuration.

django-rq (the admin's RQ pages, ``manage.py rqworker``) reads ``RQ_QUEUES``;
the relay's own client (``delivery.queues.redis_connection``) is made by
django-rq from the same entry. Each queue's entry names ``settings.REDIS_URL``
as it is at the moment it is read, so a changed ``REDIS_URL`` (a test's
override) moves the queues, the workers, the admin and the health checks
together, and no queue can point at another Redis than the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings


class QueuesOnRedisUrl(Mapping[str, dict[str, Any]]):
    """django-rq's queue configuration: ``names``, each ``{"URL": settings.REDIS_URL, **options}``."""

    def __init__(self, names: tuple[str, ...], **options: Any) -> None:
        self._names = tuple(names)
        self._options = options

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in self._names:
            raise KeyError(name)
        return {"URL": settings.REDIS_URL, **self._options}

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        options = "".join(f", {key}={value!r}" for key, value in self._options.items())
        return f"QueuesOnRedisUrl({self._names!r}{options})"
